"""A flood of files into one drop folder: 10,000 drain in O(n), clerks unaffected (issue 14).

    .venv/bin/python benchmarks/flood.py [--files N]

A real `catd-node scan` and `catd-node web` run on one data dir. N small distinct images are
renamed into the scanner's folder as fast as they can be written. Printed: the drain time and
rate, the scan service's own count of its work (full sweeps, walked and stat'ed entries per
file — flat when the drain is linear), the time SIGTERM takes afterwards, and the web app's
`/status` latency (a database read, as every clerk page does) before and during the flood.
"""

from __future__ import annotations

import argparse
import io
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from PIL import Image  # noqa: E402

from catd_node import datadir  # noqa: E402

ELECTION = ROOT / "catd_node" / "data" / "election.json"
CLI = [sys.executable, "-m", "catd_node.cli"]


def tiny_png(i: int) -> bytes:
    image = Image.new("L", (64, 80), 255)
    image.putpixel((i % 64, (i // 64) % 80), 0)
    image.putpixel(((i // 5120) % 64, 79), 0)
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def digitized(db: Path) -> int:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM packets WHERE kind = 'acta.digitized'").fetchone()[0])
    finally:
        conn.close()


class Clerk(threading.Thread):
    """Asks the web app for a page ten times a second and keeps each latency (ms)."""

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        super().__init__(daemon=True)
        self.request = urllib.request.Request(url, headers=headers)
        self.samples: list[tuple[float, float]] = []  # (when, ms)
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            start = time.perf_counter()
            try:
                with urllib.request.urlopen(self.request, timeout=10) as answer:
                    answer.read()
                self.samples.append((time.monotonic(), (time.perf_counter() - start) * 1000))
            except OSError:
                pass
            self.done.wait(0.1)

    def between(self, start: float, end: float) -> list[float]:
        return [ms for at, ms in self.samples if start <= at <= end]


def pct(values: list[float], p: float) -> float:
    return sorted(values)[min(len(values) - 1, int(p * len(values)))] if values else float("nan")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=10_000)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="catd-flood-") as tmp:
        d = datadir.init(Path(tmp) / "catd", "CATD-14-01", ELECTION)
        port = free_port()
        text = d.config_path.read_text(encoding="utf-8")
        text = text.replace("settle_ms = 1500", "settle_ms = 200")
        text = text.replace('host = "0.0.0.0"', 'host = "127.0.0.1"')
        d.config_path.write_text(text.replace("port = 8080", f"port = {port}"), encoding="utf-8")
        folder = d.scanner_folders()["scanner-1"]
        images = [tiny_png(i) for i in range(args.files)]
        log = Path(tmp) / "scan.log"
        clerks: dict[str, Clerk] = {}
        web = subprocess.Popen([*CLI, "web", "-d", str(d.root)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
        with log.open("wb") as out:
            scan = subprocess.Popen([*CLI, "scan", "-d", str(d.root)], stdout=out, stderr=subprocess.STDOUT)
        try:
            while "scan_started" not in log.read_text(errors="replace"):
                time.sleep(0.1)
            while True:
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=2).close()
                    break
                except OSError:
                    time.sleep(0.1)
            token = {"Authorization": f"Bearer {d.status_token_path.read_text(encoding='utf-8').strip()}"}
            clerks = {"login": Clerk(f"http://127.0.0.1:{port}/login", {}),
                      "status": Clerk(f"http://127.0.0.1:{port}/status", token)}
            for clerk in clerks.values():
                clerk.start()
            idle_from = time.monotonic()
            time.sleep(10)
            idle_to = start = time.monotonic()
            for i, data in enumerate(images):
                tmp_path = folder / f".hoja-{i:05d}.png.part"
                tmp_path.write_bytes(data)
                os.replace(tmp_path, folder / f"hoja-{i:05d}.png")
            dropped = time.monotonic() - start
            while digitized(d.db_path) < args.files:
                time.sleep(0.5)
            drained = time.monotonic() - start
            end = time.monotonic()
            time.sleep(10)  # the same pages on the grown ledger, the scan service idle
            after = time.monotonic()
            asked = time.monotonic()
            scan.send_signal(signal.SIGTERM)
            scan.wait(timeout=120)
            stop_s = time.monotonic() - asked
        finally:
            for clerk in clerks.values():
                clerk.done.set()
            for proc in (scan, web):
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
                    proc.wait(timeout=60)
        line = next((x for x in log.read_text(errors="replace").splitlines() if "scan_stopped" in x), "")
        work = {k: int(v) for k, v in re.findall(r"(sweeps|walked|stats|claims)=(\d+)", line)}
        n = args.files
        print(f"files: {n}, dropped in {dropped:.1f} s, drained in {drained:.1f} s "
              f"({n / drained:.1f} files/s)")
        print(f"scan work: {work.get('sweeps')} sweeps, {work.get('walked', 0) / n:.2f} walked and "
              f"{work.get('stats', 0) / n:.2f} stat'ed per file, {work.get('claims')} claims")
        print(f"SIGTERM after the drain: stopped in {stop_s:.1f} s")
        for page, clerk in clerks.items():
            shown = []
            for label, (a, b) in (("idle", (idle_from, idle_to)), ("flood", (idle_to, end)),
                                  ("after, same ledger", (end, after))):
                ms = clerk.between(a, b)
                shown.append(f"{label} p50 {pct(ms, .5):.1f} p99 {pct(ms, .99):.1f} "
                             f"max {max(ms, default=float('nan')):.1f} ms ({len(ms)})")
            print(f"web /{page}: " + "; ".join(shown))
        print(f"load average: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
