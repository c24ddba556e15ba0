"""A real scanner program writing into the drop folder: `scanimage` (sane-utils) with its `test` device.

Batch mode writes `scanN.png.part` then renames it (taken at the rename); a scan streamed to
stdout into the folder grows slowly from 0 bytes (taken only once it settles).
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from catd_node.datadir import DataDir
from tests.polling import wait_for
from tests.scanners.conftest import (
    bodies,
    cli,
    configure,
    count,
    inbox,
)

SLOW = ["--read-limit=yes", "--read-limit-size=65536", "--read-delay=yes", "--read-delay-duration=40000"]


def _scanimage() -> str:
    path = shutil.which("scanimage")
    if path is None:
        pytest.skip("scanimage not installed (Debian package sane-utils)")
    probe = subprocess.run([path, "-d", "test", "-n"], capture_output=True, text=True, timeout=60)
    if probe.returncode != 0:
        pytest.skip(f"SANE test device unavailable: {probe.stderr.strip()[:200]}")
    return path


@pytest.mark.slow
def test_scanimage_batch_and_streamed_scans_are_each_ingested_once(scan_dir: DataDir, scan_process,
                                                                    tmp_path: Path) -> None:
    scanimage = _scanimage()
    d = configure(scan_dir, settle_ms=1000, empty_s=60)
    proc = scan_process()
    wait_for(lambda: "scan_started" in proc.text(), what="service start")
    folder = inbox(d)
    common = [scanimage, "-d", "test", "--format=png", "-x", "200", "-y", "200"]

    # 1. Batch mode, like an ADF: three colour pages, then two grid pages.
    subprocess.run([*common, "--mode", "Color", "--test-picture", "Color pattern", "--resolution", "150",
                    f"--batch={folder}/scan%d.png", "--batch-count=3"],
                   check=True, capture_output=True, timeout=120)
    subprocess.run([*common, "--mode", "Gray", "--test-picture", "Grid", "--resolution", "200",
                    f"--batch={folder}/scan%d.png", "--batch-start=4", "--batch-count=2", *SLOW],
                   check=True, capture_output=True, timeout=120)
    # 2. Streamed to stdout into the folder: 0 bytes at first, growing for a few seconds.
    with (folder / "directo.png").open("wb") as out:
        subprocess.run([*common, "--mode", "Color", "--test-picture", "Color pattern",
                        "--resolution", "250", *SLOW], stdout=out, check=True, timeout=120)

    pages = {f"scan{i}.png" for i in range(1, 6)} | {"directo.png"}
    def outcomes() -> int:
        return count(d, "acta.digitized") + count(d, "scan.duplicate") + count(d, "scan.quarantined")
    wait_for(lambda: outcomes() >= len(pages), timeout=60, what="every page ingested")
    wait_for(lambda: not any(p.is_file() for p in folder.rglob("*")), what="originals moved")
    assert proc.terminate() == 0

    assert count(d, "scan.quarantined") == 0, bodies(d, "scan.quarantined")  # nothing half-written
    digitized = bodies(d, "acta.digitized")
    duplicates = bodies(d, "scan.duplicate")
    names = Counter([b["original"]["name"] for b in digitized] + [b["file"] for b in duplicates])
    assert names == Counter(pages)  # each page exactly once
    processed = {p.name: p for p in d.processed.rglob("*.png")}
    assert set(processed) == pages
    for body in digitized:
        original = processed[body["original"]["name"]].read_bytes()
        assert hashlib.sha256(original).hexdigest() == body["original"]["sha256"]
        assert len(original) == body["original"]["bytes"]
        assert body["image"]["width"] > 500
    streamed = next(b for b in digitized if b["original"]["name"] == "directo.png")
    assert streamed["original"]["bytes"] == (d.processed / "scanner-1" / "directo.png").stat().st_size
    distinct = {hashlib.sha256(p.read_bytes()).hexdigest() for p in processed.values()}
    assert len({b["original"]["sha256"] for b in digitized}) == len(distinct)
    assert cli("verify", "-d", str(d.root)).returncode == 0
