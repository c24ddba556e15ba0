"""Floods of files (issue 14): the work per file stays flat as the flood grows, and SIGTERM in
the middle of one stops `catd-node scan` within seconds. The 10,000-file drain, with clerks
beside it, is `benchmarks/flood.py`."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
from PIL import Image

from catd_node import datadir
from catd_node.datadir import DataDir
from scanners import service
from tests.polling import wait_for
from tests.scanners.conftest import ELECTION, configure, count, inbox

pytestmark = pytest.mark.slow
STOP_S = 10.0  # a few seconds, on a loaded 2-core machine
WORK_PER_FILE = 6  # walked + stat'ed entries per file: a sweep per claim made it grow with n


def tiny_png(i: int) -> bytes:
    """A small valid image, different for every i (the pipeline's cost is not what is measured)."""
    image = Image.new("L", (64, 80), 255)
    image.putpixel((i % 64, (i // 64) % 80), 0)
    image.putpixel(((i // 5120) % 64, 79), 0)
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def flood(folder: Path, n: int, start: int = 0) -> None:
    """`n` files renamed into the folder as fast as they can be written (a scanner's batch)."""
    for i in range(start, start + n):
        tmp = folder / f".hoja-{i:05d}.png.part"
        tmp.write_bytes(tiny_png(i))
        os.replace(tmp, folder / f"hoja-{i:05d}.png")


def _drain(root: Path, n: int) -> service.Work:
    d = configure(datadir.init(root, "CATD-14-01", ELECTION), settle_ms=200, rescan_s=3600)
    svc = service.Service(d)
    runner = threading.Thread(target=svc.run)
    runner.start()
    try:
        wait_for(lambda: svc.work.sweeps >= 1, what="the first sweep")
        flood(inbox(d), n)

        def drained() -> bool:
            work = svc.work.walked + svc.work.stats
            # Before: every claim's .claimed/<token>/ folder raised "rescan everything", so
            # 1,000 files walked ~160,000 entries and 3,000 stalled; fail as soon as it shows.
            assert work <= WORK_PER_FILE * n, f"{work} walked+stat'ed for {n} files: {svc.work.line()}"
            return len(svc.results) >= n

        wait_for(drained, timeout=60 + n * 0.2, what=f"{n} files drained", every=0.5)
    finally:
        svc.stop()
        runner.join(timeout=60)
    assert not runner.is_alive()
    assert count(d, "acta.digitized") == n
    assert not any((inbox(d) / ".claimed").iterdir()) if (inbox(d) / ".claimed").exists() else True
    return svc.work


def test_the_work_per_file_stays_flat_from_1000_to_3000_files(tmp_path: Path) -> None:
    small = _drain(tmp_path / "small", 1000)
    large = _drain(tmp_path / "large", 3000)
    per_small = (small.walked + small.stats) / 1000
    per_large = (large.walked + large.stats) / 3000
    assert small.sweeps <= 3 and large.sweeps <= 3, (small.line(), large.line())
    assert per_large <= 1.5 * per_small + 0.5, (small.line(), large.line())
    assert small.claims == 1000 and large.claims == 3000


def test_sigterm_in_a_flood_stops_within_seconds(scan_dir: DataDir, scan_process) -> None:
    proc = scan_process()
    wait_for(lambda: "scan_started" in proc.text(), what="service start")
    flood(inbox(scan_dir), 3000)
    claims = inbox(scan_dir) / ".claimed"
    wait_for(lambda: claims.exists() and any(claims.iterdir()), timeout=120, what="claims under way")
    asked = time.monotonic()
    proc.proc.send_signal(signal.SIGTERM)
    # Before: one turn of the loop claimed every finished file, then ran one full rescan per
    # claim, and only then looked at the stop flag.
    try:
        code = proc.proc.wait(timeout=STOP_S)
    except subprocess.TimeoutExpired:
        pytest.fail(f"SIGTERM not obeyed within {STOP_S} s during a flood of 3,000 files")
    assert code == 0, proc.text()[-2000:]
    assert time.monotonic() - asked < STOP_S and "scan_stopped" in proc.text()
    proc.terminate()
    # Nothing is lost: each file is still in the folder, claimed (recovered next start) or done.
    left = list(inbox(scan_dir).rglob("hoja-*.png"))
    assert len(left) + count(scan_dir, "acta.digitized") == 3000
