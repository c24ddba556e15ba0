"""A short run of the national-night benchmark (benchmarks/night.py): 10 simulated CATDs for
one simulated hour at ×30 against two real receivers on a real PostgreSQL, three cuts. What
it must show whatever the machine's load: every cut published, and HQ holding exactly what the
CATDs sent (each packet once, every image) with the final cut counting every acta once. Cut
times and memory are printed and judged by the benchmark itself (PASS/FAIL lines)."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests import pgserver
from tests.hqkit import ROOT

pytestmark = pytest.mark.slow


@pytest.mark.skipif(pgserver.bindir() is None, reason="PostgreSQL (initdb) is not installed")
def test_a_short_night_loses_nothing_and_counts_nothing_twice() -> None:
    run = subprocess.run(
        [sys.executable, "benchmarks/night.py", "--hours", "1", "--catds", "10", "--actas", "200",
         "--rate", "40", "--speed", "30"],
        capture_output=True, text=True, cwd=ROOT, timeout=600)
    out = run.stdout
    assert run.returncode in (0, 1), run.stderr[-3000:]
    assert len(re.findall(r"^cut +\d+ ", out, re.M)) == 3 and "NOT PUBLISHED" not in out, out
    assert "3 of 3 published" in out, out
    for goal in ("packets: HQ holds each sent once", "images: HQ holds each sent, lacks none",
                 "final cut counts every acta once"):
        assert f"PASS  {goal}" in out, out
    found = re.search(r"([\d,]+) actas verified by the CATDs; .*: ([\d,]+) captured, ([\d,]+) counted", out)
    assert found and found[1] == found[2] == found[3] and int(found[1].replace(",", "")) > 100, out
