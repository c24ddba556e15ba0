"""The replay service: votes before images, new packets found by polling, HQ away for a while,
and a clean exit on SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import sys
import time

import pytest

from sync import client
from sync.policy import Policy
from tests.hqkit import ROOT

from .faultproxy import DELAY, Fault, FaultProxy
from .replay_helpers import (
    FakeClock,
    add_chain,
    assert_hq_holds_exactly,
    configure,
    fast_policy,
    fast_settings,
)
from .test_faults import _env, _hq_seq


async def _until(condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not await condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def test_new_packets_go_before_the_remaining_images(hq_node, hq_dir, hq_server):
    add_chain(hq_node, images=6, image_size=30_000, extra_per_image=1)
    async with FaultProxy(hq_server.url) as proxy:
        proxy.script(Fault(DELAY, "PUT", "/v1/blobs/", times=1, delay=0.3))
        node = configure(hq_node, [proxy.url])
        settings = fast_settings(blob_workers=1)
        drain = asyncio.create_task(client.once(node, fast_policy(FakeClock()), settings))

        async def first_image_under_way() -> bool:
            return any(s.method == "PUT" for s in proxy.seen)

        await _until(first_image_under_way)
        await asyncio.to_thread(add_chain, node, 1, image_size=30_000, extra_per_image=5, seed=42)
        await asyncio.wait_for(drain, 30)
        order = [s.method for s in proxy.seen if s.method in ("POST", "PUT")]
    assert_hq_holds_exactly(hq_dir, node)
    first_put = order.index("PUT")
    assert "PUT" not in order[:first_put] and "POST" in order[:first_put]  # the chain went first
    second_put = order.index("PUT", first_put + 1)
    # the votes appended while an image was on the wire overtook the 5 images still queued
    assert "POST" in order[first_put + 1:second_put]


@pytest.mark.slow
async def test_service_polls_and_outlasts_hq_going_away(hq_node, hq_dir, hq_process):
    add_chain(hq_node, images=2)
    node = configure(hq_node, [hq_process.url])
    stop = asyncio.Event()
    policy = Policy(base=0.05, cap=0.3, budget=None)
    service = asyncio.create_task(client.service(node, stop, policy, fast_settings(poll_s=0.05)))
    node_id = node.config.node_id

    async def holds(seq: int):
        async def check() -> bool:
            return await _hq_seq(hq_dir, node_id) >= seq

        return check

    await _until(await holds(7))
    await asyncio.to_thread(hq_process.kill)
    await asyncio.to_thread(add_chain, node, 2, seed=5)  # the CATD keeps working offline
    await asyncio.sleep(0.6)  # the service meets a dead HQ, retries, does not exit
    assert not service.done()
    await asyncio.to_thread(hq_process.start)
    await _until(await holds(13))

    async def images_done() -> bool:
        def count() -> int:
            conn = hq_dir.connect()
            try:
                return int(conn.execute("SELECT COUNT(*) FROM blobs").fetchone()[0])
            finally:
                conn.close()

        return await asyncio.to_thread(count) == 4

    await _until(images_done)
    stop.set()
    await asyncio.wait_for(service, 10)
    assert_hq_holds_exactly(hq_dir, node)


@pytest.mark.slow
async def test_sync_service_process_delivers_then_exits_cleanly_on_sigterm(hq_node, hq_dir, hq_process):
    add_chain(hq_node, images=2)
    node = configure(hq_node, [hq_process.url], {"poll_s": 0.1, "retry_base_s": 0.05, "retry_cap_s": 0.3})
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "catd_node.cli", "sync", "-d", str(node.root),
        stderr=asyncio.subprocess.PIPE, env=_env(), cwd=ROOT)
    node_id = node.config.node_id

    def node_head() -> int:
        conn = node.reader()
        try:
            return int(conn.execute("SELECT MAX(seq) FROM packets").fetchone()[0])
        finally:
            conn.close()

    def delivered(images: int):
        async def check() -> bool:
            conn = hq_dir.connect()
            try:
                seq = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM packets WHERE node = ?", (node_id,))
                blobs = conn.execute("SELECT COUNT(*) FROM blobs")
                return seq.fetchone()[0] == node_head() and blobs.fetchone()[0] == images
            finally:
                conn.close()

        return check

    await _until(delivered(2))
    await asyncio.to_thread(add_chain, node, 1, seed=11)  # found by polling, not by a restart
    await _until(delivered(3))
    proc.send_signal(signal.SIGTERM)
    _, err = await asyncio.wait_for(proc.communicate(), 10)
    assert proc.returncode == 0, err.decode()[-2000:]
    assert b"stopping on signal" in err
    assert_hq_holds_exactly(hq_dir, node)

