"""The PostgreSQL primary is lost in the middle of a night (issue 21): a real primary and its
synchronous streaming standby (tests/pgserver.start_pair, the steps of deploy/postgresql.md),
two `catd-hq serve` processes on a multi-host URL, three `catd-node sync` processes draining.
The primary's whole process group is SIGKILLed mid-drain and the standby promoted with
`pg_ctl promote`. Then:

- every receipt a node held at the kill names a packet the promoted store holds, and every
  image HQ had acknowledged (the node's delivered cache) has its row there: a blob row was
  once committed with synchronous_commit=off and 3 of 50 acknowledged images vanished;
- the nodes finish draining to the new primary without anyone touching them;
- `catd-hq verify` exits 0 and the next cut extends the last one published;
- the old primary is rebuilt as the new standby (pg_basebackup) and streams synchronously.
"""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

from catd_node.datadir import DataDir
from hq import store as hq_store
from hq.release import cut
from hq.store import HQDir
from tests import pgserver
from tests.hqkit import ELECTION, ROOT, HQProcess, make_node
from tests.sync.replay_helpers import add_chain, assert_hq_holds_exactly, configure

NODES = ("CATD-14-01", "CATD-14-02", "CATD-14-03")
IMAGES = 17          # per node: 51 images in all
PER_IMAGE = 24       # acta.acopio packets after each image: ~425 packets per node
SYNC = {"poll_s": 0.2, "retry_base_s": 0.05, "retry_cap_s": 0.5, "connect_timeout_s": 2.0,
        "read_timeout_s": 10.0, "failback_s": 1e9, "blob_workers": 2}
STORED = re.compile(r"blob stored sha=([0-9a-f]{16})")  # hq/blobs.py logs it just before the 201
FIRST_CUT = datetime(2024, 6, 2, 20, 0)
NEXT_CUT = datetime(2024, 6, 2, 20, 20)


def _wait(condition, what: str, timeout: float = 90.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)  # polling the stores, with a deadline


def _count(hq: HQDir, sql: str) -> int:
    conn = hq.connect()
    try:
        return int(conn.execute(sql).fetchone()[0])
    finally:
        conn.close()


def _acks(node: DataDir) -> tuple[list[tuple[str, int, str]], set[str]]:
    """What HQ has promised this node: its receipts (node, seq, hash) and acknowledged images."""
    conn = sqlite3.connect(node.root / "catd.db", timeout=30)
    try:
        receipts = [tuple(r) for r in conn.execute("SELECT node, seq, hash FROM sync_receipts")]
        images = {r[0] for r in conn.execute("SELECT sha256 FROM sync_blobs")}
    finally:
        conn.close()
    return receipts, images  # type: ignore[return-value]


def _drained(hq: HQDir, nodes: list[DataDir]) -> bool:
    conn = hq.connect()
    try:
        status = hq_store.status(conn)["nodes"]
        for node in nodes:
            local = node.reader()
            try:
                top = local.execute("SELECT MAX(seq) FROM packets").fetchone()[0]
                delivered = local.execute("SELECT COUNT(*) FROM sync_blobs").fetchone()[0]
                refs = local.execute("SELECT COUNT(DISTINCT sha256) FROM blob_refs").fetchone()[0]
            finally:
                local.close()
            held = status[node.config.node_id]
            if held["seq"] != top or held["blobs_missing"] or delivered < refs:
                return False
        return True
    finally:
        conn.close()


def test_primary_killed_mid_drain_standby_promoted(tmp_path: Path) -> None:
    pair = pgserver.start_pair()
    rebuilt: pgserver.PGServer | None = None
    receivers = [HQProcess(HQDir(tmp_path / "hq"), tmp_path / f"hq-{n}.log") for n in "ab"]
    syncs: list[subprocess.Popen[bytes]] = []
    try:
        hq = hq_store.init(tmp_path / "hq", ELECTION, pair.create())
        nodes = []
        for i, node_id in enumerate(NODES):
            node = make_node(tmp_path / node_id, hq, node_id)
            add_chain(node, images=IMAGES, image_size=60_000, extra_per_image=PER_IMAGE, seed=i)
            nodes.append(node)
        urls = [r.start(0) for r in receivers]
        first = cut.publish(hq, at=FIRST_CUT)
        for node in nodes:
            configure(node, urls, SYNC)
            log = (tmp_path / f"{node.config.node_id}-sync.log").open("ab")
            argv = [sys.executable, "-m", "catd_node.cli", "sync", "-d", str(node.root)]
            syncs.append(subprocess.Popen(argv, stdout=log, stderr=log, cwd=ROOT, env={**os.environ}))
            log.close()
        total = len(NODES) * IMAGES * (1 + PER_IMAGE) + len(NODES)  # + each chain's genesis

        # mid-drain: packets of every node stored and images being acknowledged, not all of either
        _wait(lambda: _count(hq, "SELECT COUNT(*) FROM blobs") >= 4
              and _count(hq, "SELECT COUNT(DISTINCT node) FROM packets") == len(NODES), "a drain under way")
        pair.primary.kill()
        promised = [_acks(node) for node in nodes]
        answered = {m for r in receivers for m in STORED.findall(r.log_path.read_text())}  # 201s given
        held_at_kill = sum(len(r) for r, _ in promised)
        pair.standby.promote()

        # what HQ promised before the kill is in the promoted store (checked before any resend)
        conn = hq.connect()
        try:
            stored = {tuple(r) for r in conn.execute("SELECT node, seq, hash FROM packets")}
            rows = {r[0] for r in conn.execute("SELECT sha256 FROM blobs")}
        finally:
            conn.close()
        receipts = {r for rs, _ in promised for r in rs}
        acked_images = set().union(*(images for _, images in promised))
        assert receipts and answered, "the kill came before HQ had acknowledged anything"
        assert len(rows) < len(NODES) * IMAGES, "the kill came after the drain had ended"
        assert receipts <= stored, f"receipts of packets it lacks: {sorted(receipts - stored)[:3]}"
        lost = {sha for sha in answered if not any(row.startswith(sha) for row in rows)}
        assert not lost, f"{len(lost)} of {len(answered)} images answered 201 have no row there"
        assert acked_images <= rows, (f"{len(acked_images - rows)} of {len(acked_images)} acknowledged images"
                                      " have no row on the promoted store")

        # the old primary's machine comes back empty: rebuilt as the new primary's standby
        pair.standby.require_standby()
        rebuilt = pgserver.standby_of(pair.standby)

        _wait(lambda: _drained(hq, nodes), "the nodes to drain to the promoted primary", timeout=120)
        for proc in syncs:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(20) == 0
        for node in nodes:
            assert_hq_holds_exactly(hq, node)  # each packet once, every image; catd-hq verify exits 0
        assert _count(hq, "SELECT COUNT(*) FROM packets") == total
        nxt = cut.publish(hq, at=NEXT_CUT)
        assert nxt.manifest.previous is not None and nxt.manifest.previous.name == first.path.name
        assert nxt.manifest.number == first.manifest.number + 1
        assert pgserver._sync_state(pair.standby) == "sync", "the rebuilt standby is not synchronous"
        assert held_at_kill > 0
        for r in receivers:
            assert "Traceback" not in r.log_path.read_text()
    finally:
        for proc in syncs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
        for r in receivers:
            if r.proc is not None and r.proc.poll() is None:
                r.kill()
        if rebuilt is not None:
            rebuilt.stop()
        pair.stop()
