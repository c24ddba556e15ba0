"""A real `catd-node scan` killed with SIGKILL again and again while it ingests a batch.

After a final clean `scan --once`, every dropped file is exactly one outcome (digitized,
duplicate or quarantined), no original is lost, and `verify` passes (DESIGN invariants 1, 2).
"""

from __future__ import annotations

import hashlib
import json
import random
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from catd_node.datadir import DataDir
from tests.polling import wait_for
from tests.scanners.conftest import (
    KEYS,
    ScanProcess,
    cli,
    db,
    drop,
    image_bytes,
    inbox,
    tiff_pages,
)

KILLS = 12


def batch() -> list[tuple[str, bytes]]:
    """~30 files: good scans, byte-identical re-scans under new names, broken files, a 2-page TIFF."""
    good = [(f"{KEYS[i % len(KEYS)]}.jpg" if i < 5 else f"scan{i:03d}.jpg",
             image_bytes("JPEG", size=(1275, 1650), seed=100 + i)) for i in range(20)]
    dups = [(f"rescan{i:03d}.jpg", good[i * 3][1]) for i in range(4)]
    bad = [
        ("nota.jpg", b"esto no es una imagen"),
        ("cortada.jpg", image_bytes("JPEG", size=(1275, 1650), seed=7)[:5000]),
        ("vacio.png", b""),
        ("animado.jpg", b"GIF89a" + bytes(300)),
    ]
    tiff = [("lote/paginas.tif", tiff_pages(2, seed=9))]
    return good + dups + bad + tiff


def _progress(log: Path) -> bool:
    text = log.read_text(encoding="utf-8", errors="replace") if log.exists() else ""
    return "ingested file=" in text and "recovered file=" in text


def originals_on_disk(d: DataDir) -> Counter[str]:
    found: Counter[str] = Counter()
    for base in (d.processed, d.quarantine):
        for path in base.rglob("*"):
            if path.is_file() and not path.name.endswith(".why.txt"):
                found[hashlib.sha256(path.read_bytes()).hexdigest()] += 1
    return found


@pytest.mark.slow
def test_sigkill_at_many_points_loses_nothing_and_duplicates_nothing(scan_dir: DataDir,
                                                                    tmp_path: Path) -> None:
    rng = random.Random(20240602)
    files = batch()
    waves = [files[0:10], files[10:20], files[20:]]
    log = tmp_path / "scan.log"
    kill = 0
    # Kill points vary: during start-up and recovery (timed from spawn), and mid-ingest (timed
    # from the service's start line). Runs continue past KILLS until some work was done between
    # kills, so a loaded machine cannot turn this into a test of start-up alone.
    while kill < KILLS or not _progress(log):
        assert kill < 3 * KILLS, "no ingest progress between kills"
        if kill < len(waves):
            for name, data in waves[kill]:
                if data:
                    drop(inbox(scan_dir) / name, data)
                else:
                    (inbox(scan_dir) / name).write_bytes(data)
        started = log.read_text(encoding="utf-8").count("scan_started") if log.exists() else 0
        proc = ScanProcess(scan_dir, log)
        if kill % 2:
            wait_for(lambda n=started, p=proc: p.text().count("scan_started") > n or not p.alive(),
                     timeout=60, what="service start")
        # past KILLS without progress (a loaded machine), each run lives a little longer
        stretch = 1 + max(0, kill - KILLS + 1)
        try:
            proc.proc.wait(timeout=stretch * (rng.uniform(0.05, 1.5) if kill % 2 else rng.uniform(0.3, 2.0)))
        except subprocess.TimeoutExpired:
            pass
        assert proc.alive(), f"scan exited early (run {kill}):\n{proc.text()[-2000:]}"
        proc.kill()
        kill += 1

    final = cli("scan", "--once", "-d", str(scan_dir.root))
    assert final.returncode == 0, final.stderr[-3000:]

    conn = db(scan_dir)
    rows = conn.execute("SELECT kind, CAST(canonical AS TEXT) FROM packets ORDER BY seq").fetchall()
    claims = conn.execute("SELECT outcome, original_sha256 FROM scan_claims").fetchall()
    conn.close()
    bodies = [(kind, json.loads(text)["body"]) for kind, text in rows]
    digitized = [b for k, b in bodies if k == "acta.digitized"]
    duplicates = [b for k, b in bodies if k == "scan.duplicate"]
    quarantined = [b for k, b in bodies if k == "scan.quarantined"]

    # No duplicate packets: one acta.digitized per (original, page).
    pages = Counter((b["original"]["sha256"], b["page"]) for b in digitized)
    assert max(pages.values()) == 1, pages.most_common(3)
    dropped = Counter(hashlib.sha256(data).hexdigest() for _, data in files)
    bad_shas = {hashlib.sha256(data).hexdigest() for name, data in files[24:28]}
    good_shas = set(dropped) - bad_shas
    assert {sha for sha, _ in pages} == good_shas
    assert sum(1 for sha, page in pages if page == 2) == 1  # the TIFF's second page

    # Exactly one outcome per dropped file.
    assert len(claims) == len(files) == 29
    outcomes = len({b["original"]["sha256"] for b in digitized}) + len(duplicates) + len(quarantined)
    assert outcomes == len(files)
    assert len(duplicates) == 4
    assert sorted(b["reason"] for b in quarantined) == ["empty", "not_an_image", "truncated",
                                                        "unsupported_format"]

    # No original lost: every dropped file is in processed/ or quarantine/, and the inbox is empty.
    assert originals_on_disk(scan_dir) == dropped
    left = [p for p in inbox(scan_dir).rglob("*") if p.is_file()]
    assert left == []
    assert cli("verify", "-d", str(scan_dir.root)).returncode == 0
