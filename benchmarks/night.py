"""A national night, compressed: 300 CATDs against two receivers on PostgreSQL for 24 hours,
a cut every 20 minutes (issue 21).

Simulated here, in one process: every CATD (a real Ed25519 key registered at HQ, a real
`node.genesis`, then per acta `acta.acopio`, `acta.digitized` with its image, two
`acta.captured` and `acta.verified`, each sealed and signed when its simulated moment comes),
at the pace of a real night: each CATD starts within the first simulated hour after the
casillas close and captures `--rate` actas an hour (PREP.md: ~30 at peak) until its share of
the catalog is done. Each CATD sends as the node's sync does (`sync.transport.HQ`: batches
every `--poll` real seconds, votes before images, each receipt and log proof verified, each
image a signed PUT) to its receiver, the other one being its second URL.

Real: a PostgreSQL server (tests/pgserver.py, fsync on), `catd-hq init --db`, two
`catd-hq serve --workers 1` processes sharing it (their blob check and everything else as
in production), and every `--minutes-per-cut` simulated minutes a cut written by
`catd-hq publish --at <simulated time>` as the schedule runs it (hq/schedule.py: a child at
nice 10, idle I/O), the site included; the last is the final cut.

Time runs `--speed` times faster than a real night; a cut's own work is not compressed, so
its slot is `minutes-per-cut × 60 / speed` real seconds. Printed per cut: simulated time,
real seconds to write it (beside its slot), p99 of the packet POSTs that ended while it was
written (beside p99 outside cuts), each receiver's RSS (with its verify worker), the database
size, actas captured. At the end: what the simulated CATDs sent against what HQ holds and
the final cut counts, and PASS/FAIL for: every cut published within its slot; receiver
memory flat after the first `--flat-after` simulated hours (≤ 10 % growth); nothing lost or
counted twice.

    .venv/bin/python benchmarks/night.py                      # 24 h, 300 CATDs, 170,648 actas, ×60
    .venv/bin/python benchmarks/night.py --hours 1 --catds 10 --actas 200   # a short run (~1 min)
"""

from __future__ import annotations

import argparse
import asyncio
import heapq
import importlib.util
import json
import logging
import os
import random
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from catd_node import keys, packets  # noqa: E402
from catd_node.blobs import sha256_hex  # noqa: E402
from catd_node.packets import Packet  # noqa: E402
from hq import schedule  # noqa: E402
from hq import store as hq_store  # noqa: E402
from hq.release import manifest  # noqa: E402
from hq.store import HQDir  # noqa: E402
from sync import protocol  # noqa: E402
from sync.policy import Retryable  # noqa: E402
from sync.transport import HQ, Endpoints, LaneStopped, Timeouts  # noqa: E402

# the synthetic national catalog of benchmarks/publish.py (by path: benchmarks/sync.py would
# shadow the sync package on sys.path)
_spec = importlib.util.spec_from_file_location("bench_publish", ROOT / "benchmarks" / "publish.py")
assert _spec is not None and _spec.loader is not None
_national = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_national)
CONTROLS, VOTES, election = _national.CONTROLS, _national.VOTES, _national.election

CLOSE = datetime(2024, 6, 3, 2, 0, tzinfo=UTC)   # 2024-06-02 20:00 UTC-6: the night starts
LOCAL = timedelta(hours=-6)
STEPS = ((0, "acta.acopio"), (20, "acta.digitized"), (60, "acta.captured"), (90, "acta.captured"),
         (100, "acta.verified"))   # simulated seconds after the acta's acopio
GROWTH = 1.10   # receiver memory after the first hours may grow at most this much


def stamp(sim_s: float) -> str:
    return (CLOSE + timedelta(seconds=sim_s)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


@dataclass
class Node:
    """One simulated CATD: its key, chain and what HQ has acknowledged."""

    id: str
    key: Any
    actas: list[str]
    start_s: float
    gap_s: float
    seq: int = 0
    prev: str = packets.ZERO_HASH
    unsent: list[Packet] = field(default_factory=list)
    images: list[tuple[int, str, bytes]] = field(default_factory=list)   # (seq, sha, bytes) to upload
    acked: int = 0
    stored: int = 0          # images HQ answered stored
    verified: int = 0        # actas whose acta.verified packet was sealed
    events: list[tuple[float, int, int, str]] = field(default_factory=list)   # (t, n, step, acta)

    def seal(self, kind: str, body: dict[str, Any], at: str) -> Packet:
        self.seq += 1
        p = packets.seal(self.key, node=self.id, seq=self.seq, prev=self.prev, kind=kind, body=body, at=at)
        self.prev = p.hash
        self.unsent.append(p)
        return p


def plan(node: Node, rng: random.Random) -> None:
    """Schedule each acta's acopio: from `start_s`, one every `gap_s` on average."""
    t = node.start_s
    for n, acta in enumerate(node.actas):
        t += rng.expovariate(1.0 / node.gap_s)
        node.events.append((t, n, 0, acta))
    heapq.heapify(node.events)


def advance(node: Node, sim_now: float, end_s: float, image_bytes: int, captured: dict[str, int]) -> None:
    """Seal every packet whose simulated moment has come; an acta reaching the CATD after the
    night's end `end_s` stays out (one under way by then is finished)."""
    while node.events and node.events[0][0] <= sim_now:
        t, n, step, acta = heapq.heappop(node.events)
        if step == 0 and t > end_s:   # this CATD's later actas come later still
            node.events = [e for e in node.events if e[2] > 0]
            heapq.heapify(node.events)
            continue
        at = stamp(t)
        values: dict[str, Any] = {v: (n * 7 + i * 13) % 40 for i, v in enumerate(VOTES)}
        values.update({c: 300 for c in CONTROLS})
        sha = sha256_hex(_image(node.id, acta, image_bytes))
        kind = STEPS[step][1]
        if step == 0:
            node.seal(kind, {"acta": acta, "by": "caro", "in_catalog": True,
                             "tipo_documento": "ACTA PREP"}, at)
        elif step == 1:
            p = node.seal(kind, {
                "image": {"sha256": sha, "bytes": image_bytes, "format": "webp", "width": 1700,
                          "height": 2200, "dpi": 200},
                "original": {"sha256": sha, "bytes": image_bytes, "name": f"{acta}.jpg"},
                "source": {"kind": "scanner", "id": "scanner-1"}, "acta": acta, "identified_by": "qr",
                "origen": "CATD", "digitalizacion": "ESCANER"}, at)
            node.images.append((p.seq, sha, _image(node.id, acta, image_bytes)))
        elif step in (2, 3):
            p = node.seal(kind, {"acta": acta, "image_sha256": sha, "values": values, "by": "ana" if step == 2
                                 else "beto", "round": step - 1}, at)
            captured[f"{node.id}/{acta}/{step}"] = p.seq
        else:
            node.seal(kind, {"acta": acta, "image_sha256": sha, "values": values, "class": "counted",
                             "observations": [], "total": sum(values[v] for v in VOTES),
                             "captured_seq": captured.pop(f"{node.id}/{acta}/2"), "by": "beto"}, at)
            captured.pop(f"{node.id}/{acta}/3", None)
            node.verified += 1
        if step + 1 < len(STEPS):
            heapq.heappush(node.events, (t - STEPS[step][0] + STEPS[step + 1][0], n, step + 1, acta))


def _image(node: str, acta: str, size: int) -> bytes:
    """A small image, the same bytes each time it is asked for (random: it compresses as a scan)."""
    return random.Random(f"{node}/{acta}").randbytes(size)


@dataclass
class Clock:
    speed: float
    t0: float = 0.0

    def sim(self) -> float:
        return (time.monotonic() - self.t0) * self.speed


@dataclass
class Stats:
    posts: list[tuple[float, float]] = field(default_factory=list)   # (monotonic end, seconds)
    puts: list[tuple[float, float]] = field(default_factory=list)
    retries: int = 0
    errors: list[str] = field(default_factory=list)


async def _call(stats: Stats, what: str, fn: Any, *args: Any) -> Any:
    """`fn(*args)` until HQ answers; a refusal retrying cannot fix is recorded and raised."""
    delay = 0.05
    while True:
        try:
            return await fn(*args)
        except Retryable as exc:
            stats.retries += 1
            if len(stats.errors) < 20:
                stats.errors.append(f"{what}: {exc.reason}")
            await asyncio.sleep(delay if exc.retry_after is None else min(exc.retry_after, 2.0))
            delay = min(delay * 2, 2.0)


async def run_node(node: Node, hq: HQ, clock: Clock, args: argparse.Namespace, stats: Stats,
                   captured: dict[str, int], done: asyncio.Event) -> None:
    rng = random.Random(node.id)
    await asyncio.sleep(rng.random() * args.poll)
    while True:
        advance(node, clock.sim(), args.hours * 3600, args.image_bytes, captured)
        while node.unsent:    # votes first
            batch = node.unsent[:protocol.MAX_BATCH_LINES]
            body = protocol.frame(batch)
            began = time.monotonic()
            receipt, _url = await _call(stats, f"{node.id} POST", hq.post_packets, body, batch[-1].seq,
                                        batch[-1].hash)
            stats.posts.append((time.monotonic(), time.monotonic() - began))
            assert receipt.seq == batch[-1].seq
            node.acked = receipt.seq
            del node.unsent[:len(batch)]
        while node.images and node.images[0][0] <= node.acked:
            _seq, sha, data = node.images[0]
            began = time.monotonic()
            offset = 0
            while True:
                result = await _call(stats, f"{node.id} PUT", hq.put_blob, sha, Path("/nonexistent"), offset,
                                     len(data), data)
                if isinstance(result, str):
                    break
                offset = result
            stats.puts.append((time.monotonic(), time.monotonic() - began))
            node.images.pop(0)
            node.stored += 1
        if done.is_set() and not node.events and not node.unsent and not node.images:
            return
        await asyncio.sleep(args.poll)


def _cpu(pids: list[int]) -> float:
    """CPU seconds of these process trees; pid 0 is this process alone (not its children)."""
    total = 0.0
    for pid in pids:
        if pid == 0:
            t = os.times()
            total += t.user + t.system
        else:
            total += cpu_s(pid)
    return total


def rss_mb(pid: int) -> float:
    """Resident memory of `pid` and its children (a receiver and its verify worker), in MB."""
    total = 0.0
    try:
        pids = [pid] + [int(c) for t in os.listdir(f"/proc/{pid}/task")
                        for c in Path(f"/proc/{pid}/task/{t}/children").read_text().split()]
    except OSError:
        return 0.0
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) / 1024
        except OSError:
            pass
    return total


def _tree(pid: int) -> list[int]:
    """`pid` and every live descendant."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def cpu_s(pid: int) -> float:
    """CPU seconds used by `pid`'s process tree (live processes, and the children they reaped)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for p in _tree(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(f) for f in fields[11:15])   # utime stime cutime cstime
    return total / tick


def db_mb(url: str) -> float:
    import psycopg

    with psycopg.connect(url) as conn:
        return float(conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]) / 1e6


def p99(values: list[float]) -> float | None:
    if len(values) < 2:
        return values[0] if values else None
    return statistics.quantiles(values, n=100, method="inclusive")[98]


def ms(value: float | None) -> str:
    return "—" if value is None else f"{value * 1000:.1f} ms"


def start_receiver(hq: HQDir, workers: int, log: Path) -> tuple[subprocess.Popen[str], str]:
    out = log.open("ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "hq.cli", "-d", str(hq.root), "serve", "--port", "0",
         "--workers", str(workers)],
        stdout=subprocess.PIPE, stderr=out, text=True, cwd=ROOT)
    out.close()
    assert proc.stdout is not None
    for line in proc.stdout:
        match = re.search(r"(http://\S+)", line)
        if match:
            return proc, match.group(1)
    raise RuntimeError(f"catd-hq serve did not start; see {log}")


@dataclass
class Cut:
    n: int
    sim_s: float
    real_s: float
    slot_s: float
    began: float
    ended: float
    summary: dict[str, str] | None
    rss: list[float]
    db: float
    cpu: float = 0.0   # CPU seconds of the cut's child


async def publish_child(hq: HQDir, at: datetime, final: bool) -> dict[str, str] | None:
    """`catd-hq publish --at AT` as hq/schedule.py runs it (nice 10, idle I/O); the cut's
    summary, or None after printing why the child failed."""
    argv = [*schedule._idle_io(), sys.executable, "-m", "hq.cli", "-d", str(hq.root), "publish",
            "--at", at.isoformat(), *(["--final"] if final else [])]
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=ROOT,
        preexec_fn=lambda: os.nice(schedule.NICE))
    out, err = await proc.communicate()
    if proc.returncode != 0:
        print(f"cut at {at:%H:%M}Z failed (exit {proc.returncode}):\n{err.decode(errors='replace')[-3000:]}",
              flush=True)
        return None
    path = Path(out.decode().strip().splitlines()[-1])
    with zipfile.ZipFile(path) as archive:
        return manifest.parse(archive.read(manifest.NAME)).summary


async def publisher(hq: HQDir, url: str, clock: Clock, args: argparse.Namespace, receivers: list[int],
                    stats: Stats, cuts: list[Cut], missed: list[int], drained: asyncio.Event) -> None:
    every = args.minutes_per_cut * 60.0
    slot_real = every / args.speed
    slots = int(args.hours * 60 // args.minutes_per_cut)
    for k in range(1, slots + 1):
        final = k == slots
        wait = clock.t0 + k * slot_real - time.monotonic()
        if wait < 0 and not final:      # the previous cut ran past this slot: not made up
            missed.append(k)
            continue
        await asyncio.sleep(max(0.0, wait))
        if final:
            await drained.wait()        # the final cut holds everything the CATDs sent
        at = CLOSE + timedelta(seconds=k * every)
        began = time.monotonic()
        used = resource.getrusage(resource.RUSAGE_CHILDREN)
        summary = await publish_child(hq, at, final)
        ended = time.monotonic()
        now = resource.getrusage(resource.RUSAGE_CHILDREN)
        cut = Cut(k, k * every, ended - began, slot_real, began, ended, summary,
                  [rss_mb(pid) for pid in receivers], await asyncio.to_thread(db_mb, url),
                  now.ru_utime + now.ru_stime - used.ru_utime - used.ru_stime)
        cuts.append(cut)
        during = p99([d for end, d in stats.posts if began <= end <= ended])
        held = summary.get("ACTAS_CAPTURADAS") if summary else "NOT PUBLISHED"
        print(f"cut {k:3d} {at + LOCAL:%d %H:%M} (+{k * every / 3600:5.2f} h)  {cut.real_s:6.1f} s "
              f"(CPU {cut.cpu:5.1f} s) of "
              f"{slot_real:5.1f} s  p99 POST {ms(during):>9}  RSS "
              f"{' + '.join(f'{r:.0f}' for r in cut.rss)} MB  db {cut.db:7.1f} MB  captured {held}",
              flush=True)


async def night(args: argparse.Namespace, hq: HQDir, url: str, nodes: list[Node], urls: list[str],
                receivers: list[int]) -> tuple[Stats, list[Cut], list[int], Clock, float]:
    stats, cuts, missed = Stats(), [], []
    clock = Clock(args.speed)
    captured: dict[str, int] = {}
    hq_key = hq.public_key()
    done, drained = asyncio.Event(), asyncio.Event()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None), trust_env=False,
                                     connector=aiohttp.TCPConnector(limit=128)) as session:
        clients = []
        for i, node in enumerate(nodes):
            mine = [urls[i % len(urls)]] + [u for u in urls if u != urls[i % len(urls)]]
            clients.append(HQ(session, Endpoints(tuple(mine), 1e9), node.id, hq_key,
                              Timeouts(connect=5.0, read=60.0), node.key))
        clock.t0 = time.monotonic()
        tasks = [asyncio.ensure_future(run_node(n, c, clock, args, stats, captured, done))
                 for n, c in zip(nodes, clients, strict=True)]
        pub = asyncio.ensure_future(publisher(hq, url, clock, args, receivers, stats, cuts, missed, drained))
        await asyncio.sleep(args.hours * 3600 / args.speed)
        done.set()
        try:
            await asyncio.gather(*tasks)
        except LaneStopped as exc:
            print(f"a CATD was refused: {exc}", flush=True)
            raise
        drain_s = time.monotonic() - clock.t0 - args.hours * 3600 / args.speed
        drained.set()
        await pub
    return stats, cuts, missed, clock, drain_s


def totals(hq: HQDir, nodes: list[Node], cuts: list[Cut]) -> list[tuple[str, bool, str]]:
    """(goal, met, figures) of 'nothing lost or counted twice'."""
    conn = hq.connect()
    try:
        rows, distinct = conn.execute(
            "SELECT COUNT(*), COUNT(DISTINCT node || '/' || seq) FROM packets").fetchone()
        heads = dict(conn.execute("SELECT node, MAX(seq) FROM packets GROUP BY node").fetchall())
        blobs = conn.execute("SELECT COUNT(*) FROM blobs").fetchone()[0]
        lacking = sum(hq_store.status(conn)["nodes"][n.id]["blobs_missing"] for n in nodes)
    finally:
        conn.close()
    sent = sum(n.seq for n in nodes)
    images = sum(n.stored for n in nodes)
    verified = sum(n.verified for n in nodes)
    acked = sum(n.acked for n in nodes)
    out = [("packets: HQ holds each sent once", rows == distinct == sent and all(
        heads.get(n.id) == n.seq == n.acked for n in nodes),
        f"sent {sent:,}, acknowledged {acked:,}, HQ holds {rows:,} ({distinct:,} distinct)"),
        ("images: HQ holds each sent, lacks none", blobs == images and lacking == 0,
         f"sent {images:,}, HQ holds {blobs:,}, missing {lacking}")]
    final = cuts[-1] if cuts else None
    if final is None or final.summary is None:
        out.append(("final cut counts every acta once", False, "no final cut"))
        return out
    path = max((hq.root / "publicacion").glob("*_PREP_*.zip"))
    with zipfile.ZipFile(path) as archive:
        built = manifest.parse(archive.read(manifest.NAME), path.name)
    captured = int(final.summary.get("ACTAS_CAPTURADAS", -1))
    counted = int(final.summary.get("ACTAS_CONTABILIZADAS", -1))
    heads_ok = all(built.nodes.get(n.id, (0,))[0] == n.seq for n in nodes)
    whole = captured == counted == verified and heads_ok and built.final
    out.append(("final cut counts every acta once", whole,
                f"{verified:,} actas verified by the CATDs; the final cut ({path.name}): {captured:,} "
                f"captured, {counted:,} counted, heads {'=' if heads_ok else '≠'} the CATDs'"))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hours", type=float, default=24.0, help="simulated hours (default 24)")
    parser.add_argument("--minutes-per-cut", type=float, default=20.0, help="simulated minutes (default 20)")
    parser.add_argument("--speed", type=float, default=60.0, help="simulated seconds per real second (60)")
    parser.add_argument("--catds", type=int, default=300)
    parser.add_argument("--actas", type=int, default=170_648, help="actas in the catalog (default 170,648)")
    parser.add_argument("--rate", type=float, default=30.0, help="actas a CATD captures an hour (30)")
    parser.add_argument("--image-bytes", type=int, default=3000, help="bytes of each image (3,000)")
    parser.add_argument("--poll", type=float, default=2.0, help="real seconds between a CATD's sends (2)")
    parser.add_argument("--receivers", type=int, default=2)
    parser.add_argument("--workers", type=int, default=1, help="verify processes per receiver (1)")
    parser.add_argument("--flat-after", type=float, default=4.0,
                        help="simulated hours after which receiver memory must stay flat (4)")
    parser.add_argument("--keep", type=Path, help="keep HQ's data dir here (default: a temporary one)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s %(message)s")

    from tests import pgserver

    work = Path(tempfile.mkdtemp(prefix="catd-night-"))
    server = pgserver.start(durable=True)
    procs: list[subprocess.Popen[str]] = []
    try:
        url = server.create()
        doc = election(args.actas, args.catds)
        (work / "election.json").write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
        hq = hq_store.init(args.keep or work / "hq", work / "election.json", url)
        by_catd: dict[str, list[str]] = {}
        for a in doc["actas"]:
            by_catd.setdefault(a["catd"], []).append(a["clave_acta"])
        rng = random.Random(2024)
        nodes = []
        election_sha = sha256_hex((work / "election.json").read_bytes())
        conn = hq.connect()
        try:
            for node_id, actas in sorted(by_catd.items()):
                key = keys.generate()
                hq_store.add_node(conn, node_id, keys.public_pem(key.public_key()))
                node = Node(node_id, key, actas, rng.random() * 3600, 3600 / args.rate)
                pem = keys.public_pem(key.public_key()).decode()
                node.seal("node.genesis", {"node": node_id, "pubkey": pem, "election": doc["election"],
                                           "election_sha256": election_sha, "actas_expected": len(actas)},
                          stamp(0))
                plan(node, rng)
                nodes.append(node)
        finally:
            conn.close()
        last = max(n.events[-1][0] if n.events else 0 for n in nodes) if nodes else 0
        longest = max((n.start_s + len(n.actas) * n.gap_s for n in nodes), default=0) / 3600
        print(f"night: {args.catds} CATDs, {args.actas:,} actas ({args.actas / max(1, args.catds):.0f} a "
              f"CATD at {args.rate:g}/h: ~{longest:.1f} simulated h), {args.hours:g} h at ×{args.speed:g} = "
              f"{args.hours * 3600 / args.speed / 60:.1f} real min, a cut every {args.minutes_per_cut:g} "
              f"simulated min ({args.minutes_per_cut * 60 / args.speed:.1f} real s); {args.receivers} "
              f"receivers × {args.workers} workers on PostgreSQL; images {args.image_bytes:,} bytes; load "
              f"{os.getloadavg()[0]:.1f}", flush=True)
        if last > args.hours * 3600:
            print(f"note: the last acta's acopio is at +{last / 3600:.1f} h, after the night's end",
                  flush=True)
        urls = []
        for r in range(args.receivers):
            proc, base = start_receiver(hq, args.workers, work / f"receiver-{r}.log")
            procs.append(proc)
            urls.append(base)
        started = time.monotonic()
        parts = {"receivers": [p.pid for p in procs], "postgres": [server.proc.pid], "this simulator": [0]}
        before = {name: _cpu(pids) for name, pids in parts.items()}
        stats, cuts, missed, _clock, drain_s = asyncio.run(
            night(args, hq, url, nodes, urls, [p.pid for p in procs]))
        real = time.monotonic() - started
        used = {name: _cpu(pids) - before[name] for name, pids in parts.items()}
        code = report(args, hq, nodes, stats, cuts, missed, real, drain_s)
        print(f"CPU over the run ({real:.0f} s real, {os.cpu_count()} cores): " + ", ".join(
            f"{name} {sec:.0f} s" for name, sec in used.items())
            + f"; cuts (children at nice 10) {sum(c.cpu for c in cuts):.0f} s")
        return code
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


def report(args: argparse.Namespace, hq: HQDir, nodes: list[Node], stats: Stats, cuts: list[Cut],
           missed: list[int], real: float, drain_s: float) -> int:
    slots = int(args.hours * 60 // args.minutes_per_cut)
    slot_real = args.minutes_per_cut * 60 / args.speed
    windows = [(c.began, c.ended) for c in cuts]
    outside = [d for end, d in stats.posts if not any(b <= end <= e for b, e in windows)]
    inside = [d for end, d in stats.posts if any(b <= end <= e for b, e in windows)]
    late = [c for c in cuts if c.real_s > slot_real]
    print(f"\nran {real / 60:.1f} real min (the CATDs drained {max(0.0, drain_s):.1f} s after the night's "
          f"end); {len(stats.posts):,} POSTs, {len(stats.puts):,} PUTs, {stats.retries} retried; load "
          f"{os.getloadavg()[0]:.1f}")
    print(f"POST p99 while a cut is written {ms(p99(inside))}, otherwise {ms(p99(outside))}; "
          f"PUT p99 {ms(p99([d for _, d in stats.puts]))}")
    if cuts:
        print(f"cut real seconds: median {statistics.median(c.real_s for c in cuts):.1f}, max "
              f"{max(c.real_s for c in cuts):.1f} (slot {slot_real:.1f} s at ×{args.speed:g}; a real night's "
              f"slot is {args.minutes_per_cut * 60:.0f} s)")
    for line in stats.errors[:5]:
        print(f"  retried: {line}")
    goals: list[tuple[str, bool, str]] = [
        (f"every cut within its slot ({slot_real:.1f} real s)", len(cuts) == slots and not missed and not late
         and all(c.summary is not None for c in cuts),
         f"{len(cuts)} of {slots} published, {len(missed)} slots missed, {len(late)} over the slot"
         + (f" (first: cut {late[0].n}, {late[0].real_s:.1f} s)" if late else ""))]
    flat_at = min(args.flat_after, args.hours / 4) * 3600
    early = [c for c in cuts if c.sim_s <= flat_at] or cuts[:1]
    later = [c for c in cuts if c.sim_s > early[-1].sim_s] if early else []
    if early and later:
        flat_at = early[-1].sim_s
        base = early[-1].rss
        top = [max(c.rss[r] for c in later) for r in range(len(base))]
        flat = all(t <= b * GROWTH for b, t in zip(base, top, strict=True))
        goals.append((f"receiver memory flat after +{flat_at / 3600:.2f} h (≤ {GROWTH - 1:.0%} growth)", flat,
                      ", ".join(f"receiver {r}: {b:.0f} → max {t:.0f} MB ({t / b - 1:+.0%})"
                                for r, (b, t) in enumerate(zip(base, top, strict=True)))))
    else:
        goals.append(("receiver memory flat", False, "too few cuts to tell"))
    goals += totals(hq, nodes, cuts)
    print()
    for goal, met, figures in goals:
        print(f"{'PASS' if met else 'FAIL'}  {goal}: {figures}")
    return 0 if all(met for _, met, _ in goals) else 1


if __name__ == "__main__":
    sys.exit(main())
