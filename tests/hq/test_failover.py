"""Failover between receivers: two `catd-hq serve` processes on one store, a node draining
through both URLs; receiver A is SIGKILLed inside a batch, receiver B inside an image upload.
HQ ends holding exactly the node's chain and images, the upload B held in part is resumed
through A (the partial lives in the shared data directory), and `catd-hq verify` exits 0."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest

from catd_node.datadir import DataDir
from catd_node.packets import Packet
from hq import store as hq_store
from hq.store import HQDir
from hq.store.base import Conn, writing
from sync import client, protocol
from sync.policy import Policy
from tests import pgserver
from tests.hqkit import ELECTION, NODE_ID, VALUES_A, HQProcess, append_actas, blob_headers, make_node
from tests.sync.faultproxy import DROP_REQUEST, STALL, Fault, FaultProxy
from tests.sync.replay_helpers import add_chain, assert_hq_holds_exactly, configure, fast_settings

HELD_BYTES = 100_000  # what receiver B keeps of the image from a PUT whose link dropped


async def until(condition: Callable[[], Awaitable[bool]], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not await condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)  # the polling interval


def _lock_waiters(hq: HQDir) -> int:
    """PostgreSQL backends of catd-hq waiting on a lock (a receiver inside store_batch)."""
    conn = hq.connect()
    try:
        return int(conn.execute("SELECT COUNT(*) FROM pg_stat_activity WHERE application_name = 'catd-hq'"
                                " AND wait_event_type = 'Lock'").fetchone()[0])
    finally:
        conn.close()


def _seq(conn: Conn, node: str) -> int:
    row = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM packets WHERE node = ?", (node,)).fetchone()
    return int(row[0])


def _hq_seq(hq: HQDir, node: str) -> int:
    conn = hq.connect()
    try:
        return _seq(conn, node)
    finally:
        conn.close()


def _partials(hq: HQDir) -> list[int]:
    return [p.stat().st_size for p in hq.uploads_dir.rglob("*.partial")]


@pytest.mark.slow
async def test_receivers_killed_mid_batch_and_mid_image(
    hq_node: DataDir, hq_dir: HQDir, hq_store_kind: str, tmp_path: Path
) -> None:
    shas = add_chain(hq_node, images=4, image_size=400_000, extra_per_image=150)
    a, b = HQProcess(hq_dir, tmp_path / "a.log"), HQProcess(hq_dir, tmp_path / "b.log")
    a.start(0)
    b.start(0)
    lock_conn = hq_dir.connect()
    try:
        async with FaultProxy(a.url) as via_a, FaultProxy(b.url) as via_b:
            # B's first PUT loses its link after HELD_BYTES (B keeps them as the node's partial);
            # B is then killed inside the PUT that continues it
            via_b.script(Fault(DROP_REQUEST, "PUT", "/v1/blobs/", times=1, after_bytes=HELD_BYTES),
                         Fault(STALL, "PUT", "/v1/blobs/", times=1, after_bytes=HELD_BYTES // 2))
            node = configure(hq_node, [via_a.url, via_b.url])
            # one image at a time, so the two rules above meet the same image
            settings = fast_settings(read_timeout_s=20.0, failback_s=1e9, blob_workers=1)
            node_id = node.config.node_id

            drain = asyncio.create_task(client.once(node, Policy(base=0.05, cap=0.3, budget=60), settings))

            async def a_stored_some() -> bool:
                return await asyncio.to_thread(_hq_seq, hq_dir, node_id) > 0

            await until(a_stored_some, "receiver A to store the first batches")
            # A inside a batch: the test takes the node's write lock, so the batch A is given
            # next can be verified but not committed.
            held = writing(lock_conn, node_id)
            held.__enter__()

            async def a_has_a_batch() -> bool:
                if not any(s.method == "POST" and not s.answered for s in via_a.seen):
                    return False
                # PostgreSQL shows A's backend waiting for the node's lock, inside store_batch
                return hq_store_kind != "postgres" or await asyncio.to_thread(_lock_waiters, hq_dir) > 0

            await until(a_has_a_batch, "receiver A to be storing a batch")
            via_a.stop_listening()  # A's host is down: connections to it are refused…
            await asyncio.to_thread(a.kill)
            seq_at_kill = _seq(lock_conn, node_id)  # (still inside the held transaction)
            held.__exit__(None, None, None)
            await asyncio.to_thread(a.start)  # …until it is back, on its port, behind its URL
            await via_a.listen_again()

            # B inside an image: the node's partial holds HELD_BYTES of it, and B is receiving more
            async def b_holds_part() -> bool:
                return HELD_BYTES in _partials(hq_dir) and any(s.action == STALL for s in via_b.seen)

            await until(b_holds_part, "receiver B to be continuing an image it holds in part")
            via_b.stop_listening()
            await asyncio.to_thread(b.kill)
            await asyncio.wait_for(drain, 90)

            stored_at_kill = seq_at_kill
            posts_b = [s for s in via_b.seen if s.method == "POST"]
            resumed = [s for s in via_a.seen if s.method == "PUT"
                       and s.headers.get(protocol.UPLOAD_OFFSET.lower()) == str(HELD_BYTES)]
        assert 0 < stored_at_kill < 1 + 4 * 151, "A was not killed half-way through the chain"
        assert posts_b, "the batches did not move to receiver B"
        assert resumed, "the image B held in part was not resumed through A"
        assert_hq_holds_exactly(hq_dir, node)  # exactly the chain and images; catd-hq verify exits 0
        assert len(shas) == 4
    finally:
        lock_conn.close()
        for proc in (a, b):
            if proc.proc is not None and proc.proc.poll() is None:
                proc.kill()


@pytest.mark.slow
async def test_a_receiver_carries_on_when_postgresql_restarts(tmp_path: Path) -> None:
    """The database restarts (or a standby is promoted behind the same URL) under a running
    receiver: every connection it held is cut. The next batch, head, image and results are
    answered as if nothing happened: the broken connections are dropped and the work runs
    again on a new one (it is idempotent)."""
    server = pgserver.start()
    try:
        hq = hq_store.init(tmp_path / "hq", ELECTION, server.create())
        node = make_node(tmp_path / "node", hq)
        first = append_actas(node, {"DIP-14-01-0123-B01": VALUES_A})
        rest = append_actas(node, {"DIP-14-01-0123-C01": VALUES_A})
        receiver = HQProcess(hq, tmp_path / "hq.log")
        receiver.start(0)
        try:
            async with aiohttp.ClientSession() as session:
                async def post(batch: list[Packet]) -> int:
                    async with session.post(receiver.url + protocol.PACKETS_PATH,
                                            data=protocol.frame(batch)) as resp:
                        return resp.status

                genesis = node.ledger().packets()[:1]
                assert await post(genesis + first) == 200
                async with session.get(receiver.url + protocol.RESULTS_PATH) as resp:
                    assert resp.status == 200
                first_sha = first[0].body["image"]["sha256"]
                first_image = protocol.blob_path(first_sha)
                async with session.head(receiver.url + first_image,
                                        headers=blob_headers(node, "HEAD", first_sha)) as resp:
                    assert resp.status == 404  # (the blob-row connection is open, and will break)
                await asyncio.to_thread(server.restart)
                assert await post(rest) == 200
                async with session.get(receiver.url + protocol.head_path(NODE_ID)) as resp:
                    assert (await resp.json())["seq"] == rest[-1].seq
                async with session.get(receiver.url + protocol.RESULTS_PATH) as resp:
                    assert resp.status == 200
                sha = rest[0].body["image"]["sha256"]
                data = node.blobs().read(sha)
                async with session.put(receiver.url + protocol.blob_path(sha), data=data,
                                       headers=blob_headers(node, "PUT", sha, 0, len(data))) as resp:
                    assert resp.status == 201
                async with session.head(receiver.url + first_image,
                                        headers=blob_headers(node, "HEAD", first_sha)) as resp:
                    assert resp.status == 404
        finally:
            receiver.kill()
        assert "Traceback" not in (tmp_path / "hq.log").read_text()
    finally:
        server.stop()
