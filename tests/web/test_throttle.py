"""Login delays that cannot be turned into a lockout of the real clerk (issue 14).

Clients are told apart by X-Forwarded-For from a trusted proxy (every test request comes from
127.0.0.1); the clock is injected."""

from __future__ import annotations

from catd_node.web import throttle
from catd_node.web.app import create_app
from tests.web.conftest import PASSWORD, Browser, with_web


def via(ip: str) -> dict[str, str]:
    return {"Sec-Fetch-Site": "same-origin", "X-Forwarded-For": ip}


class Clients:
    def __init__(self, base: str) -> None:
        self.base = base
        self.opened: list[Browser] = []

    def new(self) -> Browser:
        b = Browser(self.base)
        self.opened.append(b)
        return b

    async def close(self) -> None:
        for b in self.opened:
            await b.close()


async def clients(aiohttp_server, clerks, clock) -> Clients:
    server = await aiohttp_server(create_app(with_web(clerks, trusted_proxies=["127.0.0.1"]), clock=clock))
    return Clients(str(server.make_url("/")))


async def login(b: Browser, ip: str, name: str = "ana", password: str = PASSWORD) -> int:
    status, _ = await b.post("/login", {"usuario": name, "contrasena": password}, headers=via(ip))
    return status


async def test_a_wrong_guess_a_minute_from_another_device_does_not_keep_the_clerk_out(
        aiohttp_server, clerks, clock):
    c = await clients(aiohttp_server, clerks, clock)
    try:
        attacker = c.new()
        for _ in range(10):
            assert await login(attacker, "10.0.0.66", password="adivina-adivina") == 401
            clock.advance(60)
        clock.advance(-59)  # the clerk arrives a second after the last wrong guess
        assert await login(c.new(), "10.0.0.5") == 200
        # the guessing device itself is slowed: 10 failures of its own
        assert await login(attacker, "10.0.0.66") == 429
    finally:
        await c.close()


async def spray(c: Clients, n: int) -> None:
    """`n` wrong guesses at ana, each from a new address (below every per-client limit)."""
    for i in range(n):
        assert await login(c.new(), f"10.1.{i // 250}.{i % 250 + 1}", password="adivina-adivina") == 401


async def test_guesses_from_many_addresses_meet_a_slower_ceiling_a_known_device_passes(
        aiohttp_server, clerks, clock):
    c = await clients(aiohttp_server, clerks, clock)
    try:
        usual = c.new()
        assert await login(usual, "10.0.0.5") == 200  # ana's usual PC: now a known device
        assert usual.cookie(throttle.KNOWN_COOKIE)
        await usual.post("/logout", {}, headers=via("10.0.0.5"))
        await spray(c, throttle.PER_ACCOUNT.free)
        clock.advance(0.5)
        assert await login(c.new(), "10.0.0.77") == 429  # a new device waits: the global ceiling
        assert await login(usual, "10.0.0.5") == 200  # the device ana used before passes
        clock.advance(throttle.PER_ACCOUNT.cap_s)
        assert await login(c.new(), "10.0.0.78") == 200  # and the ceiling is short, not a lockout
    finally:
        await c.close()


def test_the_global_ceiling_grows_slowly_and_stops_low():
    free = throttle.PER_ACCOUNT.free
    assert free >= 4 * throttle.PER_CLIENT.free
    delays = [throttle.PER_ACCOUNT.delay_after(n) for n in range(free - 1, free + 6)]
    assert delays == [0, 1, 2, 4, 8, 10, 10]
    assert throttle.PER_ACCOUNT.cap_s < throttle.PER_CLIENT.cap_s
