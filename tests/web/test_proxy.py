"""Behind a reverse proxy (issue 14): forwarding headers only from a configured proxy, one login
bucket per real client, Secure cookies and trusted origins from catd.toml, and /status that no
longer trusts "the peer is 127.0.0.1" (every proxied request comes from there)."""

from __future__ import annotations

import tomllib

import pytest

from catd_node import config
from catd_node.errors import BadInput
from catd_node.web import throttle
from catd_node.web.app import create_app
from tests.web.conftest import PASSWORD, Browser, with_web

SAME = {"Sec-Fetch-Site": "same-origin"}


def via(ip: str, **more: str) -> dict[str, str]:
    return {**SAME, "X-Forwarded-For": f"{ip}, 127.0.0.1", **more}


async def serve(aiohttp_server, datadir, clock, **web) -> Browser:
    server = await aiohttp_server(create_app(with_web(datadir, **web), clock=clock))
    return Browser(str(server.make_url("/")))


async def exhaust_bucket(b: Browser, headers: dict[str, str]) -> int:
    status = 0
    for i in range(int(throttle.IP_CAPACITY) + 1):
        status, _ = await b.post("/login", {"usuario": f"nadie{i}", "contrasena": "x"}, headers=headers)
    return status


async def test_behind_a_trusted_proxy_each_client_has_its_own_login_bucket(aiohttp_server, clerks, clock):
    attacker = await serve(aiohttp_server, clerks, clock, trusted_proxies=["127.0.0.1"])
    clerk = Browser(attacker.base)
    try:
        assert await exhaust_bucket(attacker, via("10.0.0.66")) == 429
        status, page = await clerk.post("/login", {"usuario": "beto", "contrasena": PASSWORD},
                                        headers=via("10.0.0.5"))
        assert status == 200 and "Hola, beto" in page
    finally:
        await attacker.close()
        await clerk.close()


async def test_forwarding_headers_from_anyone_else_are_ignored(aiohttp_server, clerks, clock):
    attacker = await serve(aiohttp_server, clerks, clock)  # no trusted proxy configured
    try:
        assert await exhaust_bucket(attacker, via("10.0.0.66")) == 429
        status, _ = await attacker.post("/login", {"usuario": "beto", "contrasena": PASSWORD},
                                        headers=via("10.0.0.67"))
        assert status == 429  # a new X-Forwarded-For does not buy a new bucket
    finally:
        await attacker.close()


async def login_cookie(b: Browser, headers: dict[str, str]) -> str:
    async with b.session.post(f"{b.base}/login", data={"usuario": "ana", "contrasena": PASSWORD},
                              headers=headers, allow_redirects=False) as r:
        assert r.status == 303, await r.text()
        return next(c for c in r.headers.getall("Set-Cookie") if c.startswith("catd_session="))


async def test_secure_cookies_and_trusted_origins_come_from_catd_toml(aiohttp_server, clerks, clock):
    b = await serve(aiohttp_server, clerks, clock, secure_cookies=True,
                    trusted_origins=["https://catd.example"])
    try:
        cookie = await login_cookie(b, {"Origin": "https://catd.example"})  # no Sec-Fetch-Site
        assert "Secure" in cookie
    finally:
        await b.close()


async def test_an_https_proxy_gets_secure_cookies(aiohttp_server, clerks, clock):
    b = await serve(aiohttp_server, clerks, clock, trusted_proxies=["127.0.0.1"])
    try:
        assert "Secure" in await login_cookie(b, via("10.0.0.5", **{"X-Forwarded-Proto": "https"}))
        assert "Secure" not in await login_cookie(b, via("10.0.0.5"))
    finally:
        await b.close()


async def get(b: Browser, path: str, headers: dict[str, str] | None = None) -> int:
    async with b.session.get(f"{b.base}{path}", headers=headers or {}, allow_redirects=False) as r:
        return r.status


async def test_status_needs_the_token_or_a_coordinator_not_a_loopback_peer(aiohttp_server, clerks, clock,
                                                                            signed_in):
    b = await serve(aiohttp_server, clerks, clock, trusted_proxies=["127.0.0.1"])
    token = clerks.status_token_path.read_text().strip()
    try:
        for path in ("/status", "/metrics"):
            assert await get(b, path) == 403  # from 127.0.0.1, no token
            assert await get(b, path, via("203.0.113.9")) == 403
            assert await get(b, path, {"Authorization": "Bearer " + "x" * len(token)}) == 403
            assert await get(b, path, {"Authorization": f"Bearer {token}"}) == 200
        await b.login("ana")
        assert await get(b, "/status") == 403
        coco = Browser(b.base)
        await coco.login("coco")
        assert await get(coco, "/status") == 200
        await coco.close()
    finally:
        await b.close()


async def test_the_status_token_file_is_private_and_stable(clerks):
    create_app(clerks)
    path = clerks.status_token_path
    first = path.read_text()
    assert path.stat().st_mode & 0o777 == 0o600 and len(first.strip()) >= 32
    create_app(clerks)
    assert path.read_text() == first



@pytest.mark.parametrize("line, field", [
    ('trusted_proxies = ["nginx"]', "web.trusted_proxies"),
    ('trusted_proxies = "127.0.0.1"', "web.trusted_proxies"),
    ('trusted_origins = ["https://catd.local/"]', "web.trusted_origins"),
    ('trusted_origins = ["catd.local"]', "web.trusted_origins"),
    ('secure_cookies = "yes"', "web.secure_cookies"),
    ('max_connections_per_client = 0', "web.max_connections_per_client"),
    ('request_timeout_s = 0', "web.request_timeout_s"),
])
def test_bad_web_keys_are_named(line, field):
    with pytest.raises(BadInput) as err:
        config.parse(tomllib.loads(f'node_id = "N"\n[web]\n{line}'))
    assert field in err.value.what
