"""The client's batching: the next batch is read while HQ stores the current one (and dropped when
that fails), batches tile the chain in order, and delivered images are noted a few at a time
(a lost note only makes HQ answer "already stored")."""

from __future__ import annotations

import itertools
import logging
import re

import pytest

from catd_node.datadir import DataDir
from hq.store import HQDir
from sync import client, protocol, receipts

from .faultproxy import ANSWER_500, DROP_RESPONSE, PASS, Fault, FaultProxy
from .replay_helpers import (
    FakeClock,
    add_chain,
    assert_hq_holds_exactly,
    configure,
    fast_policy,
    fast_settings,
)

ACKED = re.compile(r"batch acked seq=(\d+)\.\.(\d+)")


def _add_acopio(node: DataDir, count: int) -> None:
    ledger = node.ledger()
    try:
        with ledger.transaction() as tx:
            for n in range(count):
                tx.append("acta.acopio", {"acta": f"DIP-14-01-{n % 20 + 123:04d}-B01", "by": "ana",
                                          "in_catalog": True})
    finally:
        ledger.close()


def _acked_ranges(caplog: pytest.LogCaptureFixture) -> list[tuple[int, int]]:
    return [(int(m[1]), int(m[2])) for r in caplog.records if (m := ACKED.search(r.getMessage()))]


def _reads(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """Record each (start, count) the client reads from its ledger."""
    calls: list[tuple[int, int]] = []
    real = client.read_framed

    def counting(conn, start: int, count: int, max_bytes: int) -> client.Framed:  # type: ignore[no-untyped-def]
        calls.append((start, count))
        return real(conn, start, count, max_bytes)

    monkeypatch.setattr(client, "read_framed", counting)
    return calls


async def test_batches_tile_the_chain_and_each_is_read_once(hq_node, hq_dir: HQDir, hq_server, caplog,
                                                            monkeypatch):
    add_chain(hq_node, images=2)
    _add_acopio(hq_node, 1500)
    head = 2 * 3 + 1500 + 1
    node = configure(hq_node, [hq_server.url])
    reads = _reads(monkeypatch)
    caplog.set_level(logging.INFO, logger="catd.sync")
    await client.once(node, fast_policy(FakeClock()), fast_settings())
    ranges = _acked_ranges(caplog)
    assert ranges[0][0] == 1 and ranges[-1][1] == head
    assert all(b[0] == a[1] + 1 for a, b in itertools.pairwise(ranges)), ranges
    assert [b - a + 1 for a, b in ranges] == [200, 400, 800, head - 1400]  # grown on a good link
    assert len(reads) == len(set(reads)), f"a batch was read twice: {reads}"
    assert len(ranges) == 4 and len(reads) <= len(ranges) + 1
    assert_hq_holds_exactly(hq_dir, node)


@pytest.mark.parametrize("action", [ANSWER_500, DROP_RESPONSE])
async def test_a_failed_batch_drops_the_read_ahead(action, hq_node, hq_dir: HQDir, hq_server, caplog):
    add_chain(hq_node, images=2)
    _add_acopio(hq_node, 1200)
    head = 2 * 3 + 1200 + 1
    caplog.set_level(logging.INFO, logger="catd.sync")
    async with FaultProxy(hq_server.url) as proxy:
        # the second batch fails while the third is already read ahead at the grown size
        proxy.script(Fault(PASS, "POST", protocol.PACKETS_PATH, times=1),
                     Fault(action, "POST", protocol.PACKETS_PATH, times=1, after_bytes=20))
        node = configure(hq_node, [proxy.url])
        await client.once(node, fast_policy(FakeClock()), fast_settings())
    assert all(f.times == 0 for f in proxy.faults)
    ranges = _acked_ranges(caplog)
    assert ranges[0] == (1, 200) and ranges[-1][1] == head
    assert all(b[0] == a[1] + 1 for a, b in itertools.pairwise(ranges[1:])), ranges
    if action == ANSWER_500:  # HQ stored nothing: resent from 201 with a smaller batch
        assert ranges[1] == (201, 400)
    else:  # HQ stored 201..600 but the answer was lost: its head packet is resent for a receipt
        assert ranges[1][0] == 600
    assert_hq_holds_exactly(hq_dir, node)


async def test_a_lost_delivered_note_reoffers_the_image_and_hq_answers_stored(hq_node, hq_dir: HQDir,
                                                                              hq_server):
    shas = add_chain(hq_node, images=3)
    node = configure(hq_node, [hq_server.url])
    await client.once(node, fast_policy(FakeClock()), fast_settings())
    conn = node.reader()
    try:
        assert {row[0] for row in conn.execute("SELECT sha256 FROM sync_blobs")} == set(shas)
        conn.execute("DELETE FROM sync_blobs")  # the notes were lost (power loss, NORMAL commit)
        assert receipts.hq_summary(conn)["lag_blobs"] == 3
    finally:
        conn.close()
    stored_at = _stored_at(hq_dir)
    await client.once(node, fast_policy(FakeClock()), fast_settings())
    conn = node.reader()
    try:
        assert {row[0] for row in conn.execute("SELECT sha256 FROM sync_blobs")} == set(shas)
        assert receipts.hq_summary(conn)["lag_blobs"] == 0
    finally:
        conn.close()
    assert _stored_at(hq_dir) == stored_at  # offered again, stored once
    assert_hq_holds_exactly(hq_dir, node)


def _stored_at(hq: HQDir) -> dict[str, str]:
    conn = hq.connect()
    try:
        return dict(conn.execute("SELECT sha256, stored_at FROM blobs").fetchall())
    finally:
        conn.close()
