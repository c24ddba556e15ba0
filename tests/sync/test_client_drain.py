"""The replay client against a real HQ: drain, receipts, resume, status, refusals."""

from __future__ import annotations

import json

import pytest

from catd_node import cli as node_cli
from catd_node import keys
from catd_node.errors import CheckFailed
from hq import store as hq_store
from sync import client, receipts
from tests.hqkit import make_node

from .replay_helpers import (
    FakeClock,
    add_chain,
    assert_hq_holds_exactly,
    configure,
    fast_policy,
    fast_settings,
    run_cli,
)


async def test_drain_delivers_chain_and_images_with_receipts(hq_node, hq_dir, hq_server):
    shas = add_chain(hq_node, images=6)
    node = configure(hq_node, [hq_server.url])
    clock = FakeClock()
    await client.once(node, fast_policy(clock), fast_settings())
    assert_hq_holds_exactly(hq_dir, node)
    conn = node.reader()
    try:
        summary = receipts.hq_summary(conn)
        kept = receipts.receipts(conn)
        delivered = {row[0] for row in conn.execute("SELECT sha256 FROM sync_blobs")}
    finally:
        conn.close()
    head = 1 + 6 * 3
    assert summary["acked_seq"] == head and summary["lag_packets"] == 0 and summary["lag_bytes"] == 0
    assert summary["last_error"] is None and summary["url"] == hq_server.url
    assert kept and kept[-1].seq == head
    for receipt in kept:  # every kept receipt verifies against hq.pub
        assert receipts.check(hq_dir.public_key(), receipt.as_dict(), node.config.node_id,
                              receipt.seq, receipt.hash)
    assert delivered == set(shas)
    assert clock.sleeps == []  # nothing failed, nothing waited


async def test_second_drain_sends_only_new_packets(hq_node, hq_dir, hq_server):
    add_chain(hq_node, images=2)
    node = configure(hq_node, [hq_server.url])
    await client.once(node, fast_policy(FakeClock()), fast_settings())
    add_chain(node, images=3, seed=99)
    await client.once(node, fast_policy(FakeClock()), fast_settings())
    assert_hq_holds_exactly(hq_dir, node)


async def test_status_json_reports_hq_fields_after_drain(hq_node, hq_dir, hq_server):
    add_chain(hq_node, images=2)
    node = configure(hq_node, [hq_server.url])
    code, out = run_cli(node_cli.main, ["status", "-d", str(node.root), "--json"])
    before = json.loads(out)["hq"]
    assert code == 0 and before["acked_seq"] == 0 and before["lag_packets"] == 7
    assert before["lag_bytes"] > 2 * 40_000  # packets plus two undelivered images
    await client.once(node, fast_policy(FakeClock()), fast_settings())
    code, out = run_cli(node_cli.main, ["status", "-d", str(node.root), "--json"])
    hq = json.loads(out)["hq"]
    assert code == 0
    assert hq["acked_seq"] == 7 and hq["lag_packets"] == 0 and hq["lag_bytes"] == 0
    assert hq["last_receipt_at"] and hq["last_error"] is None and hq["url"] == hq_server.url


async def test_receipt_signed_by_wrong_key_is_not_delivery(hq_node, hq_dir, hq_server):
    add_chain(hq_node, images=1)
    keys.write_public(hq_node.root / "impostor.pub", keys.generate().public_key())
    (hq_node.root / "hq.pub").write_bytes((hq_node.root / "impostor.pub").read_bytes())
    node = configure(hq_node, [hq_server.url])
    with pytest.raises(CheckFailed, match="bad_receipt"):
        await client.once(node, fast_policy(FakeClock(), budget=3), fast_settings())
    conn = node.reader()
    try:
        summary = receipts.hq_summary(conn)
        assert receipts.receipts(conn) == []
    finally:
        conn.close()
    assert summary["acked_seq"] == 0 and "bad_receipt" in summary["last_error"]
    hconn = hq_dir.connect()
    try:
        # images of unacknowledged packets were never offered
        assert hconn.execute("SELECT COUNT(*) FROM blobs").fetchone()[0] == 0
    finally:
        hconn.close()


async def test_fork_detected_from_hq_head(tmp_path, hq_dir, hq_server):
    import shutil

    node = make_node(tmp_path / "a", hq_dir)
    snapshot = tmp_path / "snapshot"
    shutil.copytree(node.root, snapshot)  # same key, same genesis
    add_chain(node, images=1, seed=1)
    await client.once(configure(node, [hq_server.url]), fast_policy(FakeClock()), fast_settings())
    from catd_node.datadir import DataDir

    twin = DataDir(snapshot)
    add_chain(twin, images=1, seed=2)  # seq 2.. differ from what HQ holds
    twin = configure(twin, [hq_server.url])
    with pytest.raises(CheckFailed, match="fork"):
        await client.once(twin, fast_policy(FakeClock()), fast_settings())
    conn = twin.reader()
    try:
        assert "fork" in receipts.hq_summary(conn)["last_error"]
    finally:
        conn.close()
    hconn = hq_dir.connect()
    try:  # HQ kept its chain; nothing of the twin's was stored over it
        assert hq_store.head(hconn, node.config.node_id)[1] == node.ledger().head().hash
    finally:
        hconn.close()


async def test_unknown_node_is_refused_exit_1(tmp_path, hq_dir, hq_server):
    from catd_node import datadir
    from tests.hqkit import ELECTION

    stranger = datadir.init(tmp_path / "x", "CATD-99-99", ELECTION, hq_pubkey=hq_dir.pub_path)
    stranger = configure(stranger, [hq_server.url])
    with pytest.raises(CheckFailed, match="unknown_node"):
        await client.once(stranger, fast_policy(FakeClock()), fast_settings())


def test_sync_once_cli_exits_1_naming_the_refusal(tmp_path, hq_dir, hq_process):
    import subprocess
    import sys

    from catd_node import datadir
    from tests.hqkit import ELECTION, ROOT

    stranger = datadir.init(tmp_path / "x", "CATD-99-99", ELECTION, hq_pubkey=hq_dir.pub_path)
    stranger = configure(stranger, [hq_process.url])
    done = subprocess.run([sys.executable, "-m", "catd_node.cli", "sync", "--once", "-d", str(stranger.root)],
                          capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 1, done.stderr
    assert "error: packets lane: unknown_node" in done.stderr
    code, out = run_cli(node_cli.main, ["status", "-d", str(stranger.root), "--json"])
    assert code == 0
    assert "unknown_node" in json.loads(out)["hq"]["last_error"]
