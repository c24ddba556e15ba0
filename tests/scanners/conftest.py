"""Helpers for the drop-folder tests: data dirs with short settle times, images, a service child."""

from __future__ import annotations

import io
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from catd_node import datadir, store
from catd_node.datadir import DataDir
from scanners.ingest import Ingestor

ELECTION = Path(__file__).resolve().parents[2] / "catd_node" / "data" / "election.json"
ROOT = Path(__file__).resolve().parents[2]
KEYS = [
    "DIP-14-01-0123-B01", "DIP-14-01-0123-C01", "DIP-14-01-0124-B01", "DIP-14-01-0124-C01",
    "DIP-14-01-0125-B01",
]


def configure(d: DataDir, **scan: int | float) -> DataDir:
    """Set keys of `[scan]` in catd.toml (short settle for tests); returns a fresh DataDir."""
    lines = d.config_path.read_text(encoding="utf-8").splitlines()
    at = lines.index("[scan]")
    for key, value in scan.items():
        lines = [line for line in lines if not line.startswith(f"{key} ")]
        lines.insert(at + 1, f"{key} = {value}")
    d.config_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return DataDir(d.root)


@pytest.fixture
def scan_dir(tmp_path: Path) -> DataDir:
    """An initialised data dir whose scanner settles in 200 ms and quarantines 0-byte files after 1 s."""
    d = datadir.init(tmp_path / "catd", "CATD-14-01", ELECTION)
    return configure(d, settle_ms=200, empty_s=1, max_settle_s=20, rescan_s=2)


@pytest.fixture
def ingestor(scan_dir: DataDir) -> Iterator[Ingestor]:
    """The single writer's ingest steps, in this process, over `scan_dir`."""
    ledger = scan_dir.ledger()
    yield Ingestor(ledger, scan_dir.blobs(), scan_dir.processed, scan_dir.quarantine,
                   scan_dir.config.image, frozenset(scan_dir.election.actas))
    ledger.close()


def inbox(d: DataDir) -> Path:
    return d.scanner_folders()["scanner-1"]


def image_bytes(fmt: str = "JPEG", size: tuple[int, int] = (600, 800), seed: int = 0) -> bytes:
    """A small image whose bytes differ per seed."""
    image = Image.new("L", size, 255)
    for i in range(40):
        x = (seed * 37 + i * 13) % (size[0] - 20)
        y = (seed * 11 + i * 29) % (size[1] - 20)
        image.paste(seed % 200, (x, y, x + 15, y + 15))
    out = io.BytesIO()
    image.save(out, fmt, dpi=(300, 300))
    return out.getvalue()


def tiff_pages(n: int, seed: int = 0) -> bytes:
    pages = [Image.open(io.BytesIO(image_bytes("PNG", seed=seed * 100 + i))).convert("L") for i in range(n)]
    out = io.BytesIO()
    pages[0].save(out, "TIFF", save_all=True, append_images=pages[1:], dpi=(300, 300))
    return out.getvalue()


def drop(path: Path, data: bytes) -> Path:
    """Deliver a finished file by renaming it in from a temp name (what scanimage and phones do)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.part")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return path


def db(d: DataDir) -> sqlite3.Connection:
    return store.connect(d.db_path, readonly=True)


def bodies(d: DataDir, kind: str) -> list[dict[str, Any]]:
    import json

    conn = db(d)
    try:
        rows = conn.execute("SELECT canonical FROM packets WHERE kind = ? ORDER BY seq", (kind,)).fetchall()
    finally:
        conn.close()
    return [json.loads(bytes(r[0]))["body"] for r in rows]


def count(d: DataDir, kind: str) -> int:
    conn = db(d)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM packets WHERE kind = ?", (kind,)).fetchone()[0])
    finally:
        conn.close()


def cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "catd_node.cli", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)


class ScanProcess:
    """`catd-node scan` as a real child in its own process group (so SIGKILL takes its pool too)."""

    def __init__(self, d: DataDir, log: Path, *, once: bool = False, prefix: tuple[str, ...] = ()) -> None:
        self.log = log
        args = [*prefix, sys.executable, "-m", "catd_node.cli", "scan", "-d", str(d.root)]
        if once:
            args.append("--once")
        self._out = log.open("ab")
        self.proc = subprocess.Popen(args, stdout=self._out, stderr=subprocess.STDOUT, cwd=ROOT,
                                     start_new_session=True)

    def text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def terminate(self, timeout: float = 30) -> int:
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=timeout)
        self._kill_group()
        self._out.close()
        return code

    def kill(self) -> None:
        self._kill_group()
        self.proc.wait(timeout=30)
        self._out.close()

    def _kill_group(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.fixture
def scan_process(scan_dir: DataDir, tmp_path: Path) -> Iterator[Callable[..., ScanProcess]]:
    started: list[ScanProcess] = []

    def start(**kwargs: Any) -> ScanProcess:
        proc = ScanProcess(scan_dir, tmp_path / "scan.log", **kwargs)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.alive() or proc.proc.returncode is None:
            proc.kill()
