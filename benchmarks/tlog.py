"""The transparency log's cost at HQ ingest, and its proofs at 10 million leaves.

1. Ingest: nodes' signed packets verified (`receive.check_batch`: hash + Ed25519) and stored
   (`receive.store_batch`, SQLite, WAL, synchronous=FULL) in batches, log append included —
   beside, in the same run: the same with the log append cut out (monkeypatched to a no-op),
   the log append alone on the same wire lines, and bare SHA-256 over the same leaves.
2. Tree hashing: `Frontier.append` (leaf + node hashes) vs bare SHA-256 of the leaves.
3. Proofs at 10M leaves: a tree of 10,000,000 leaf hashes built in memory (random 32-byte
   hashes, level-8/16 node hashes kept as HQ's store keeps them), then inclusion and
   consistency proofs computed from those tiles and verified; sizes and median times.

    .venv/bin/python benchmarks/tlog.py [--packets 20000] [--batch 500] [--leaves 10000000]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from catd_node import keys, packets, tlog  # noqa: E402
from hq import receive  # noqa: E402
from hq import store as hq_store  # noqa: E402
from hq import tlog as hq_tlog  # noqa: E402
from hq.store.base import writing  # noqa: E402

ELECTION = ROOT / "catd_node" / "data" / "election.json"
VALUES = {"PAN": 100, "PRI": 80, "PRD": 10, "PVEM": 5, "PT": 7, "MC": 12, "MORENA": 150, "CNR": 0,
          "NULOS": 6, "TOTAL_ASENTADO": 370, "PERSONAS_VOTARON": 370, "REPRESENTANTES_VOTARON": 4,
          "BOLETAS_SOBRANTES": 240}


def chain(node: str, count: int) -> tuple[bytes, list[bytes]]:
    key = keys.generate()
    prev, lines = packets.ZERO_HASH, []
    for seq in range(1, count + 1):
        p = packets.seal(key, node=node, seq=seq, prev=prev, kind="acta.captured", body={
            "acta": f"DIP-14-01-{seq:04d}-B01", "image_sha256": "ab" * 32, "values": VALUES,
            "by": "ana", "round": 1})
        lines.append(packets.to_wire(p).encode())
        prev = p.hash
    return keys.public_pem(key.public_key()), lines


def ingest(root: Path, pem: bytes, lines: list[bytes], batch: int, with_log: bool) -> float:
    hq = hq_store.init(root, ELECTION)
    conn = hq.connect()
    hq_store.add_node(conn, "CATD-BENCH", pem)
    pems = {"CATD-BENCH": pem.decode()}
    key = hq.private_key()
    real = hq_tlog.append, hq_tlog.receipt_log
    if not with_log:
        hq_tlog.append = lambda conn, entries: 0  # type: ignore[assignment]
        hq_tlog.receipt_log = lambda conn, key, index: {}  # type: ignore[assignment]
    try:
        t0 = time.perf_counter()
        for lo in range(0, len(lines), batch):
            checked = receive.check_batch(lines[lo:lo + batch], pems, lo + 1)
            receive.store_batch(conn, checked, key)
        elapsed = time.perf_counter() - t0
    finally:
        hq_tlog.append, hq_tlog.receipt_log = real
        conn.close()
    return len(lines) / elapsed


def append_only(root: Path, lines: list[bytes], batch: int) -> float:
    hq = hq_store.init(root, ELECTION)
    conn = hq.connect()
    try:
        t0 = time.perf_counter()
        for lo in range(0, len(lines), batch):
            with writing(conn):
                hq_tlog.append(conn, lines[lo:lo + batch])
        return len(lines) / (time.perf_counter() - t0)
    finally:
        conn.close()


def bare_sha(lines: list[bytes]) -> float:
    sha = hashlib.sha256
    t0 = time.perf_counter()
    kept = [sha(b"\x00" + x).digest() for x in lines]
    assert len(kept) == len(lines)
    return len(lines) / (time.perf_counter() - t0)


def tree_hash(lines: list[bytes]) -> float:
    sha = hashlib.sha256
    t0 = time.perf_counter()
    f = tlog.Frontier()
    f.append([sha(b"\x00" + x).digest() for x in lines], lambda *a: None)
    f.root()
    return len(lines) / (time.perf_counter() - t0)


def big_tree(n: int) -> tuple[tlog.TileSource, bytes]:
    """Leaf hashes in one 32·n-byte buffer (level-0 tiles are slices of it); the level-8·L
    node hashes joined per level, as HQ's tlog_nodes rows."""
    leaves = b"".join(hashlib.sha256(i.to_bytes(8, "big")).digest() for i in range(n))
    closed: dict[int, bytearray] = {}
    f = tlog.Frontier()
    f.append((leaves[i:i + 32] for i in range(0, 32 * n, 32)),
             lambda level, index, h: closed.setdefault(level, bytearray()).extend(h))
    rows = {0: leaves, **{k: bytes(v) for k, v in closed.items()}}

    def get(path: str) -> bytes:
        _, level, rest = path.split("/", 2)
        index = tlog.parse_tile_index(rest.split(".p/")[0])
        width = int(rest.split(".p/")[1]) if ".p/" in rest else 256
        lo = index * 256 * 32
        return rows[8 * int(level)][lo:lo + 32 * width]

    return tlog.TileSource(n, get), f.root()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--packets", type=int, default=20000)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--leaves", type=int, default=10_000_000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    pem, lines = chain("CATD-BENCH", args.packets)
    print(f"{args.packets} packets, wire lines {statistics.mean(map(len, lines)):.0f} B on average,"
          f" batch {args.batch}, cpu {os.cpu_count()}")
    res: dict[str, list[float]] = {k: [] for k in ("with", "without", "append", "sha", "tree")}
    with tempfile.TemporaryDirectory() as tmp:
        for run in range(args.runs):
            res["with"].append(ingest(Path(tmp) / f"w{run}", pem, lines, args.batch, True))
            res["without"].append(ingest(Path(tmp) / f"o{run}", pem, lines, args.batch, False))
            res["append"].append(append_only(Path(tmp) / f"a{run}", lines, args.batch))
            res["sha"].append(bare_sha(lines))
            res["tree"].append(tree_hash(lines))
    med = {k: statistics.median(v) for k, v in res.items()}
    print(f"ingest, full verification, with log:    {med['with']:>10,.0f} pkt/s  (goal >= 3,000)")
    print(f"ingest, full verification, without log: {med['without']:>10,.0f} pkt/s"
          f"  (log costs {100 * (1 - med['with'] / med['without']):.1f}%)")
    print(f"log append alone (SQLite, batch):       {med['append']:>10,.0f} leaves/s")
    print(f"tree hashing (leaf + node hashes):      {med['tree']:>10,.0f} leaves/s"
          f"  = {100 * med['tree'] / med['sha']:.0f}% of bare SHA-256 (goal >= 50%)")
    print(f"append incl. SQL:                                        "
          f"  = {100 * med['append'] / med['sha']:.0f}% of bare SHA-256")
    print(f"bare SHA-256 of the same leaves:        {med['sha']:>10,.0f} leaves/s")
    t0 = time.perf_counter()
    src, root = big_tree(args.leaves)
    print(f"\n{args.leaves:,} leaves: tree and tiles built in {time.perf_counter() - t0:.1f} s")
    rng = random.Random(2)
    n = args.leaves
    times, verify_times, sizes = [], [], []
    for _ in range(200):
        i = rng.randrange(n)
        src._cache.clear()
        t0 = time.perf_counter()
        proof = tlog.inclusion_proof(src.node, i, n)
        times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        tlog.verify_inclusion(i, n, src.node(0, i), proof, root)
        verify_times.append(time.perf_counter() - t0)
        sizes.append(len(proof))
    print(f"inclusion proof: {statistics.median(sizes):.0f} hashes ({32 * max(sizes)} B max),"
          f" compute {1000 * statistics.median(times):.3f} ms median (goal <= 1 ms),"
          f" verify {1000 * statistics.median(verify_times):.3f} ms")
    ctimes, csizes = [], []
    for _ in range(50):
        old = rng.randrange(1, n)
        src._cache.clear()
        t0 = time.perf_counter()
        proof = tlog.consistency_proof(src.node, old, n)
        ctimes.append(time.perf_counter() - t0)
        csizes.append(len(proof))
    print(f"consistency proof: {statistics.median(csizes):.0f} hashes, compute"
          f" {1000 * statistics.median(ctimes):.3f} ms median")


if __name__ == "__main__":
    main()
