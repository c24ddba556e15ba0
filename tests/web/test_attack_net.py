"""Attacks on the clerks' web app at the connection level, against a real `catd-node web` process:
a deflate bomb, and hundreds of half-open connections from one LAN device."""

from __future__ import annotations

import asyncio

import pytest

from tests.netkit import deflate_bomb, request
from tests.web.conftest import start_web

FORM = "application/x-www-form-urlencoded"


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
