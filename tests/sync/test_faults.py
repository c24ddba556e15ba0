"""A bad link between the CATD and HQ: every fault ends with HQ holding exactly the node's chain
and every image, each packet once, and both `verify` commands passing."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import time
from pathlib import Path

import pytest

from catd_node.errors import HQUnreachable
from sync import client, protocol, receipts
from sync.policy import Policy
from tests.hqkit import ROOT

from .faultproxy import (
    ANSWER_500,
    DELAY,
    DROP_REQUEST,
    DROP_RESPONSE,
    PORTAL,
    RESET,
    TRUNCATE,
    Fault,
    FaultProxy,
)
from .replay_helpers import (
    FakeClock,
    add_chain,
    assert_hq_holds_exactly,
    configure,
    fast_policy,
    fast_settings,
)

PACKETS = protocol.PACKETS_PATH
BLOBS = "/v1/blobs/"

FAULTS = {
    "drop mid-request (batch)": [Fault(DROP_REQUEST, "POST", PACKETS, times=2, after_bytes=700)],
    "drop mid-request (image)": [Fault(DROP_REQUEST, "PUT", BLOBS, times=2, after_bytes=25_000)],
    "drop mid-response (batch)": [Fault(DROP_RESPONSE, "POST", PACKETS, times=2, after_bytes=30)],
    "drop mid-response (image)": [Fault(DROP_RESPONSE, "PUT", BLOBS, times=2, after_bytes=10)],
    "delay past the read timeout": [Fault(DELAY, "POST", PACKETS, times=1, delay=1.0),
                                    Fault(DELAY, "PUT", BLOBS, times=1, delay=1.0)],
    "reset (RST)": [Fault(RESET, times=4)],
    "HTTP 500": [Fault(ANSWER_500, "GET", times=1), Fault(ANSWER_500, "POST", times=2),
                 Fault(ANSWER_500, "PUT", times=2)],
    "truncated JSON": [Fault(TRUNCATE, "GET", times=1), Fault(TRUNCATE, "POST", times=2),
                       Fault(TRUNCATE, "PUT", times=1)],
    "captive portal HTML 200": [Fault(PORTAL, "GET", times=1), Fault(PORTAL, "POST", times=2),
                                Fault(PORTAL, "PUT", times=1), Fault(PORTAL, "HEAD", times=1)],
}


@pytest.mark.parametrize("name", list(FAULTS))
async def test_fault_ends_with_hq_holding_exactly_the_chain(name, hq_node, hq_dir, hq_server):
    shas = add_chain(hq_node, images=4, image_size=60_000)
    async with FaultProxy(hq_server.url) as proxy:
        proxy.script(*FAULTS[name])
        node = configure(hq_node, [proxy.url])
        await client.once(node, fast_policy(FakeClock()), fast_settings(read_timeout_s=0.5))
        fired = [s for s in proxy.seen if s.action != "pass"]
    assert fired, "the fault never fired"
    assert all(f.times == 0 for f in proxy.faults), "a scripted fault was never reached"
    assert_hq_holds_exactly(hq_dir, node)
    conn = node.reader()
    try:
        summary = receipts.hq_summary(conn)
    finally:
        conn.close()
    assert summary["acked_seq"] == 1 + 4 * 3 and summary["lag_bytes"] == 0
    assert summary["last_error"] is None  # cleared by the last good receipt
    if name == "drop mid-request (image)":
        # the upload resumed from what HQ kept, rather than starting over
        resumed = [s for s in proxy.seen if s.method == "PUT" and int(s.headers.get("upload-offset", 0)) > 0]
        assert resumed and len(shas) == 4


async def test_captive_portal_is_never_counted_as_delivery(hq_node, hq_dir, hq_server):
    add_chain(hq_node, images=1)
    async with FaultProxy(hq_server.url) as proxy:
        proxy.script(Fault(PORTAL, times=10_000))
        node = configure(hq_node, [proxy.url])
        with pytest.raises(HQUnreachable, match="bad_answer"):
            await client.once(node, fast_policy(FakeClock(), budget=10), fast_settings())
        assert proxy.fired(PORTAL) >= 2
    conn = node.reader()
    try:
        summary = receipts.hq_summary(conn)
        assert receipts.receipts(conn) == []
        assert conn.execute("SELECT COUNT(*) FROM sync_blobs").fetchone()[0] == 0
    finally:
        conn.close()
    assert summary["acked_seq"] == 0 and summary["lag_packets"] == 4
    assert "captive portal" in summary["last_error"]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_failover_first_url_dead_second_alive(hq_node, hq_dir, hq_server):
    add_chain(hq_node, images=2)
    dead = f"http://127.0.0.1:{_closed_port()}"
    node = configure(hq_node, [dead, hq_server.url])
    clock = FakeClock()
    await client.once(node, fast_policy(clock), fast_settings())
    assert_hq_holds_exactly(hq_dir, node)
    conn = node.reader()
    try:
        assert receipts.hq_summary(conn)["url"] == hq_server.url
        assert {r[0] for r in conn.execute("SELECT hq_url FROM sync_receipts")} == {hq_server.url}
    finally:
        conn.close()
    assert clock.sleeps == []  # the next URL is tried at once, not after a backoff


class Blackhole:
    """A port whose connection attempts hang (a receiver host that vanished: no RST comes back):
    it listens with a full backlog that is never accepted, so the kernel drops further SYNs."""

    def __init__(self) -> None:
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(0)
        self.url = f"http://127.0.0.1:{self.server.getsockname()[1]}"
        self.fillers: list[socket.socket] = []
        for _ in range(4):  # more than the accept queue holds
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(self.server.getsockname())
            self.fillers.append(s)

    def close(self) -> None:
        for s in [*self.fillers, self.server]:
            s.close()


async def test_failover_when_the_first_url_does_not_answer_connects(hq_node, hq_dir, hq_server):
    """A receiver whose host is gone times out connecting (no refusal): the node moves to the
    next URL rather than retrying the dead one until its budget runs out."""
    add_chain(hq_node, images=1)
    hole = Blackhole()
    try:
        node = configure(hq_node, [hole.url, hq_server.url])
        await client.once(node, fast_policy(FakeClock(), budget=10), fast_settings(connect_timeout_s=0.3))
    finally:
        hole.close()
    assert_hq_holds_exactly(hq_dir, node)


async def test_once_raises_hq_unreachable_through_the_budget(hq_node):
    add_chain(hq_node, images=1)
    node = configure(hq_node, [f"http://127.0.0.1:{_closed_port()}"])
    clock = FakeClock()
    with pytest.raises(HQUnreachable, match="connect_failed"):
        await client.once(node, fast_policy(clock, budget=20, cap=4), fast_settings())
    assert 19.9 <= clock.now <= 20.01 and len(clock.sleeps) >= 5
    assert all(0 <= s <= 4 for s in clock.sleeps)


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}


async def test_sync_once_exits_3_when_nothing_listens(hq_node):
    node = configure(hq_node, [f"http://127.0.0.1:{_closed_port()}"],
                     {"retry_base_s": 0.05, "retry_cap_s": 0.2, "retry_budget_s": 1.0})
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "catd_node.cli", "sync", "--once", "-d", str(node.root),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=_env(), cwd=ROOT)
    _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 3, err.decode()
    assert b"error: HQ: unreachable" in err


async def _hq_seq(hq_dir, node_id: str) -> int:
    def read() -> int:
        conn = hq_dir.connect()
        try:
            row = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM packets WHERE node = ?", (node_id,))
            return int(row.fetchone()[0])
        finally:
            conn.close()

    return await asyncio.to_thread(read)


async def _until(condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not await condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


def _real_policy(budget: float = 30.0) -> Policy:
    return Policy(base=0.05, cap=0.3, budget=budget)


@pytest.mark.slow
async def test_hq_killed_and_restarted_mid_drain(hq_node, hq_dir, hq_process, caplog):
    add_chain(hq_node, images=12, image_size=150_000, extra_per_image=60)
    head = 1 + 12 * 61
    node = configure(hq_node, [hq_process.url])
    settings = fast_settings()
    drain = asyncio.create_task(client.once(node, _real_policy(), settings))

    async def some_arrived() -> bool:
        return await _hq_seq(hq_dir, node.config.node_id) > 0

    await _until(some_arrived)
    await asyncio.to_thread(hq_process.kill)
    assert await _hq_seq(hq_dir, node.config.node_id) < head, "the drain ended before the kill"
    await asyncio.sleep(0.5)  # the client meets a dead HQ for a while
    await asyncio.to_thread(hq_process.start)
    await asyncio.wait_for(drain, 60)
    assert "connect_failed" in caplog.text or "connection_dropped" in caplog.text
    assert_hq_holds_exactly(hq_dir, node)


@pytest.mark.slow
async def test_sigkill_of_sync_process_mid_batch_then_restart(hq_node, hq_dir, hq_process, tmp_path: Path):
    add_chain(hq_node, images=6, image_size=80_000, extra_per_image=150)
    async with FaultProxy(hq_process.url) as proxy:
        # every batch waits in the proxy, so the kill lands while a batch is in flight
        proxy.script(Fault(DELAY, "POST", PACKETS, times=10_000, delay=0.3))
        node = configure(hq_node, [proxy.url], {"retry_base_s": 0.05, "retry_cap_s": 0.3})
        log = (tmp_path / "sync.log").open("wb")
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "catd_node.cli", "sync", "--once", "-d", str(node.root),
            stdout=log, stderr=log, env=_env(), cwd=ROOT)

        async def batch_in_flight() -> bool:
            posts = [s for s in proxy.seen if s.method == "POST"]
            return len(posts) >= 3

        await _until(batch_in_flight)
        proc.send_signal(signal.SIGKILL)
        assert await asyncio.wait_for(proc.wait(), 10) == -signal.SIGKILL
        log.close()
        await asyncio.sleep(0.4)  # the batch the proxy still held may reach HQ after the kill
    conn = node.reader()
    try:
        acked_before = receipts.acked_seq(conn)
        head = conn.execute("SELECT MAX(seq) FROM packets").fetchone()[0]
    finally:
        conn.close()
    assert 0 < acked_before < head, "the kill did not land mid-drain"
    node = configure(node, [hq_process.url])  # the proxy is gone; straight to HQ now
    proc2 = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "catd_node.cli", "sync", "--once", "-d", str(node.root),
        stderr=asyncio.subprocess.PIPE, env=_env(), cwd=ROOT)
    _, err = await asyncio.wait_for(proc2.communicate(), 60)
    assert proc2.returncode == 0, err.decode()[-2000:]
    assert_hq_holds_exactly(hq_dir, node)
    conn = node.reader()
    try:
        assert receipts.acked_seq(conn) == head
    finally:
        conn.close()
