"""One cut of a national-size election: 170,648 actas, all verified, with evidence.

A synthetic catalog (the 2024 template's 17 vote fields, 300 districts, one CATD each) and a
real hq.db holding every CATD's signed chain: per acta acopio, digitized, two captures and
the verification (853,540 packets plus 300 geneses). Then, each in its own process, so each
peak memory is its own:
  - `catd-hq publish` — count, results CSV, evidence, manifest, zip (the site apart);
  - a bare `csv.writer` of the same rows (read back from the cut) to a file, and the results
    CSV as the cut's writer writes it from the count's records;
  - the site for that cut (first write: every acta page);
and HQ's ingest latency: a `catd-hq serve` on that hq.db takes batches from a CATD at a
steady pace: p99 while a cut is written by a child at nice 10 and ionice idle, as the schedule
runs `catd-hq publish`, against p99 in windows between, with that child stopped (SIGSTOP) and
its writes synced, so that both see the same load on a shared machine; and idle before and after.

    .venv/bin/python benchmarks/publish.py [--actas 170648] [--catds 300] [--cache DIR] [--quick]

The generated hq.db is kept in --cache (default /tmp/catd-bench-publish) for the next run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from catd_node import keys, packets, store  # noqa: E402
from hq import store as hq_store  # noqa: E402
from sync import protocol  # noqa: E402

PARTIES = ["PAN", "PRI", "PRD", "PVEM", "PT", "MC", "MORENA"]
COALITIONS = ["PAN_PRI_PRD", "PAN_PRI", "PAN_PRD", "PRI_PRD", "PVEM_PT_MORENA", "PVEM_PT", "PVEM_MORENA",
              "PT_MORENA"]
CONTROLS = ["TOTAL_BOLETAS_SOBRANTES", "TOTAL_PERSONAS_VOTARON", "TOTAL_REP_PARTIDO_CI_VOTARON",
            "TOTAL_VOTOS_SACADOS", "TOTAL_VOTOS_ASENTADO"]
VOTES = PARTIES + COALITIONS + ["NO_REGISTRADAS", "NULOS"]
CUT_AT = "2024-06-02T20:00"
WINDOW = 5.0   # seconds of each busy, then stopped, window while a cut is written


def acta_keys(n: int) -> list[tuple[str, int, str, int]]:
    """(key, sección, tipo, id) of n actas: secciones 1–9999, casillas B01, C01, C02…"""
    out = []
    per = -(-n // 9999)
    for i in range(n):
        seccion, j = i // per + 1, i % per
        tipo, ident = ("B", 1) if j == 0 else ("C", j)
        out.append((f"09{seccion:04d}{tipo}{ident:02d}00A02", seccion, tipo, ident))
    return out


def election(n: int, catds: int) -> dict[str, Any]:
    kinds = {"NO_REGISTRADAS": "no_registrados", "NULOS": "nulos"}
    return {
        "form": 2, "election": "ELECCION NACIONAL (SINTETICA)",
        "entidad": {"id": 9, "nombre": "CIUDAD DE MÉXICO"},
        "release": "PRES_CDMX", "timezone": "UTC-6",
        "contests": [{"id": "PRES", "name": "Presidencia", "tipo_acta": ["A02"],
                      "votes": [{"field": v, "kind": kinds.get(v, "coalicion" if "_" in v else "partido")}
                                for v in VOTES], "controls": CONTROLS}],
        "actas": [{"clave_acta": key, "contest": "PRES", "seccion": sec, "tipo_casilla": tipo,
                   "id_casilla": ident, "ext_contigua": 0, "tipo_acta": "A02", "distrito": sec % catds + 1,
                   "ubicacion": 1, "lista_nominal": 600, "representantes": 8,
                   "catd": f"CATD-{sec % catds + 1:03d}"}
                  for key, sec, tipo, ident in acta_keys(n)],
    }


def at(i: int) -> str:
    hour, minute, second = 2 + i // 3_600_000 % 20, i // 60_000 % 60, i // 1000 % 60
    return f"2024-06-03T{hour:02d}:{minute:02d}:{second:02d}.{i % 1000:03d}Z"


def chain(task: tuple[str, list[str]]) -> tuple[str, bytes, list[tuple[Any, ...]]]:
    """One CATD's whole chain, signed: rows for the packets table."""
    node, actas = task
    key = keys.generate()
    rows: list[tuple[Any, ...]] = []
    prev, seq, clock = packets.ZERO_HASH, 0, 0

    def add(kind: str, body: dict[str, Any]) -> None:
        nonlocal prev, seq, clock
        seq += 1
        clock += 1500
        p = packets.seal(key, node=node, seq=seq, prev=prev, kind=kind, body=body, at=at(clock))
        rows.append((node, seq, p.hash, kind, p.at, body.get("acta"), p.canonical, p.sig, p.at))
        prev = p.hash

    add("node.genesis", {"node": node, "election": "ELECCION NACIONAL (SINTETICA)"})
    for n, acta in enumerate(actas):
        values: dict[str, Any] = {v: (n * 7 + i * 13) % 40 for i, v in enumerate(VOTES)}
        values.update({c: 300 for c in CONTROLS})
        sha = f"{abs(hash((node, acta))):016x}".ljust(64, "0")[:64]
        add("acta.acopio", {"acta": acta, "by": "caro", "in_catalog": True, "tipo_documento": "ACTA PREP"})
        add("acta.digitized", {"image": {"sha256": sha, "bytes": 115_000, "format": "webp", "width": 1700,
                                         "height": 2200, "dpi": 200},
                               "original": {"sha256": sha, "bytes": 900_000, "name": f"{acta}.jpg"},
                               "source": {"kind": "scanner", "id": "scanner-1"}, "acta": acta,
                               "identified_by": "qr", "origen": "CATD", "digitalizacion": "ESCANER"})
        add("acta.captured", {"acta": acta, "image_sha256": sha, "values": values, "by": "ana", "round": 1})
        first = seq
        add("acta.captured", {"acta": acta, "image_sha256": sha, "values": values, "by": "beto", "round": 2})
        add("acta.verified", {"acta": acta, "image_sha256": sha, "values": values, "class": "counted",
                              "observations": [], "total": sum(values[v] for v in VOTES),
                              "captured_seq": first, "by": "beto"})
    return node, keys.public_pem(key.public_key()), rows


def build(cache: Path, n: int, catds: int) -> Path:
    """The HQ data dir with every chain stored (kept in `cache` for the next run)."""
    root = cache / f"hq-{n}-{catds}"
    if (root / "ready").exists():
        return root
    shutil.rmtree(root, ignore_errors=True)
    cache.mkdir(parents=True, exist_ok=True)
    doc = election(n, catds)
    (cache / "election.json").write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    hq = hq_store.init(root, cache / "election.json")
    by_catd: dict[str, list[str]] = {}
    for a in doc["actas"]:
        by_catd.setdefault(a["catd"], []).append(a["clave_acta"])
    conn = hq.connect()
    started = time.perf_counter()
    with multiprocessing.get_context("fork").Pool(os.cpu_count() or 1) as pool:
        for node, pem, rows in pool.imap_unordered(chain, sorted(by_catd.items()), chunksize=4):
            hq_store.add_node(conn, node, pem)
            with store.immediate(conn):
                conn.executemany("INSERT INTO packets (node, seq, hash, kind, at, acta, canonical, sig,"
                                 " received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
                conn.executemany("INSERT INTO blob_refs (sha256, node, seq) VALUES (?, ?, ?)",
                                 [(json.loads(r[6])["body"]["image"]["sha256"], r[0], r[1])
                                  for r in rows if r[3] == "acta.digitized"])
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    (root / "ready").write_text(f"built in {time.perf_counter() - started:.0f} s\n")
    return root


def child(code: str, *args: str) -> tuple[float, str]:
    """(seconds, stdout) of `python -c code args` in a process of its own (its own peak memory)."""
    started = time.perf_counter()
    run = subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    if run.returncode != 0:
        raise RuntimeError(f"child failed: {run.stderr[-2000:]}")
    return time.perf_counter() - started, run.stdout


PUBLISH = """
import sys, time, resource
from datetime import datetime
from hq.store import HQDir
from hq.release import cut
t = time.perf_counter()
from pathlib import Path
p = cut.publish(HQDir(Path(sys.argv[1])), at=datetime.fromisoformat(sys.argv[2]), site=False)
print(p.path)
print(f"{time.perf_counter() - t:.2f} {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}")
"""
WRITER = """
import csv, gc, statistics, sys, time
from datetime import datetime
from pathlib import Path
from hq.store import HQDir
from hq.count import count
from hq.release import write
hq = HQDir(Path(sys.argv[1]))
election = hq.election()
conn = hq.connect()
t = time.perf_counter()
records = count(conn, election).actas
counted = time.perf_counter() - t
gc.disable()   # as the cut runs
ours, bare = [], []
for _ in range(3):   # alternating, in one process: the shared machine's load drifts
    t = time.perf_counter()
    with open(sys.argv[2], 'w', encoding='utf-8', newline='') as out:
        for line in write.lines(election, records, datetime(2024, 6, 2, 20, 0), False):
            out.write(line)
    ours.append(time.perf_counter() - t)
    with open(sys.argv[2], encoding='utf-8', newline='') as made:
        rows = [line.split('|') for line in made.read().split('\\r\\n')[5:-1]]
    t = time.perf_counter()
    with open(sys.argv[3], 'w', newline='', encoding='utf-8') as out:
        csv.writer(out, delimiter='|').writerows(rows)
    bare.append(time.perf_counter() - t)
    del rows
print(f"{statistics.median(ours):.2f} {statistics.median(bare):.2f} {counted:.2f} {len(records)}")
"""
SITE = """
import sys, time, zipfile, resource
from pathlib import Path
from hq.store import HQDir
from hq.count import count
from hq.release import cut, manifest
from hq.release.site.build import write_site
hq = HQDir(Path(sys.argv[1])); zpath = Path(sys.argv[2]); election = hq.election()
conn = hq.connect(); records = count(conn, election).actas; conn.close()
with zipfile.ZipFile(zpath) as z: built = manifest.parse(z.read(manifest.NAME))
data = cut.CutInput(election, b"", records, built.nodes, {}, hq.pub_path.read_bytes())
t = time.perf_counter()
write_site(hq, zpath.parent, data, built)
first = time.perf_counter() - t
t = time.perf_counter()
write_site(hq, zpath.parent, data, built)
again = time.perf_counter() - t
pages = sum(1 for _ in (zpath.parent / "sitio").rglob("*.html"))
print(f"{first:.2f} {again:.2f} {pages}")
"""


async def pace(url: str, body_of: Any, seconds: float, every: float) -> list[float]:
    """POST a batch every `every` seconds for `seconds`; each answer's latency (ms)."""
    out: list[float] = []
    async with aiohttp.ClientSession() as session:
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            body = body_of()
            t = time.perf_counter()
            async with session.post(url + protocol.PACKETS_PATH, data=body,
                                    headers={"Content-Type": protocol.NDJSON}) as resp:
                assert resp.status == 200, await resp.text()
            out.append((time.perf_counter() - t) * 1000)
            await asyncio.sleep(max(0.0, every - (time.perf_counter() - t)))
    return out


def p99(xs: list[float]) -> float:
    return statistics.quantiles(xs, n=100)[98] if len(xs) >= 2 else (xs[0] if xs else 0.0)


ZIP_ONLY = """
import sys
from datetime import datetime
from pathlib import Path
from hq.store import HQDir
from hq.release import cut
cut.publish(HQDir(Path(sys.argv[1])), at=datetime.fromisoformat(sys.argv[2]), site=False)
"""



def ingest_latency(root: Path, work: Path) -> list[tuple[str, float, float, float, int, int, float]]:
    """For the cut's zip, then the site's first write, each in a child at nice 10 and ionice
    idle (as hq/schedule.py runs `catd-hq publish`): (what, idle p99 ms before and after,
    idle p99 ms in the windows the writer was stopped, p99 ms while it ran, samples in each,
    seconds from its start to its end, stopped windows included)."""
    hq_root = work / "hq-ingest"
    shutil.rmtree(hq_root, ignore_errors=True)
    shutil.copytree(root, hq_root, ignore=shutil.ignore_patterns("publicacion"))
    key = keys.generate()
    conn = hq_store.HQDir(hq_root).connect()
    hq_store.add_node(conn, "CATD-BENCH", keys.public_pem(key.public_key()))
    conn.close()
    state: dict[str, Any] = {"seq": 0, "prev": packets.ZERO_HASH}

    def body() -> bytes:
        batch = []
        for _ in range(20):
            state["seq"] += 1
            p = packets.seal(key, node="CATD-BENCH", seq=state["seq"], prev=state["prev"],
                             kind="acta.captured",
                             body={"acta": f"X{state['seq']}", "values": {"PAN": 1}, "by": "ana", "round": 1})
            state["prev"] = p.hash
            batch.append(p)
        return protocol.frame(batch)

    ionice = [found, "-c", "3"] if (found := shutil.which("ionice")) else []
    proc = subprocess.Popen([sys.executable, "-m", "hq.cli", "-d", str(hq_root), "serve", "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT)
    out = []
    try:
        assert proc.stdout is not None
        url = next(m.group(1) for line in proc.stdout if (m := re.search(r"(http://\S+)", line)))
        asyncio.run(pace(url, body, 3, 0.05))                    # warm up
        for what, code, args in (("cut (zip)", ZIP_ONLY, [CUT_AT]),
                                 ("site, first write", SITE, ["ZIP"])):
            idle = asyncio.run(pace(url, body, 20, 0.05))          # idle before …
            if args == ["ZIP"]:
                args = [str(next((hq_root / "publicacion").glob("*.zip")))]
            writer = subprocess.Popen([*ionice, sys.executable, "-c", code, str(hq_root), *args], cwd=ROOT,
                                      stdout=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": str(ROOT)},
                                      preexec_fn=lambda: os.nice(10))
            t = time.perf_counter()

            async def during(writer: subprocess.Popen[bytes] = writer) -> tuple[list[float], list[float]]:
                """Busy and idle windows in turn while the writer lives: WINDOW s with it running,
                then WINDOW s with it stopped (SIGSTOP, its dirty pages synced first), so both
                samples see the same drifting machine load."""
                busy: list[float] = []
                paused: list[float] = []
                while writer.poll() is None:
                    busy += await pace(url, body, WINDOW, 0.05)
                    if writer.poll() is not None:
                        break
                    writer.send_signal(signal.SIGSTOP)
                    try:
                        await asyncio.to_thread(os.sync)     # nothing of the writer's left to flush
                        paused += await pace(url, body, WINDOW, 0.05)
                    finally:
                        writer.send_signal(signal.SIGCONT)
                return busy, paused
            busy, paused = asyncio.run(during())
            seconds = time.perf_counter() - t
            assert writer.returncode == 0
            idle += asyncio.run(pace(url, body, 20, 0.05))          # … and after: the machine's load drifts
            out.append((what, p99(idle), p99(paused), p99(busy), len(paused), len(busy), seconds))
    finally:
        proc.terminate()
        proc.wait(30)
    return out


def report_ingest(root: Path, work: Path) -> None:
    for what, idle, paused, busy, n_paused, n_busy, seconds in ingest_latency(root, work):
        print(f"HQ ingest p99, batches of 20 every 50 ms, while the {what} is written ({seconds:.0f} s"
              f" with the stops, nice 10, ionice idle): {busy:.1f} ms ({n_busy} batches); in the"
              f" {WINDOW:.0f} s windows it was stopped between: {paused:.1f} ms ({n_paused}); ratio"
              f" {busy / paused:.2f} (≤ 2x: {'met' if busy <= 2 * paused else 'NOT met'});"
              f" idle before and after {idle:.1f} ms, ratio {busy / idle:.2f}")
    print(f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--actas", type=int, default=170_648)
    parser.add_argument("--catds", type=int, default=300)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/catd-bench-publish"))
    parser.add_argument("--quick", action="store_true", help="5,000 actas, 10 CATDs")
    parser.add_argument("--skip-ingest", action="store_true")
    parser.add_argument("--skip-site", action="store_true")
    parser.add_argument("--only-ingest", action="store_true", help="only the ingest latency figures")
    args = parser.parse_args()
    if args.quick:
        args.actas, args.catds = 5_000, 10
    t = time.perf_counter()
    root = build(args.cache, args.actas, args.catds)
    built = (root / "ready").read_text().strip()
    print(f"catalog and hq.db: {args.actas:,} actas, {args.catds} CATDs ({built};"
          f" ready in {time.perf_counter() - t:.0f} s)")
    work = args.cache / "work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    shutil.rmtree(root / "publicacion", ignore_errors=True)
    if args.only_ingest:
        report_ingest(root, work)
        return 0
    wall, out = child(PUBLISH, str(root), CUT_AT)
    zpath = Path(out.splitlines()[0])
    inner, peak = (float(x) for x in out.splitlines()[1].split())
    size = zpath.stat().st_size / 1e6
    with zipfile.ZipFile(zpath) as z:
        evidence = z.getinfo("evidencia.ndjson")
        packets_n = sum(1 for _ in z.open("evidencia.ndjson"))
    ours = child(WRITER, str(root), str(work / "ours.csv"), str(work / "bare.csv"))[1]
    writer_s, bare_s, count_s, rows = (float(x) for x in ours.split())
    print(f"cut ({int(rows):,} rows, {packets_n:,} packets of evidence): {inner:.1f} s, peak {peak:,.0f} MB"
          f" [process {wall:.1f} s]; zip {size:,.0f} MB (evidence {evidence.file_size / 1e6:,.0f} MB →"
          f" {evidence.compress_size / 1e6:,.0f} MB); target ≤ 60 s: {'met' if inner <= 60 else 'NOT met'}")
    print(f"  the count alone (hq.count.count over the store): {count_s:.1f} s")
    print(f"  results CSV from the count's records (order, summary, rows; median of 3): {writer_s:.2f} s;"
          f" bare csv.writer of the same rows: {bare_s:.2f} s; ratio {writer_s / bare_s:.2f}x"
          f" (≤ 3x: {'met' if writer_s <= 3 * bare_s else 'NOT met'})")
    print(f"  whole cut / bare csv.writer: {inner / bare_s:.1f}x")
    if not args.skip_site:
        site_s, again_s, pages = (float(x) for x in child(SITE, str(root), str(zpath))[1].split())
        print(f"site, first write ({int(rows):,} acta pages, {int(pages - rows):,} others: sección, district,"
              f" index): {site_s:.1f} s ({site_s / pages * 1000:.2f} ms a page); the same cut again (nothing"
              f" changed): {again_s:.1f} s")
    if not args.skip_ingest:
        report_ingest(root, work)
    else:
        print(f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
