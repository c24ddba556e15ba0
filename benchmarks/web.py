"""30 concurrent clerks capturing and verifying against a real `catd-node web` process.

Half the clerks capture (GET /captura, POST values), half verify blind (GET /verificacion,
POST values), each with its own session. Reported: p50/p99 latency per request kind and
throughput, beside a bare aiohttp "hello" handler measured in the same run with the same
concurrency. Target: p99 ≤ 150 ms.

With `--election FILE` the node is initialised on that catalog (e.g. the 13,384-acta CDMX one
that `catd-hq catalog --from bd-gobierno.csv.gz` writes) as `--node-id` (default: the CATD the
catalog assigns most actas to), and the clerks capture that node's own actas, each form its own
ballot.

With `--compare REV` (repeatable) the same load runs in turn against the web app as it was
at git revision REV (a `git archive` of it, run from a temp dir) and against this work tree, in
fresh copies of one prepared data dir, `--runs` times each; medians are printed per side with
the load average at each run, so both sides meet the same machine conditions.

    .venv/bin/python benchmarks/web.py [--quick] [--actas N] [--clerks N] [--runs N] [--compare REV]
                                       [--election FILE [--node-id ID]]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from catd_node import catalog  # noqa: E402
from catd_node import datadir as datadir_mod  # noqa: E402
from catd_node.web import passwords, users  # noqa: E402

PASSWORD = "clave-de-banco-larga"
TARGET_P99_MS = 150.0
FIELDS = ["PAN", "PRI", "PRD", "PVEM", "PT", "MC", "MORENA", "CNR", "NULOS",
          "TOTAL_ASENTADO", "PERSONAS_VOTARON", "REPRESENTANTES_VOTARON", "BOLETAS_SOBRANTES"]
HELLO = """
import asyncio
from aiohttp import web
async def hello(request):
    return web.Response(text="hello")
async def main():
    app = web.Application()
    app.router.add_get("/", hello)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    print("ready http://127.0.0.1:%d/" % runner.addresses[0][1], flush=True)
    await asyncio.Event().wait()
asyncio.run(main())
"""


def jpeg(seed: int) -> bytes:
    import io

    from PIL import Image

    img = Image.new("RGB", (850, 1100), (250, 250, 245))
    for y in range(0, 1100, 40):
        for x in range(0, 850, 3):
            img.putpixel((x, (y + seed) % 1100), (20, 20, 20))
    out = io.BytesIO()
    img.save(out, "JPEG", quality=60)
    return out.getvalue()


def busiest_catd(path: Path) -> str:
    """The CATD the catalog assigns most actas to (CATD-BENCH when it assigns none)."""
    counts: dict[str, int] = defaultdict(int)
    for spec in catalog.load(path).actas.values():
        if spec.catd:
            counts[spec.catd] += 1
    return max(counts, key=lambda c: counts[c]) if counts else "CATD-BENCH"


def prepare(root: Path, n_actas: int, n_clerks: int, election_file: Path | None = None,
            node_id: str | None = None) -> Path:
    """A node dir with clerks and `n_actas` digitized actas of its own (bench catalog, or the given one)."""
    if election_file is None:
        election: dict[str, Any] = {"election": "Banco de pruebas", "contests": [
            {"id": "DIP", "name": "Diputaciones", "votes": FIELDS[:9], "controls": FIELDS[9:]}],
            "actas": [{"key": f"DIP-14-01-{1000 + i:04d}-B01", "contest": "DIP", "seccion": 1000 + i,
                       "casilla": "B01", "lista_nominal": 750} for i in range(n_actas)]}
        election_file = root / "election.json"
        election_file.write_text(json.dumps(election), encoding="utf-8")
    node_id = node_id or busiest_catd(election_file)
    t0 = time.perf_counter()
    d = datadir_mod.init(root / "catd", node_id, election_file)
    own = d.election.actas_of(node_id)
    print(f"catd-node init {node_id}: {time.perf_counter() - t0:.2f} s for a catalog of "
          f"{len(d.election.actas)} actas ({len(own)} this CATD's)")
    if len(own) < n_actas:
        raise SystemExit(f"{node_id} collects {len(own)} actas; ask for --actas {len(own)} or fewer")
    passwords.PARAMS = passwords.Params(memory_kib=1024, iterations=1, lanes=1)  # setup only; login not timed
    for i in range(n_clerks):
        users.add_user(d, f"clerk{i:02d}", "capturista" if i % 2 == 0 else "verificador", PASSWORD)
    ledger = d.ledger()
    blobs = d.blobs()
    try:
        for i, key in enumerate(own[:n_actas]):
            data = jpeg(i)
            sha = blobs.put(data)
            ledger.append("acta.digitized", {
                "image": {"sha256": sha, "bytes": len(data), "format": "jpeg", "width": 850, "height": 1100,
                          "dpi": 200},
                "original": {"sha256": sha, "bytes": len(data), "name": f"{key}.jpg"},
                "source": {"kind": "scanner", "id": "scanner-1"}, "acta": key,
                "identified_by": "filename"})
    finally:
        ledger.close()
    return d.root


def start(cmd: list[str], pattern: str, code: Path | None = None) -> tuple[subprocess.Popen[str], str]:
    """Start `cmd`; with `code`, import catd_node from that tree instead of this one."""
    env = dict(os.environ, PYTHONPATH=str(code)) if code else None
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            cwd=code or ROOT, env=env)
    assert proc.stdout is not None
    while True:
        line = proc.stdout.readline()
        if not line:
            raise SystemExit(f"{cmd[:4]} did not start")
        if m := re.search(pattern, line):
            return proc, m.group(1) if m.groups() else ""


def stop(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


def hidden(page: str, name: str) -> str | None:
    m = re.search(rf'name="{name}" value="([^"]*)"', page)
    return m.group(1) if m else None


async def timed(lat: dict[str, list[float]], kind: str, coro: Any) -> tuple[int, str]:
    t0 = time.perf_counter()
    async with coro as r:
        body = await r.read()
        status = r.status
    lat[kind].append((time.perf_counter() - t0) * 1000)
    return status, body.decode("utf-8", "replace")


async def clerk(url: str, name: str, stage: str, lat: dict[str, list[float]], done: dict[str, int],
                total: int) -> None:
    headers = {"Sec-Fetch-Site": "same-origin"}
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as s:
        login = {"usuario": name, "contrasena": PASSWORD}
        async with s.post(f"{url}/login", data=login, headers=headers) as r:
            assert r.status == 200, f"{name} login {r.status}"
        path = "/captura" if stage == "capture" else "/verificacion"
        while done["verified"] < total:
            status, page = await timed(lat, f"GET {path}", s.get(url + path))
            key = hidden(page, "acta")
            if key is None:
                if stage == "capture" and done["captured"] >= total:
                    return
                await asyncio.sleep(0.05)  # nothing to verify yet
                continue
            sha = hidden(page, "imagen")
            await timed(lat, "GET /imagenes", s.get(f"{url}/imagenes/{sha}"))
            # The form's own fields (the acta's ballot); the same values in capture and verification.
            seed = int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "big")
            names = re.findall(r'name="(v_[^"]+)"', page)
            values = {name: str((seed * (i + 3)) % 200) for i, name in enumerate(names)}
            status, _ = await timed(lat, f"POST {path}", s.post(
                url + path, data={"acta": key, "imagen": sha or "", **values}, headers=headers,
                allow_redirects=False))
            if status == 303:
                done["captured" if stage == "capture" else "verified"] += 1


async def hello_run(url: str, clients: int, requests: int) -> list[float]:
    lat: dict[str, list[float]] = defaultdict(list)
    left = [requests]

    async def one() -> None:
        async with aiohttp.ClientSession() as s:
            while left[0] > 0:
                left[0] -= 1
                await timed(lat, "hello", s.get(url))

    await asyncio.gather(*(one() for _ in range(clients)))
    return lat["hello"]


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def checkout(rev: str, into: Path) -> Path:
    """The importable packages of git revision `rev`, unpacked under `into`."""
    into.mkdir()
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "catd_node", "scanners", "sync"],
                             check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


async def metric(url: str, name: str, work: Path) -> float | None:
    """A value from /metrics, with the data dir's monitoring token (older code needs none)."""
    token = work / "status.token"
    headers = {"Authorization": f"Bearer {token.read_text().strip()}"} if token.exists() else {}
    async with aiohttp.ClientSession() as s, s.get(f"{url}/metrics", headers=headers) as r:
        m = re.search(rf"^{name} (\S+)$", await r.text(), re.M)
    return float(m.group(1)) if m else None


@dataclass
class Run:
    lat: dict[str, list[float]]
    hello: list[float]
    elapsed: float
    load: float  # 1-minute load average, mean of before and after
    per_commit: float | None  # submits per write transaction (None: code without the counters)

    @property
    def app(self) -> list[float]:
        return [x for v in self.lat.values() for x in v]

    @property
    def posts(self) -> list[float]:
        return [x for k, v in self.lat.items() if k.startswith("POST") for x in v]


async def one_run(template: Path, work: Path, args: argparse.Namespace, code: Path | None) -> Run:
    """One timed load against a fresh copy of the prepared data dir, then the hello baseline."""
    if work.exists():
        shutil.rmtree(work)
    shutil.copytree(template, work)
    load_before = os.getloadavg()[0]
    cmd = [sys.executable, "-m", "catd_node.cli", "web", "-d", str(work),
           "--host", "127.0.0.1", "--port", "0"]
    web, url = start(cmd, r"(http://127\.0\.0\.1:\d+)/", code)
    lat: dict[str, list[float]] = defaultdict(list)
    done = {"captured": 0, "verified": 0}
    try:
        t0 = time.perf_counter()
        await asyncio.gather(*(
            clerk(url, f"clerk{i:02d}", "capture" if i % 2 == 0 else "verify", lat, done, args.actas)
            for i in range(args.clerks)))
        elapsed = time.perf_counter() - t0
        commits = await metric(url, "catd_web_commits_total", work)
        steps = await metric(url, "catd_web_commit_steps_total", work)
    finally:
        stop(web)
    hello, hello_url = start([sys.executable, "-c", HELLO], r"ready (http://127\.0\.0\.1:\d+/)")
    try:
        n_requests = sum(len(v) for v in lat.values())
        hello_lat = await hello_run(hello_url, args.clerks, min(n_requests, 6000))
    finally:
        stop(hello)
    load = (load_before + os.getloadavg()[0]) / 2
    return Run(lat, hello_lat, elapsed, load, steps / commits if commits and steps else None)


def report(label: str, run: Run, args: argparse.Namespace) -> None:
    grouping = f", {run.per_commit:.2f} writes per commit" if run.per_commit else ""
    print(f"\n[{label}] {args.clerks} concurrent clerks, {args.actas} actas captured and verified in "
          f"{run.elapsed:.1f} s, load average {run.load:.1f}{grouping}")
    print(f"{'request':<22}{'n':>7}{'p50 ms':>9}{'p99 ms':>9}")
    for kind in sorted(run.lat):
        values = run.lat[kind]
        print(f"{kind:<22}{len(values):>7}{pct(values, 50):>9.1f}{pct(values, 99):>9.1f}")
    for name, values in (("all app requests", run.app), ("bare aiohttp hello", run.hello)):
        print(f"{name:<22}{len(values):>7}{pct(values, 50):>9.1f}{pct(values, 99):>9.1f}")
    p99 = pct(run.app, 99)
    print(f"throughput: {args.actas / run.elapsed:.1f} actas/s captured+verified, "
          f"{len(run.app) / run.elapsed:.0f} requests/s")
    print(f"p99 all app requests {p99:.1f} ms vs limit {TARGET_P99_MS:.0f} ms: "
          f"{'OK' if p99 <= TARGET_P99_MS else 'OVER'}; "
          f"p50 app/hello ratio {statistics.median(run.app) / statistics.median(run.hello):.1f}x")


def summary(label: str, runs: list[Run], actas: int) -> float:
    """One line of medians over `runs`; returns the median p99 of all app requests."""
    def med(fn: Callable[[Run], float]) -> float:
        return statistics.median(fn(r) for r in runs)

    p99 = med(lambda r: pct(r.app, 99))
    print(f"{label[:12]:<12}{len(runs):>5}{med(lambda r: pct(r.app, 50)):>9.1f}{p99:>9.1f}"
          f"{med(lambda r: pct(r.posts, 50)):>10.1f}{med(lambda r: pct(r.posts, 99)):>10.1f}"
          f"{med(lambda r: pct(r.hello, 50)):>9.1f}{med(lambda r: pct(r.hello, 99)):>9.1f}"
          f"{med(lambda r: actas / r.elapsed):>9.1f}{med(lambda r: r.load):>7.1f}")
    return p99


async def main_async(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="catd-web-bench-") as tmp:
        base = Path(tmp)
        template = prepare(base, args.actas, args.clerks, args.election, args.node_id)  # base/catd
        sides: list[tuple[str, Path | None]] = [("this tree", None)]
        for n, rev in enumerate(args.compare or ()):
            sides.insert(n, (rev, checkout(rev, base / f"rev{n}")))
        results: dict[str, list[Run]] = {label: [] for label, _ in sides}
        for i in range(args.runs):
            for label, code in (sides if i % 2 == 0 else sides[::-1]):  # ABC CBA ABC …
                run = await one_run(template, base / "run", args, code)
                results[label].append(run)
                report(f"{label}, run {len(results[label])}", run, args)
    print(f"\nmedians over runs{' (sides alternated run by run)' if args.compare else ''}; ms, actas/s:")
    print(f"{'code':<12}{'runs':>5}{'app p50':>9}{'app p99':>9}{'POST p50':>10}{'POST p99':>10}"
          f"{'hello50':>9}{'hello99':>9}{'actas/s':>9}{'load':>7}")
    p99 = 0.0
    for label, _ in sides:
        p99 = summary(label, results[label], args.actas)
    verdict = "OK" if p99 <= TARGET_P99_MS else "OVER"
    print(f"median p99 all app requests (this tree) {p99:.1f} ms vs limit {TARGET_P99_MS:.0f} ms: {verdict}")
    return 0 if p99 <= TARGET_P99_MS else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: 40 actas")
    parser.add_argument("--actas", type=int, default=None)
    parser.add_argument("--clerks", type=int, default=30)
    parser.add_argument("--runs", type=int, default=None, help="timed runs per side (default 3; quick 1)")
    parser.add_argument("--compare", metavar="REV", action="append",
                        help="also run the web app of git revision REV, in turn with this tree (repeatable)")
    parser.add_argument("--election", type=Path, help="initialise the node on this catalog (second form: "
                        "e.g. `catd-hq catalog --from bd-gobierno.csv.gz --out FILE`)")
    parser.add_argument("--node-id", help="with --election: the CATD to run as "
                        "(default: the one the catalog assigns most actas to)")
    args = parser.parse_args()
    if args.actas is None:
        args.actas = 40 if args.quick else 300
    if args.runs is None:
        args.runs = 1 if args.quick else 3
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
