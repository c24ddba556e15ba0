"""Sync drain benchmark (issue 4): a backlog of packets and images over loopback to a real
`catd-hq serve` process, beside a bare aiohttp upload loop of the same bytes.

The bare loop POSTs the same NDJSON batches (same batch sizing) and PUTs the same blobs
(same number in flight). Two limits, each measured in the same run as the drain:
- the issue's: the bare loop to a trivial aiohttp server (own process) that only reads each
  body into memory — the link's ceiling. Target: drain ≥ 80% of it.
- the physical floor for durable, verified storage: the same bare loop to a trivial server
  that checks one Ed25519 signature per packet line (on threads: the verify releases the
  GIL) and writes each body durably (temp file, fsync, rename, fsync of the directory).

    .venv/bin/python benchmarks/sync.py            # 10,000 packets, 1,000 images of ~100 KB
    .venv/bin/python benchmarks/sync.py --quick    # 1,000 packets, 100 images, one round
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import logging
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
from aiohttp import web  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey  # noqa: E402

from catd_node import datadir, keys, store  # noqa: E402
from catd_node.blobs import fsync_dir  # noqa: E402
from catd_node.packets import digest  # noqa: E402
from hq import store as hq_store  # noqa: E402
from sync import client, protocol  # noqa: E402
from sync.policy import Policy  # noqa: E402

ELECTION = ROOT / "catd_node" / "data" / "election.json"
LABELS = {"drain": "drain to catd-hq         ", "bare": "bare aiohttp loop        ",
          "floor": "bare loop→durable+verify ", "to_hq": "bare loop→catd-hq        "}
NODE_ID = "CATD-14-01"
_URL = re.compile(r"serving (http://\S+)")


def build_backlog(root: Path, hq_pub: Path, packets: int, images: int, image_size: int) -> None:
    """A node whose chain holds `packets` packets, `images` of them acta.digitized with a blob."""
    node = datadir.init(root, NODE_ID, ELECTION, hq_pubkey=hq_pub)
    actas = list(node.election.actas)
    rng = random.Random(2027)
    blobs = node.blobs()
    ledger = node.ledger()
    every = max(1, (packets - 1) // max(images, 1))
    made_images = 0
    try:
        seq = 1
        while seq < packets:
            with ledger.transaction() as tx:
                for _ in range(min(500, packets - seq)):
                    seq += 1
                    acta = actas[seq % len(actas)]
                    if made_images < images and seq % every == 0:
                        data = rng.randbytes(image_size + rng.randrange(-image_size // 10, image_size // 10))
                        sha = blobs.put(data)
                        made_images += 1
                        tx.append("acta.digitized", {
                            "image": {"sha256": sha, "bytes": len(data), "format": "webp", "width": 1700,
                                      "height": 2200, "dpi": 200},
                            "original": {"sha256": sha, "bytes": len(data), "name": f"scan-{seq}.jpg"},
                            "source": {"kind": "scanner", "id": "scanner-1"}, "acta": acta,
                            "identified_by": "filename",
                        })
                    else:
                        tx.append("acta.acopio", {"acta": acta, "by": "ana", "in_catalog": True})
    finally:
        ledger.close()


def start(cmd: list[str], log: Path) -> tuple[subprocess.Popen[str], str]:
    with log.open("a") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True, cwd=ROOT,
                                env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.stdout is not None
    for line in proc.stdout:
        match = _URL.search(line)
        if match:
            return proc, match.group(1)
    raise RuntimeError(f"{cmd[:4]} did not start; see {log}")


def stop(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    proc.wait(30)


# -- the bare loop ------------------------------------------------------------------------


async def _read_body(request: web.Request) -> web.Response:
    size = 0
    async for chunk in request.content.iter_chunked(256 * 1024):
        size += len(chunk)
    return web.json_response({"read": size})


def _write_durably(folder: Path, name: str, data: bytes) -> None:
    tmp = folder / f".{name}.tmp"
    with tmp.open("wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, folder / name)
    fsync_dir(folder)


def _verify_lines(pub: Ed25519PublicKey, lines: list[bytes]) -> None:
    for line in lines:
        wire = json.loads(line)
        raw = digest(wire["canonical"].encode("utf-8"))
        if not keys.verify(pub, base64.b64decode(wire["sig"]), raw):
            raise web.HTTPUnprocessableEntity(text="bad signature")


def _durable_app(folder: Path, pub: Ed25519PublicKey) -> web.Application:
    """Verify each packet line, store each body durably; nothing else (no database)."""
    pool = ThreadPoolExecutor(4)
    counter = iter(range(1 << 62))

    async def packets_handler(request: web.Request) -> web.Response:
        body = await request.read()
        lines = body.splitlines()
        loop = asyncio.get_running_loop()
        half = (len(lines) + 1) // 2  # two cores: verify the two halves at once
        await asyncio.gather(*(loop.run_in_executor(pool, _verify_lines, pub, part)
                               for part in (lines[:half], lines[half:]) if part))
        await loop.run_in_executor(pool, _write_durably, folder, f"batch-{next(counter)}", body)
        return web.json_response({"stored": len(lines)})

    async def blob_handler(request: web.Request) -> web.Response:
        body = await request.read()
        await asyncio.get_running_loop().run_in_executor(
            pool, _write_durably, folder, request.match_info["sha256"], body)
        return web.json_response({"stored": True}, status=201)

    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_post(protocol.PACKETS_PATH, packets_handler)
    app.router.add_put(protocol.BLOB_PATH, blob_handler)
    return app


def bare_server(durable: tuple[Path, Path] | None = None) -> None:
    """`--bare-server`: an aiohttp server that only reads bodies (the link's ceiling);
    `--durable-server DIR PUB`: one that verifies and stores them durably (the floor)."""
    if durable is None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post(protocol.PACKETS_PATH, _read_body)
        app.router.add_put(protocol.BLOB_PATH, _read_body)
    else:
        app = _durable_app(durable[0], keys.read_public(durable[1]))

    async def main() -> None:
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        print(f"bare serving http://127.0.0.1:{runner.addresses[0][1]}", flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())


class Run(NamedTuple):
    """One timed run: seconds in all, and seconds until the last packet was acknowledged."""

    seconds: float
    packets_s: float


class _LastAck(logging.Handler):
    """When the drain's last packet batch was acknowledged (the packet phase's end)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.at = 0.0

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("batch acked"):
            self.at = time.perf_counter()


async def bare_loop(node_root: Path, url: str, workers: int) -> tuple[int, int, float]:
    """POST the same batches and PUT the same blobs; (packets, bytes) sent and the moment the
    packets were done."""
    node = datadir.DataDir(node_root)
    conn = store.connect(node.db_path)
    sizer = client.BatchSizer()
    sent_packets = sent_bytes = 0
    async with aiohttp.ClientSession() as session:
        start_seq = 1
        while True:
            batch = client.read_batch(conn, start_seq, sizer.count, sizer.bytes)
            if not batch:
                break
            body = protocol.frame(batch)
            async with session.post(url + protocol.PACKETS_PATH, data=body,
                                    headers={"Content-Type": protocol.NDJSON}) as resp:
                assert resp.status == 200
                await resp.read()
            sent_packets += len(batch)
            sent_bytes += len(body)
            start_seq = batch[-1].seq + 1
            sizer.grow()
        packets_done = time.perf_counter()
        shas = [row[0] for row in conn.execute("SELECT sha256 FROM blob_refs ORDER BY seq")]
        queue = iter(shas)
        blobs = node.blobs()
        key = node.private_key()  # blob requests are signed (docs/uploads.md), as the client does

        async def worker() -> int:
            total = 0
            for sha in queue:
                path = blobs.path(sha)
                size = path.stat().st_size
                with path.open("rb") as src:
                    headers = protocol.sign_blob_request(key, "PUT", sha, NODE_ID, time.time(), 0, size)
                    async with session.put(url + protocol.blob_path(sha), data=src, headers=headers) as resp:
                        assert resp.status in (200, 201), resp.status
                        await resp.read()
                total += size
            return total

        sent_bytes += sum(await asyncio.gather(*(worker() for _ in range(workers))))
    conn.close()
    return sent_packets, sent_bytes, packets_done


# -- one round ----------------------------------------------------------------------------


def fresh_hq(work: Path, n: int, node_pub: Path) -> hq_store.HQDir:
    hq = hq_store.init(work / f"hq-{n}", ELECTION)
    conn = hq.connect()
    try:
        hq_store.add_node(conn, NODE_ID, node_pub.read_bytes())
    finally:
        conn.close()
    return hq


async def drain_round(work: Path, template: Path, n: int, workers: int) -> Run:
    node_root = work / f"node-{n}"
    shutil.copytree(template, node_root)
    hq = fresh_hq(work, n, node_root / "node.pub")
    shutil.copyfile(hq.pub_path, node_root / "hq.pub")  # trust this round's HQ key
    proc, url = start([sys.executable, "-m", "hq.cli", "-d", str(hq.root), "serve", "--port", "0"],
                      work / "hq.log")
    try:
        node = datadir.DataDir(node_root)
        node.config_path.write_text(
            node.config_path.read_text().replace("urls = []", f'urls = ["{url}"]'), encoding="utf-8")
        node = datadir.DataDir(node_root)
        last_ack = _LastAck()
        sync_log = logging.getLogger("catd.sync")
        sync_log.addHandler(last_ack)
        sync_log.setLevel(logging.INFO)  # for the handler only: nothing is printed
        sync_log.propagate = False
        began = time.perf_counter()
        settings = client.Settings(blob_workers=workers)
        await client.once(node, Policy(base=0.1, cap=1.0, budget=60), settings)
        elapsed = Run(time.perf_counter() - began, last_ack.at - began)
    finally:
        sync_log.removeHandler(last_ack)
        sync_log.propagate = True
        stop(proc)
    conn = hq.connect()
    try:
        status = hq_store.status(conn)["nodes"][NODE_ID]
    finally:
        conn.close()
    assert status["blobs_missing"] == 0 and status["seq"] > 0, status
    shutil.rmtree(node_root)
    shutil.rmtree(hq.root)
    return elapsed


async def loop_to_hq_round(work: Path, template: Path, n: int, workers: int) -> Run:
    """The bare loop against a real catd-hq: what HQ's own work (verify, fsync) costs; the
    drain's distance from this is the client's overhead."""
    hq = fresh_hq(work, 100 + n, template / "node.pub")
    proc, url = start([sys.executable, "-m", "hq.cli", "-d", str(hq.root), "serve", "--port", "0"],
                      work / "hq.log")
    try:
        began = time.perf_counter()
        *_, packets_done = await bare_loop(template, url, workers)
        return Run(time.perf_counter() - began, packets_done - began)
    finally:
        stop(proc)
        shutil.rmtree(hq.root)


async def bare_round(work: Path, template: Path, workers: int) -> tuple[Run, int, int]:
    proc, url = start([sys.executable, str(Path(__file__).resolve()), "--bare-server"], work / "bare.log")
    try:
        began = time.perf_counter()
        sent_packets, sent_bytes, packets_done = await bare_loop(template, url, workers)
        return Run(time.perf_counter() - began, packets_done - began), sent_packets, sent_bytes
    finally:
        stop(proc)


async def durable_round(work: Path, template: Path, n: int, workers: int) -> Run:
    """The bare loop to the durable, verifying trivial server: the floor for HQ's work."""
    folder = work / f"durable-{n}"
    folder.mkdir()
    proc, url = start([sys.executable, str(Path(__file__).resolve()), "--durable-server", str(folder),
                       str(template / "node.pub")], work / "bare.log")
    try:
        began = time.perf_counter()
        *_, packets_done = await bare_loop(template, url, workers)
        return Run(time.perf_counter() - began, packets_done - began)
    finally:
        stop(proc)
        shutil.rmtree(folder)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000 packets, 100 images, one round")
    parser.add_argument("--packets", type=int)
    parser.add_argument("--images", type=int)
    parser.add_argument("--image-kb", type=int, default=100)
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--workers", type=int, default=client.Settings().blob_workers,
                        help="image uploads in flight (both loops)")
    parser.add_argument("--bare-server", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--durable-server", nargs=2, type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare_server or args.durable_server:
        bare_server(args.durable_server)
        return 0
    logging.basicConfig(level=logging.WARNING)
    packets = args.packets or (1_000 if args.quick else 10_000)
    images = args.images or (100 if args.quick else 1_000)
    rounds = args.rounds or (1 if args.quick else 3)
    workers = args.workers
    with tempfile.TemporaryDirectory(prefix="catd-bench-sync-") as tmp:
        work = Path(tmp)
        template = work / "template"
        placeholder = hq_store.init(work / "hq-key", ELECTION)
        began = time.perf_counter()
        build_backlog(template, placeholder.pub_path, packets, images, args.image_kb * 1000)
        print(f"backlog: {packets} packets, {images} images of ~{args.image_kb} KB "
              f"(built in {time.perf_counter() - began:.1f} s)")
        runs: dict[str, list[Run]] = {name: [] for name in LABELS}
        sent = (0, 0)
        for n in range(rounds):  # alternate, so all see the same machine load
            bare, *counts = asyncio.run(bare_round(work, template, workers))
            sent = (counts[0], counts[1])
            runs["bare"].append(bare)
            runs["drain"].append(asyncio.run(drain_round(work, template, n, workers)))
            runs["floor"].append(asyncio.run(durable_round(work, template, n, workers)))
            runs["to_hq"].append(asyncio.run(loop_to_hq_round(work, template, n, workers)))
            done = (f"{LABELS[k].strip()} {v[-1].seconds:.2f} s" for k, v in runs.items())
            print(f"round {n + 1}: " + " · ".join(done))
    med = {k: Run(statistics.median(r.seconds for r in v), statistics.median(r.packets_s for r in v))
           for k, v in runs.items()}
    mb = sent[1] / 1e6
    print(f"sent per run: {sent[0]} packets, {mb:.1f} MB (packets + images), {workers} uploads in flight;"
          f" medians of {rounds} round(s), load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    for key, label in LABELS.items():
        run = med[key]
        print(f"{label}: {run.seconds:6.2f} s  {sent[0] / run.seconds:8.0f} packets/s"
              f"  {mb / run.seconds:6.1f} MB/s   (packets {run.packets_s:5.2f} s,"
              f" images {run.seconds - run.packets_s:5.2f} s)")
    drain_s = med["drain"].seconds
    print(f"drain / bare loop (issue's limit): {med['bare'].seconds / drain_s:.0%} (target ≥ 80%)")
    print(f"drain / durable+verify floor: {med['floor'].seconds / drain_s:.0%}")
    print(f"drain / bare loop to catd-hq (client overhead only): {med['to_hq'].seconds / drain_s:.0%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
