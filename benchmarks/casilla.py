"""PREP Casilla: the phone's photo, HQ's intake of phone uploads, and coverage → clerk's screen.

1. Bytes per photo after the phone's reduction (simulacro/casilla.py `reduce`, the same steps
   as the page's camera.js: ≤ 1400 px, WebP at falling quality until ≤ 150 KB) and its SSIM
   against the scanner pipeline's image of the same sheet (scanners.pipeline.process at the
   node's defaults), the phone image resized to the scanner image's size. Goals: median
   ≤ 150 KB, SSIM ≥ 0.95. Input: the scanner-style acta specimens of benchmarks/ingest.py.
2. HQ accepting casilla photos (`catd-hq serve`, a child process, SQLite) — each photo the HEAD
   and PUT the page sends, device-signed statement checked, stored once, receipt signed —
   beside a bare aiohttp PUT handler (read, write, fsync, answer) in a child process, same
   photos, same concurrency, same run. Goals: ≥ 100 photos/s and ≥ 50 % of bare. Also the CPU
   each process spends per photo (all its threads, from /proc): steadier than the rates on a
   shared machine, whose disk contention slows bare's fsync on its event loop most.
3. Coverage regained → acta on the clerk's screen: the phone sends a queued photo; a real
   `catd-node sync` service (poll 2 s) pulls it after its next drain; timed until its
   acta.digitized is in the node's ledger (the capture queue reads it from there).

    .venv/bin/python benchmarks/casilla.py [--photos N] [--concurrency N] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
from io import BytesIO
from pathlib import Path
from statistics import median

import aiohttp
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from ingest import make_scan, ssim

from catd_node import config, datadir
from catd_node.config import ImageConfig
from hq import store as hq_store
from hq.casilla import phone
from scanners.pipeline import process
from simulacro.casilla import reduce
from sync import protocol

ROOT = Path(__file__).resolve().parent.parent
ELECTION = ROOT / "catd_node" / "data" / "election.json"
NODE = "CATD-14-01"
BARE = r'''
import os, sys, tempfile
from aiohttp import web
root = sys.argv[1]
async def put(request):
    data = await request.read()
    fd, name = tempfile.mkstemp(dir=root)
    with os.fdopen(fd, "wb") as out:
        out.write(data); out.flush(); os.fsync(out.fileno())
    return web.json_response({"stored": True}, status=201)
async def head(request):
    response = web.StreamResponse(status=404, headers={"Upload-Offset": "0"})
    response.content_length = 0  # else the client cannot reuse the connection
    return response
app = web.Application(client_max_size=8 << 20)
app.router.add_put("/p/{sha}", put)
app.router.add_route("HEAD", "/p/{sha}", head)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[2]), print=lambda *a: print("serving", flush=True))
'''


def photos_part(count: int) -> tuple[list[int], list[float], list[bytes]]:
    sizes, scores, reduced = [], [], []
    cfg = ImageConfig()
    for i in range(count):
        key, scan = make_scan(i)
        scanner = process(scan, f"{key}.jpg", None, cfg, frozenset({key}))[0].compressed
        small = reduce(scan)
        sizes.append(len(small))
        reduced.append(small)
        with Image.open(BytesIO(scanner.data)) as a, Image.open(BytesIO(small)) as b:
            ref = a.convert("L")
            scores.append(ssim(ref, b.convert("L").resize(ref.size, Image.Resampling.LANCZOS)))
    return sizes, scores, reduced


def _free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve_hq(hq: Path) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([sys.executable, "-m", "hq.cli", "-d", str(hq), "serve", "--host", "127.0.0.1",
                             "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            cwd=ROOT)
    assert proc.stdout is not None
    for line in proc.stdout:
        if m := re.search(r"catd-hq serving (http://\S+)", line):
            return proc, m.group(1)
    raise RuntimeError("catd-hq serve did not start")


def _setup(tmp: Path) -> tuple[hq_store.HQDir, datadir.DataDir, Ed25519PrivateKey]:
    hq = hq_store.init(tmp / "hq", ELECTION)
    node = datadir.init(tmp / "node", NODE, ELECTION, hq_urls=(), hq_pubkey=hq.pub_path)
    conn = hq.connect()
    hq_store.add_node(conn, NODE, node.pub_path.read_bytes())
    conn.close()
    key = Ed25519PrivateKey.generate()
    pub = phone.pubkey_b64(key)
    ledger = node.ledger()
    prefix = hashlib.sha256(base64.b64decode(pub)).hexdigest()[:16]
    ledger.append("device.added", {"device": "cae-1", "by": "coord", "pubkey": pub,
                                   "token_sha256_prefix": prefix})
    ledger.close()
    return hq, node, key


async def _post_chain(url: str, node: datadir.DataDir) -> None:
    ledger = node.ledger()
    body = protocol.frame(ledger.packets())
    ledger.close()
    async with aiohttp.ClientSession() as s, s.post(url + protocol.PACKETS_PATH, data=body) as r:
        assert r.status == 200, await r.text()


async def _blast(jobs: list, concurrency: int) -> float:
    queue = list(jobs)
    started = time.perf_counter()

    async def worker() -> None:
        while queue:
            await queue.pop()()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of process `pid`, all its threads (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def intake_part(tmp: Path, payloads: list[bytes],
                      concurrency: int) -> tuple[float, float, float, float]:
    """(HQ photos/s, bare photos/s, HQ CPU ms per photo, bare CPU ms per photo)."""
    hq, node, key = _setup(tmp)
    proc, url = _serve_hq(hq.root)
    bare_dir = tmp / "bare"
    bare_dir.mkdir()
    port = _free_port()
    bare = subprocess.Popen([sys.executable, "-c", BARE, str(bare_dir), str(port)], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    assert bare.stdout is not None
    bare.stdout.readline()
    try:
        await _post_chain(url, node)
        acta = next(iter(node.election.actas))
        signed = [phone.sign(key, "cae-1", NODE, acta, p) for p in payloads]
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:
            def ours(s: phone.Signed, p: bytes):
                async def run() -> None:
                    status, answer = await phone.send(session, url, s, p)
                    assert status == 201, answer
                return run

            def theirs(s: phone.Signed, p: bytes):
                async def run() -> None:
                    base = f"http://127.0.0.1:{port}/p/{s.sha256}"
                    async with session.head(base) as r:
                        await r.read()
                    async with session.put(base, data=p) as r:
                        assert r.status == 201
                        await r.read()
                return run

            cpu = _cpu_s(bare.pid)
            bare_s = await _blast([theirs(s, p) for s, p in zip(signed, payloads, strict=True)], concurrency)
            bare_cpu = _cpu_s(bare.pid) - cpu
            cpu = _cpu_s(proc.pid)
            hq_s = await _blast([ours(s, p) for s, p in zip(signed, payloads, strict=True)], concurrency)
            hq_cpu = _cpu_s(proc.pid) - cpu
        n = len(payloads)
        return n / hq_s, n / bare_s, 1000 * hq_cpu / n, 1000 * bare_cpu / n
    finally:
        for p in (proc, bare):
            p.terminate()
            p.wait(10)


async def coverage_part(tmp: Path, photo: bytes, rounds: int) -> list[float]:
    hq, node, key = _setup(tmp)
    proc, url = _serve_hq(hq.root)
    cfg = node.config
    import dataclasses
    node.config_path.write_text(config.render(dataclasses.replace(cfg, hq=dataclasses.replace(
        cfg.hq, urls=(url,)))), encoding="utf-8")
    sync = subprocess.Popen([sys.executable, "-m", "catd_node.cli", "sync", "-d", str(node.root)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    times = []
    try:
        ledger = sqlite3.connect(f"file:{node.db_path}?mode=ro", uri=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # device.added reached HQ
            async with aiohttp.ClientSession() as s, s.get(f"{url}/v1/nodes/{NODE}/head") as r:
                if (await r.json())["seq"] >= 2:
                    break
            await asyncio.sleep(0.2)
        actas = list(node.election.actas)
        async with aiohttp.ClientSession() as session:
            for i in range(rounds):
                data = photo + bytes([i])  # a distinct photo each round (HQ does not decode it)
                signed = phone.sign(key, "cae-1", NODE, actas[i], data)
                started = time.monotonic()
                status, answer = await phone.send(session, url, signed, data)
                assert status == 201, answer
                query = "SELECT 1 FROM blob_refs WHERE sha256 = ?"
                while not ledger.execute(query, (signed.sha256,)).fetchone():
                    if time.monotonic() - started > 60:
                        raise RuntimeError("the node never recorded the casilla photo")
                    await asyncio.sleep(0.02)
                times.append(time.monotonic() - started)
                await asyncio.sleep(0.7 * i % 2)  # land at different moments of the poll cycle
        ledger.close()
    finally:
        sync.terminate()
        proc.terminate()
        sync.wait(20)
        proc.wait(10)
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=600, help="photos sent to HQ and to bare (default 600)")
    parser.add_argument("--sheets", type=int, default=12, help="acta sheets reduced and compared")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=5, help="coverage → screen rounds (default 5)")
    parser.add_argument("--quick", action="store_true", help="4 sheets, 120 photos, 3 rounds")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        args.sheets, args.photos, args.rounds = 4, 120, 3
    sizes, scores, reduced = photos_part(args.sheets)
    base = reduced[len(reduced) // 2]
    payloads = [base + os.urandom(16) for _ in range(args.photos)]  # distinct photos of real size
    with tempfile.TemporaryDirectory() as tmp:
        hq_rate, bare_rate, hq_cpu, bare_cpu = asyncio.run(intake_part(Path(tmp) / "i", payloads,
                                                                       args.concurrency))
        times = asyncio.run(coverage_part(Path(tmp) / "c", base, args.rounds))
    out = {"bytes_median": median(sizes), "bytes_max": max(sizes), "ssim_median": round(median(scores), 4),
           "ssim_min": round(min(scores), 4), "hq_photos_s": round(hq_rate, 1),
           "bare_photos_s": round(bare_rate, 1), "hq_share_of_bare": round(hq_rate / bare_rate, 3),
           "hq_cpu_ms_per_photo": round(hq_cpu, 2), "bare_cpu_ms_per_photo": round(bare_cpu, 2),
           "coverage_to_screen_s_median": round(median(times), 2),
           "coverage_to_screen_s_max": round(max(times), 2), "sheets": args.sheets, "photos": args.photos,
           "concurrency": args.concurrency, "load": os.getloadavg()[0]}
    if args.json:
        print(json.dumps(out))
        return 0
    print(f"photo after reduction: median {out['bytes_median'] / 1024:.1f} KB "
          f"(max {out['bytes_max'] / 1024:.1f})   goal ≤ 150 KB")
    print(f"SSIM vs scanner image: median {out['ssim_median']} (min {out['ssim_min']})   goal ≥ 0.95")
    print(f"HQ casilla intake: {out['hq_photos_s']} photos/s; "
          f"bare aiohttp PUT: {out['bare_photos_s']} photos/s; "
          f"{100 * out['hq_share_of_bare']:.0f} % of bare   goal ≥ 100/s and ≥ 50 %")
    print(f"CPU per photo (whole process, all threads): HQ {out['hq_cpu_ms_per_photo']} ms, "
          f"bare {out['bare_cpu_ms_per_photo']} ms")
    print(f"coverage regained → acta in the node's ledger: median {out['coverage_to_screen_s_median']} s "
          f"(max {out['coverage_to_screen_s_max']} s, sync poll 2 s)")
    print(f"load average {out['load']:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
