"""The whole CDMX 2024 election through `catd-hq rehearse` on this machine (issue 11).

    .venv/bin/python benchmarks/rehearse.py [--limit N] [--out DIR] [--keep] [--source FILE]

Replays the real Jefatura de Gobierno file (13,384 actas, 34 CATDs) through real HQ and node
processes — acopio, the acta's image into a scanner folder, capture and blind verification by
two clerks over HTTP, sync, `publish --final` — and compares the final cut with the file.
Prints, measured in the same run:
- actas/s end to end (first acopio → HQ holds every chain and image) — target ≥ 20 actas/s,
  the election in ≤ 12 minutes;
- beside it, the bare image pipeline on the same machine: making the acta sheet and
  `scanners.pipeline.process` (decode, WebP, QR) on a pool of 2 processes, nothing else —
  the rate images alone would allow; measured before and after the rehearsal;
- the rehearsal's own table (actas/s per stage, cut time, bytes sent per acta) and its
  comparison: every acta's cells equal, the summary's differences explained by the three
  actas the PREP rules leave out (EXCEDE LISTA NOMINAL) and the file's rounded participation.
Exits 1 when the target is missed or the release does not agree.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from catd_node.config import ImageConfig
from scanners.pipeline import process
from simulacro import plan, rehearse, sheet

DOMAIN = next((p for p in (Path(__file__).resolve().parents[2] / "shared" / "domain-data",
                           Path("/work/shared/domain-data")) if p.is_dir()),
              Path(__file__).resolve().parents[2] / "shared" / "domain-data")
CDMX = DOMAIN / "cdmx-2024" / "bd-gobierno.csv.gz"
TARGET = 20.0
SAMPLE = 600
WORKERS = 2


def _one(item: sheet.Sheet, keys: frozenset[str]) -> bool:
    pages = process(sheet.render(item), "acta.png", None, ImageConfig(), keys)
    return pages[0].acta == item.key


def bare_pipeline(the_plan: plan.Plan, count: int = SAMPLE) -> float:
    """actas/s of making sheets and running the scanner pipeline on them, 2 processes."""
    actas = [a for a in the_plan.actas if a.kind != plan.SIN_ACTA_KIND][:count]
    items = [sheet.Sheet(a.key, the_plan.election.name, sheet.rows_of(a.fields, a.typed)) for a in actas]
    keys = frozenset(the_plan.election.actas)
    with ProcessPoolExecutor(WORKERS) as pool:
        list(pool.map(_one, items[:WORKERS * 4], [keys] * WORKERS * 4))   # warm the workers
        started = time.perf_counter()
        found = list(pool.map(_one, items, [keys] * len(items), chunksize=8))
        elapsed = time.perf_counter() - started
    if not all(found):
        raise SystemExit("the bare pipeline failed to identify some sheets by their QR code")
    return len(items) / elapsed


ROLES = ((" web ", "node web"), (" scan ", "node scan"), (" sync ", "node sync"),
         (" run ", "node supervisor"), (" serve ", "HQ serve"), (" publish ", "HQ publish"))


class CpuByRole:
    """CPU seconds of every process of the run, by role, sampled from /proc every 2 s (a process's
    last sample counts: at most 2 s of a process that exits is missed)."""

    TICK = os.sysconf("SC_CLK_TCK")

    def __init__(self) -> None:
        self.seen: dict[int, tuple[str, float]] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> CpuByRole:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()

    def _run(self) -> None:
        while not self.stop.wait(2.0):
            self.sample()

    def sample(self) -> None:
        me = os.getpid()
        table: dict[int, tuple[int, str, float]] = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
                raw = Path(f"/proc/{entry}/cmdline").read_bytes()
                cmd = raw.replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2:].split()
            table[int(entry)] = (int(fields[1]), cmd, (int(fields[11]) + int(fields[12])) / self.TICK)
        for pid, (_ppid, cmd, cpu) in table.items():
            if pid in self.seen:   # its role as first seen: an exiting process's cmdline is empty
                self.seen[pid] = (self.seen[pid][0], max(cpu, self.seen[pid][1]))
            elif pid == me or self._descends(pid, me, table):
                self.seen[pid] = (self._role(pid, cmd, table), cpu)

    @staticmethod
    def _descends(pid: int, ancestor: int, table: dict[int, tuple[int, str, float]]) -> bool:
        for _ in range(8):
            pid = table.get(pid, (0, "", 0.0))[0]
            if pid == ancestor:
                return True
            if pid <= 1:
                return False
        return False

    @staticmethod
    def _role(pid: int, cmd: str, table: dict[int, tuple[int, str, float]]) -> str:
        if pid == os.getpid():
            return "driver (clerks, link, plan, compare)"
        words = f" {cmd} "
        if "catd_node.cli" in words or "hq.cli" in words:
            return next((role for word, role in ROLES if word in words), "other")
        parent = f" {table.get(table[pid][0], (0, '', 0.0))[1]} "
        if "multiprocessing" in words or parent == words:   # spawned, or forked from its parent
            if " scan " in parent:
                return "node scan workers"
            if " serve " in parent:
                return "HQ workers"
            return "image worker" if table[pid][0] == os.getpid() else "other"
        return "other"

    def table(self, actas: int) -> str:
        by_role: dict[str, float] = {}
        for role, cpu in self.seen.values():
            by_role[role] = by_role.get(role, 0.0) + cpu
        total = sum(by_role.values())
        rows = [f"{'CPU by role':<38}{'seconds':>9}{'ms/acta':>9}"]
        rows += [f"{role:<38}{cpu:>9.0f}{1000 * cpu / actas:>9.1f}"
                 for role, cpu in sorted(by_role.items(), key=lambda item: -item[1])]
        rows.append(f"{'all':<38}{total:>9.0f}{1000 * total / actas:>9.1f}")
        return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", type=Path, default=CDMX)
    parser.add_argument("--limit", type=int, help="only the first N acta rows (a quick look)")
    parser.add_argument("--out", type=Path, help="run directory (default: a temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the run directory")
    args = parser.parse_args(argv)
    root = args.out or Path(tempfile.mkdtemp(prefix="rehearse-bench-"))
    print(f"load average before: {' '.join(f'{x:.1f}' for x in os.getloadavg())}", flush=True)
    sample_dir = Path(tempfile.mkdtemp(prefix="rehearse-plan-"))
    try:
        the_plan = plan.build(args.source, sample_dir, args.limit)
        before = bare_pipeline(the_plan)
        print(f"bare image pipeline (sheet + scanners.pipeline.process, {WORKERS} processes): "
              f"{before:.1f} actas/s", flush=True)
        started = time.monotonic()
        with CpuByRole() as cpu:
            result = rehearse.run(rehearse.Options(source=args.source, out=root / "run", limit=args.limit))
        wall = time.monotonic() - started
        after = bare_pipeline(the_plan)
    finally:
        shutil.rmtree(sample_dir, ignore_errors=True)
    print(f"load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    rate = result.stats.end_to_end()
    actas = result.stats.actas
    print()
    print(f"== {actas} actas, {len(result.plan.nodes)} CATDs; whole command {wall / 60:.1f} min "
          f"(set-up, drain, publish and comparison included)")
    if rate is None:
        print(f"rehearsal failed: {result.error}")
        return 1
    bare = (before + after) / 2
    met = rate >= TARGET
    print(f"end to end: {rate:.1f} actas/s ({actas / rate / 60:.1f} min for the election) — target ≥ "
          f"{TARGET:.0f} actas/s: {'met' if met else 'NOT MET'}")
    print(f"bare image pipeline, same run: {before:.1f} before, {after:.1f} after (mean {bare:.1f} actas/s); "
          f"end to end is {rate / bare:.0%} of it")
    print(cpu.table(actas))
    outcome = result.outcome
    agree = outcome is not None and outcome.agree
    explained = f" ({len(outcome.differences)} differences explained)" if outcome and agree else ""
    print(f"release: {'agrees' if agree else 'DIFFERS'} with {args.source.name}{explained}")
    if args.keep or args.out:
        print(f"run kept in {root}")
    else:
        shutil.rmtree(root, ignore_errors=True)
    return 0 if met and agree else 1


if __name__ == "__main__":
    sys.exit(main())
