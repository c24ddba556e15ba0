"""Attacks on the HQ receiver at the connection level, against a real `catd-hq serve` process."""

from __future__ import annotations

import asyncio
import resource

import aiohttp

from sync import protocol
from tests.hqkit import HQProcess
from tests.netkit import close_all, deflate_bomb, half_open, request


async def probes_while(attack: asyncio.Task, url: str) -> list[float]:
    """Seconds each node request took while `attack` was in flight (at least one)."""
    seconds = []
    while True:
        seconds.append((await request(url, "GET", protocol.head_path("CATD-14-01"))).seconds)
        if attack.done():
            return seconds

async def test_a_deflate_bomb_gets_415_at_once_and_stalls_no_node(hq_process):
    url = hq_process.url
    attack = asyncio.create_task(request(url, "POST", protocol.PACKETS_PATH, deflate_bomb(4096), {
        "Content-Type": protocol.NDJSON, "Content-Encoding": "deflate"}))
    seconds = await probes_while(attack, url)
    answer = await attack
    assert max(seconds) < 0.5, f"node requests stalled during the bomb: {seconds}"
    assert answer.status == 415 and answer.seconds < 2.0, answer
    assert "accept-encoding: identity" in answer.head.lower()

async def test_a_compressed_body_is_refused_with_a_json_error(hq_server):

    async with aiohttp.ClientSession() as session, session.post(
            hq_server.url + protocol.PACKETS_PATH, data=b"\x1f\x8b...",
            headers={"Content-Type": protocol.NDJSON, "Content-Encoding": "gzip"}) as resp:
        assert resp.status == 415
        assert (await resp.json())["error"] == protocol.ENCODED_BODY
        assert resp.headers["Accept-Encoding"] == "identity"


async def test_hundreds_of_half_open_connections_from_one_address_lock_no_node_out(hq_dir, tmp_path):
    proc = HQProcess(hq_dir, tmp_path / "hq.log", preexec_fn=lambda: resource.setrlimit(
        resource.RLIMIT_NOFILE, (256, 256)))  # systemd's 1,024 default, scaled down
    url = proc.start(0)
    held = []
    try:
        held = await half_open(url, 400, "127.0.0.2")
        answer = await request(url, "GET", protocol.head_path("CATD-14-01"), source="127.0.0.3", timeout=5)
        assert answer.status == 403  # the node is not registered: answered, not locked out
    finally:
        close_all(held)
        proc.kill()
