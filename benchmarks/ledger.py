"""Ledger throughput beside the limits measured in the same run (issue 2).

  durable appends/s (Ledger.append, one commit each)  vs  bare SQLite INSERT+COMMIT (WAL, FULL)
  batched appends/s (100 packets per ledger.transaction())
  verified packets/s (verify_store over stored rows)   vs  bare Ed25519 verify loop (and sign)

Targets: appends ≥ 50% of bare insert+commit; verify ≥ 70% of bare Ed25519 verify.
Usage: python benchmarks/ledger.py [--quick] [--dir DIR]   (exit 1 when a target is missed)
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from catd_node import datadir, keys, packets, store, verify

ELECTION = Path(__file__).resolve().parents[1] / "catd_node" / "data" / "election.json"


def body(i: int) -> dict[str, object]:
    """A typical acta.captured body (the most common packet on election night)."""
    return {
        "acta": f"DIP-14-01-{i % 9999:04d}-B01", "image_sha256": f"{i:064x}", "by": "capturista1",
        "round": 1, "values": {"PAN": i % 300, "PRI": 98, "PRD": 7, "PVEM": 12, "PT": 5, "MC": 31,
                               "MORENA": "ILEGIBLE", "CNR": 0, "NULOS": 9, "TOTAL_ASENTADO": 400,
                               "PERSONAS_VOTARON": 400, "REPRESENTANTES_VOTARON": 2,
                               "BOLETAS_SOBRANTES": 210},
    }


def rate(count: int, fn: Callable[[], None]) -> float:
    start = time.perf_counter()
    fn()
    return count / (time.perf_counter() - start)


class BareTable:
    """Rows of the packets table's shape, one autocommitted INSERT each, WAL + synchronous=FULL."""

    def __init__(self, path: Path, row: tuple[bytes, bytes]) -> None:
        self.conn = sqlite3.connect(str(path), isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=FULL")
        self.conn.execute(
            "CREATE TABLE t (seq INTEGER PRIMARY KEY, hash TEXT NOT NULL UNIQUE, kind TEXT, at TEXT,"
            " acta TEXT, canonical BLOB, sig BLOB)")
        self.row = row
        self.seq = 0

    def insert(self, n: int) -> None:
        for _ in range(n):
            self.seq += 1
            self.conn.execute(
                "INSERT INTO t VALUES (?, ?, 'acta.captured', '2027-06-06T20:00:00.000Z',"
                " 'DIP-14-01-0001-B01', ?, ?)", (self.seq, f"{self.seq:064x}", *self.row))


def crypto_rates(n: int) -> tuple[float, float, list[bytes], list[bytes], Ed25519PublicKey]:
    """Bare Ed25519 sign and verify rates over n SHA-256 digests (what a packet signs)."""
    key = keys.generate()
    digests = [packets.digest(str(i).encode()) for i in range(n)]
    sigs: list[bytes] = []
    sign_rate = rate(n, lambda: sigs.extend(key.sign(d) for d in digests))
    pub = key.public_key()

    def bare_verify() -> None:
        for d, s in zip(digests, sigs, strict=True):
            pub.verify(s, d)

    return sign_rate, rate(n, bare_verify), digests, sigs, pub


def verify_pairs(node: datadir.DataDir, blocks: int, block: int) -> tuple[list[float], list[float]]:
    """(bare Ed25519 verify rates, verify_chain rates) over alternating blocks of `block` stored
    packets: the same rows' signatures bare, then the rows read from SQLite and fully checked."""
    conn = store.connect(node.db_path)
    public = node.public_key()
    bare_rates, our_rates = [], []
    try:
        top = conn.execute("SELECT MAX(seq) FROM packets").fetchone()[0]
        for n in range(blocks):
            start = 2 + (n * block) % (top - block - 1)
            after = conn.execute("SELECT seq, hash FROM packets WHERE seq = ?", (start - 1,)).fetchone()
            sigs = [(bytes(s), bytes.fromhex(h)) for s, h in conn.execute(
                "SELECT sig, hash FROM packets WHERE seq BETWEEN ? AND ?", (start, start + block - 1))]

            def bare(sigs: list[tuple[bytes, bytes]] = sigs) -> None:
                for sig, digest in sigs:
                    public.verify(sig, digest)

            reports: list[verify.Report] = []

            def ours(start: int = start, after: tuple[int, str] = after,
                     reports: list[verify.Report] = reports) -> None:
                rows = verify.stored_rows(conn, start, start + block - 1)
                reports.append(verify.verify_chain(rows, public, "CATD-14-01", None, after=after))

            bare_rates.append(rate(block, bare))
            our_rates.append(rate(block, ours))
            assert reports[0].ok and reports[0].head_seq == start + block - 1, reports[0].reason
    finally:
        conn.close()
    return bare_rates, our_rates


def verify_rate(node: datadir.DataDir) -> float:
    """`catd-node verify`'s work: verify_store over every stored row, packets per second."""
    conn = store.connect(node.db_path)
    try:
        public = node.public_key()
        total = conn.execute("SELECT COUNT(*) FROM packets").fetchone()[0]
        reports: list[verify.Report] = []
        result = rate(total, lambda: reports.append(verify.verify_store(conn, public, "CATD-14-01", None)))
    finally:
        conn.close()
    assert reports[0].ok, reports[0].reason
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: small counts, few blocks")
    parser.add_argument("--dir", type=Path, help="where to put the test databases (same disk as a node)")
    args = parser.parse_args(argv)
    logging.disable(logging.INFO)
    # Durable commits and CPU on a shared VM are noisy, so each figure and its limit are
    # measured as alternating blocks and a ratio is the median of the paired block ratios.
    blocks, block, batches, rounds, n_crypto = (
        (6, 25, 5, 3, 500) if args.quick else (40, 50, 20, 9, 2000))

    work = Path(tempfile.mkdtemp(prefix="catd-bench-", dir=args.dir))
    try:
        node = datadir.init(work / "node", "CATD-14-01", ELECTION)
        ledger = node.ledger()
        sample = packets.seal(ledger.key, node="CATD-14-01", seq=1, prev=packets.ZERO_HASH,
                              kind="acta.captured", body=body(1))
        results: dict[str, list[float]] = {k: [] for k in (
            "bare_insert", "append", "batched", "bare_sign", "bare_verify_alone", "verify_store")}
        append_pairs: list[float] = []
        counter = iter(range(10**9))
        bare = BareTable(work / "bare.db", (sample.canonical, sample.sig))

        def appends() -> None:
            for _ in range(block):
                ledger.append("acta.captured", body(next(counter)))

        def batched() -> None:
            for _ in range(batches):
                with ledger.transaction() as tx:
                    for _ in range(100):
                        tx.append("acta.captured", body(next(counter)))

        for _ in range(blocks):
            results["bare_insert"].append(rate(block, lambda: bare.insert(block)))
            results["append"].append(rate(block, appends))
            append_pairs.append(results["append"][-1] / results["bare_insert"][-1])
        bare.conn.close()
        for _ in range(rounds):
            results["batched"].append(rate(batches * 100, batched))
            sign_rate, bare_verify_rate, *_ = crypto_rates(n_crypto)
            results["bare_sign"].append(sign_rate)
            results["bare_verify_alone"].append(bare_verify_rate)
            results["verify_store"].append(verify_rate(node))
        stored = ledger.head().seq
        ledger.close()
        results["bare_verify"], results["verify"] = verify_pairs(node, blocks, block * 4)
        pairs = [ours / bare for bare, ours in zip(results["bare_verify"], results["verify"], strict=True)]
    finally:
        shutil.rmtree(work, ignore_errors=True)

    med = {k: statistics.median(v) for k, v in results.items()}
    append_ratio = statistics.median(append_pairs)
    verify_ratio = statistics.median(pairs)
    print(f"ledger benchmark ({'quick; ' if args.quick else ''}one-commit: median of {blocks} alternating "
          f"blocks of {block}; batched: {batches}x100 per round; verify: median of {blocks} alternating "
          f"blocks of {block * 4} stored packets, ledger of {stored}; {os.cpu_count()} cpus; "
          f"SQLite {sqlite3.sqlite_version}; WAL + synchronous=FULL in {args.dir or tempfile.gettempdir()})")
    print(f"  durable appends      {med['append']:9.0f}/s   bare INSERT+COMMIT  {med['bare_insert']:9.0f}/s"
          f"   paired ratio {append_ratio:5.0%}  (target ≥ 50%)")
    print(f"  batched appends x100 {med['batched']:9.0f}/s   = {med['batched'] / med['bare_insert']:.1f}"
          f"× bare INSERT+COMMIT, {med['batched'] / med['append']:.1f}× one-commit appends")
    print(f"  verified packets     {med['verify']:9.0f}/s   bare Ed25519 verify {med['bare_verify']:9.0f}/s"
          f"   paired ratio {verify_ratio:5.0%}  (target ≥ 70%)")
    print(f"  catd-node verify     {med['verify_store']:9.0f}/s   whole ledger incl. reading; bare Ed25519"
          f" verify alone {med['bare_verify_alone']:.0f}/s")
    print(f"  bare Ed25519 sign    {med['bare_sign']:9.0f}/s")
    ok = append_ratio >= 0.5 and verify_ratio >= 0.7
    print("targets met" if ok else "TARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
