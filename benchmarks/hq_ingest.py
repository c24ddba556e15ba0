"""HQ ingest rate with full verification, several nodes POSTing batches at once over loopback.

Printed beside, measured in the same run: a bare Ed25519 verify loop and a bare SQLite
insert+commit of the same rows in the same batch size (WAL, synchronous=FULL). HQ verifies a
batch of 64+ lines in one run per worker at once, so one node alone can use every core
(`--nodes 1 --packets 10000 --batch 1000` shows it).

With `--db postgresql://USER@HOST/DB` (a role that may CREATE DATABASE) or `--db temp` (a
throw-away server started here, fsync on), the same nodes are also sent to `--receivers`
`catd-hq serve` processes sharing one PostgreSQL database, node n to receiver n mod R, and
both rates are printed: SQLite (one receiver) and PostgreSQL, in the same run.

    .venv/bin/python benchmarks/hq_ingest.py [--quick] [--nodes 4] [--packets 2500] [--batch 500]
    .venv/bin/python benchmarks/hq_ingest.py --db temp --nodes 16 --receivers 2
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from catd_node import keys, packets, store  # noqa: E402
from catd_node.packets import Packet  # noqa: E402
from hq import store as hq_store  # noqa: E402
from hq.store import postgres  # noqa: E402
from sync import protocol  # noqa: E402

ELECTION = ROOT / "catd_node" / "data" / "election.json"
VALUES = {"PAN": 100, "PRI": 80, "PRD": 10, "PVEM": 5, "PT": 7, "MC": 12, "MORENA": 150, "CNR": 0,
          "NULOS": 6, "TOTAL_ASENTADO": 370, "PERSONAS_VOTARON": 370, "REPRESENTANTES_VOTARON": 4,
          "BOLETAS_SOBRANTES": 240}


def make_chain(node: str, count: int) -> tuple[bytes, list[Packet]]:
    key = keys.generate()
    chain: list[Packet] = []
    prev = packets.ZERO_HASH
    for seq in range(1, count + 1):
        p = packets.seal(key, node=node, seq=seq, prev=prev, kind="acta.captured", body={
            "acta": f"DIP-14-01-{seq:04d}-B01", "image_sha256": "ab" * 32, "values": VALUES,
            "by": "ana", "round": 1})
        chain.append(p)
        prev = p.hash
    return keys.public_pem(key.public_key()), chain


def bare_verify(chain: list[Packet], pub_pem: bytes) -> float:
    pub = keys.public_from_pem(pub_pem)
    start = time.perf_counter()
    for p in chain:
        raw = packets.digest(p.canonical)
        assert keys.verify(pub, p.sig, raw)
    return len(chain) / (time.perf_counter() - start)


def bare_sqlite(tmp: Path, chain: list[Packet], batch: int) -> float:
    conn = store.connect(tmp / "bare.db")
    conn.execute("CREATE TABLE t (node TEXT, seq INTEGER, hash TEXT, kind TEXT, at TEXT, acta TEXT,"
                 " canonical BLOB, sig BLOB, received_at TEXT, receipt_sig TEXT,"
                 " PRIMARY KEY (node, seq)) WITHOUT ROWID")
    start = time.perf_counter()
    for i in range(0, len(chain), batch):
        with store.immediate(conn):
            conn.executemany(
                "INSERT INTO t VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [("N", p.seq, p.hash, p.kind, p.at, "A", p.canonical, p.sig, p.at, "x" * 88)
                 for p in chain[i:i + batch]])
    rate = len(chain) / (time.perf_counter() - start)
    conn.close()
    return rate


async def send(session: aiohttp.ClientSession, url: str, chain: list[Packet], batch: int,
               start: asyncio.Event) -> None:
    bodies = [(i, protocol.frame(chain[i:i + batch])) for i in range(0, len(chain), batch)]
    await start.wait()
    for i, body in bodies:
        async with session.post(url + protocol.PACKETS_PATH, data=body,
                                headers={"Content-Type": protocol.NDJSON}) as resp:
            answer = await resp.json()
            assert resp.status == 200, answer
            assert answer["acked"]["seq"] == chain[min(i + batch, len(chain)) - 1].seq


async def ingest(urls: list[str], chains: list[list[Packet]], batch: int) -> float:
    """Bodies are framed before the clock starts: this measures HQ, not the sender. Node n
    sends to receiver n mod len(urls)."""
    go = asyncio.Event()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        tasks = [asyncio.create_task(send(session, urls[n % len(urls)], c, batch, go))
                 for n, c in enumerate(chains)]
        await asyncio.sleep(0.2)  # let every sender frame its bodies
        start = time.perf_counter()
        go.set()
        await asyncio.gather(*tasks)
    return sum(len(c) for c in chains) / (time.perf_counter() - start)


def start_server(hq_root: Path, workers: int) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "hq.cli", "-d", str(hq_root), "serve", "--port", "0",
         "--workers", str(workers)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT)
    assert proc.stdout is not None
    for line in proc.stdout:
        match = re.search(r"(http://\S+)", line)
        if match:
            return proc, match.group(1)
    raise RuntimeError("catd-hq serve did not start")


class Databases:
    """Fresh PostgreSQL databases, one per round, on the server of `url` (or a temporary one)."""

    def __init__(self, url: str) -> None:
        self.server = None
        if url == "temp":
            from tests import pgserver

            self.server = pgserver.start(durable=True)
            url = self.server.url()
        self.admin = url
        self.made: list[str] = []

    def create(self) -> str:
        import psycopg

        name = f"catd_bench_{os.getpid()}_{len(self.made)}"
        with psycopg.connect(self.admin, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        self.made.append(name)
        # the path names the database; the query may hold a socket path (?host=/tmp/…)
        return urllib.parse.urlsplit(self.admin)._replace(path="/" + name).geturl()

    def close(self) -> None:
        import psycopg

        with psycopg.connect(self.admin, autocommit=True) as conn:
            for name in self.made:
                conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        if self.server is not None:
            self.server.stop()


def rounds_of(args: argparse.Namespace, tmp: Path, label: str, receivers: int,
              db: Databases | None) -> tuple[list[float], list[tuple[bytes, list[Packet]]]]:
    rates: list[float] = []
    nodes: list[tuple[bytes, list[Packet]]] = []
    for r in range(args.rounds):
        hq = hq_store.init(tmp / f"hq-{label}{r}", ELECTION, db.create() if db else None)
        nodes = [make_chain(f"CATD-{r:02d}-{n:02d}", args.packets) for n in range(args.nodes)]
        conn = hq.connect()
        for n, (pem, _) in enumerate(nodes):
            hq_store.add_node(conn, f"CATD-{r:02d}-{n:02d}", pem)
        conn.close()
        servers = [start_server(hq.root, args.workers) for _ in range(receivers)]
        try:
            rates.append(asyncio.run(ingest([u for _, u in servers], [c for _, c in nodes], args.batch)))
        finally:
            for proc, _ in servers:
                proc.terminate()
            for proc, _ in servers:
                proc.wait(15)
    return rates, nodes


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--nodes", type=int, default=4)
    parser.add_argument("--packets", type=int, default=2500, help="per node")
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="catd-hq serve --workers (each receiver)")
    parser.add_argument("--db", help="also run on PostgreSQL: a postgresql:// URL, or 'temp'")
    parser.add_argument("--receivers", type=int, default=2, help="catd-hq serve processes on PostgreSQL")
    args = parser.parse_args()
    if args.quick:
        args.packets, args.rounds = 300, 1
    if args.db and args.db != "temp" and not postgres.is_url(args.db):
        parser.error("--db: a postgresql:// URL or 'temp'")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        rates, nodes = rounds_of(args, tmp, "sqlite", 1, None)
        pg_rates: list[float] = []
        if args.db:
            db = Databases(args.db)
            try:
                pg_rates, _ = rounds_of(args, tmp, "pg", args.receivers, db)
            finally:
                db.close()
        pem, chain = nodes[0]
        verify_rate = statistics.median(bare_verify(chain, pem) for _ in range(3))
        sqlite_rate = statistics.median(bare_sqlite(tmp / f"s{i}", chain, args.batch)
                                        if (tmp / f"s{i}").mkdir() is None else 0 for i in range(3))
    total = args.nodes * args.packets
    ingest_rate = statistics.median(rates)
    print(f"HQ ingest ({args.workers} verify workers), {args.nodes} nodes x {args.packets} packets"
          f" in batches of {args.batch}"
          f" ({total} packets/round, {args.rounds} rounds, median): {ingest_rate:,.0f} packets/s"
          f"  [rounds: {', '.join(f'{x:,.0f}' for x in rates)}]")
    if pg_rates:
        pg_rate = statistics.median(pg_rates)
        print(f"  PostgreSQL, {args.receivers} receivers x {args.workers} verify workers, same nodes:"
              f" {pg_rate:,.0f} packets/s  [rounds: {', '.join(f'{x:,.0f}' for x in pg_rates)}];"
              f" target >= 3,000 packets/s: {'met' if pg_rate >= 3000 else 'NOT met'}")
    print(f"  bare Ed25519 verify loop (1 thread):          {verify_rate:,.0f} packets/s")
    print(f"  bare SQLite insert+commit (batch {args.batch}, FULL): {sqlite_rate:,.0f} rows/s")
    print(f"  ingest / bare verify: {ingest_rate / verify_rate:.2f}; target >= 3,000 packets/s:"
          f" {'met' if ingest_rate >= 3000 else 'NOT met'}"
          f" (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
