"""Attacks on the clerks' web app at the connection level, against a real `catd-node web` process:
a deflate bomb, hundreds of half-open connections from one LAN device, a slow-loris head or body."""

from __future__ import annotations

import asyncio
import resource
from urllib.parse import urlencode

import pytest

from tests.netkit import close_all, deflate_bomb, half_open, host_port, request
from tests.web.conftest import PASSWORD, start_web, with_web

FORM = "application/x-www-form-urlencoded"
ATTACKER = "127.0.0.2"  # all of 127/8 is loopback on Linux: a second "device" on one machine
CLERK = "127.0.0.3"


@pytest.fixture
def web(clerks):
    proc, url = start_web(clerks)
    try:
        yield url
    finally:
        proc.kill()
        proc.wait()


async def probes_while(attack: asyncio.Task, url: str) -> list[float]:
    """Seconds each clerk request took while `attack` was in flight (at least one)."""
    seconds = []
    while True:
        seconds.append((await request(url, "GET", "/login")).seconds)
        if attack.done():
            return seconds


async def test_a_deflate_bomb_gets_415_at_once_and_stalls_no_clerk(web):
    bomb = deflate_bomb(4096)  # 4 MB on the wire, 4 GiB inflated
    attack = asyncio.create_task(request(web, "POST", "/login", bomb, {
        "Content-Type": FORM, "Content-Encoding": "deflate"}))
    seconds = await probes_while(attack, web)
    answer = await attack
    assert max(seconds) < 0.5, f"clerk requests stalled during the bomb: {seconds}"
    assert answer.status == 415 and answer.seconds < 2.0, answer
    assert "accept-encoding: identity" in answer.head.lower()


def login_body(name: str = "ana") -> bytes:
    return urlencode({"usuario": name, "contrasena": PASSWORD}).encode()


def low_fd_limit(n: int):
    """A child's descriptor limit of `n` (soft and hard): systemd's 1,024 default, scaled down."""
    return lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (n, n))


async def test_hundreds_of_half_open_connections_from_one_device_lock_no_clerk_out(clerks):
    proc, url = start_web(clerks, preexec_fn=low_fd_limit(256))
    held: list[asyncio.StreamWriter] = []
    try:
        held = await half_open(url, 400, ATTACKER)
        answer = await request(url, "POST", "/login", login_body(), {
            "Content-Type": FORM, "Sec-Fetch-Site": "same-origin"}, source=CLERK, timeout=5)
        assert answer.status == 303 and "catd_session=" in answer.head
    finally:
        close_all(held)
        proc.kill()
        proc.wait()


async def test_a_request_head_or_body_that_never_ends_is_cut_off(clerks):
    proc, url = start_web(with_web(clerks, request_timeout_s=1))
    try:
        host, port = host_port(url)
        async with asyncio.timeout(5):  # a head that never ends: closed after ~1 s
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(b"GET /login HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            assert await reader.read() == b""
            writer.close()
        async with asyncio.timeout(5):  # a body that trickles: 408 after ~1 s
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(f"POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: {FORM}\r\n"
                         "Sec-Fetch-Site: same-origin\r\nContent-Length: 100\r\n\r\nusuario=a".encode())
            head = await reader.readuntil(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 408 ")
            writer.close()
    finally:
        proc.kill()
        proc.wait()
