"""The real CDMX 2024 catalog (13,384 actas): `catd-hq catalog`, loading it, `catd-hq init`, and
classifying every acta, each beside the bare work it cannot beat, measured in the same run.

    python benchmarks/catalog.py [--runs 3]

Limits: reading the gzip'd file with the csv module (the reader's floor), and `json.loads` of
the catalog (the loader's floor). Medians of --runs; the machine is shared, so read ratios.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from catd_node import actas, catalog
from hq import cli
from hq.release import read
from tests.releasekit import DOMAIN

CDMX = DOMAIN / "cdmx-2024"


def timed(fn: Callable[[], object], runs: int) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    source = CDMX / "bd-gobierno.csv.gz"
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "election.json"
        argv_catalog = ["catalog", "--from", str(source), "--out", str(out),
                        "--candidaturas", str(CDMX / "CDMX_GUB_CANDIDATURAS.csv")]
        bare_read = timed(lambda: list(csv.reader(io.StringIO(gzip.open(source, "rt").read()))), args.runs)
        build = timed(lambda: cli.main(argv_catalog), args.runs)
        bare_json = timed(lambda: json.loads(out.read_text(encoding="utf-8")), args.runs)
        load = timed(lambda: catalog.load(out), args.runs)
        init = timed(lambda: cli.main(["-d", str(Path(tmp) / f"hq{time.monotonic_ns()}"), "init",
                                       "--election", str(out)]), args.runs)
        election = catalog.load(out)
        rows = read.read(source, entidad=9).rows
        cells = [(r.clave_acta, {f: actas.parse_value(c, f) for f, c in r.votes.items()}) for r in rows]
        classify = timed(lambda: [actas.classify(election, k, v) for k, v in cells], args.runs)
    print(f"catd-hq catalog (13,384 rows)   {build:6.2f} s   bare csv read of the gzip {bare_read:5.2f} s "
          f"({build / bare_read:4.1f}x)")
    print(f"catalog.load                    {load:6.2f} s   bare json.loads            {bare_json:5.2f} s "
          f"({load / bare_json:4.1f}x)")
    print(f"catd-hq init --election         {init:6.2f} s")
    print(f"classify every acta             {classify:6.2f} s   ({len(cells) / classify:,.0f} actas/s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
