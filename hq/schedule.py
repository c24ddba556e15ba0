"""The publication schedule of `catd-hq serve`: a cut every `[publish] every_min` minutes from
`start`, for at most `hours` or until every expected acta is in, then the final cut.

Configured in `DATA/hq.toml` (no `[publish]` section: no schedule):

    [publish]
    start = "2024-06-02T20:00"   # local official time (the election's label), or with an offset
    every_min = 20               # default 20
    hours = 24                   # default 24

Each cut is written by a `catd-hq publish --at …` child process at lower CPU priority (nice
10) and idle I/O priority (`ionice -c 3`, where present): the
receiver's event loop and writer thread never wait on it, and a crash of the writer costs one
cut, never the receiver (benchmarks/publish.py measures ingest latency while a cut is
written). A slot already published (HQ restarted) is skipped; a slot missed is not made up.
Several receivers may run the same schedule on one store (deploy/postgresql.md): each slot
is written by the one that claims it first (hq/cuts.py); the others log that they skip it.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import shutil
import sys
import tomllib
import zipfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from catd_node.catalog import Election
from catd_node.errors import EXIT_CUT_HELD, BadInput
from hq.release import cut, manifest, write
from hq.store import HQDir

log = logging.getLogger("catd.hq.schedule")
CONFIG = "hq.toml"
NICE = 10


@dataclass(frozen=True)
class Plan:
    start: datetime          # aware (UTC)
    every: timedelta
    end: datetime            # start + hours: the final cut at the latest


def load(hq: HQDir, election: Election | None, now: datetime) -> Plan | None:
    """The plan in DATA/hq.toml, or None without a [publish] section."""
    path = hq.root / CONFIG
    if not path.exists():
        return None
    try:
        section = tomllib.loads(path.read_text(encoding="utf-8")).get("publish")
    except tomllib.TOMLDecodeError as exc:
        raise BadInput(str(path), f"not TOML ({exc})") from exc
    if section is None:
        return None
    if election is None:
        raise BadInput(str(path), "[publish] needs the election catalog (catd-hq init --election FILE)")
    every = section.get("every_min", 20)
    hours = section.get("hours", 24)
    if not isinstance(every, int | float) or isinstance(every, bool) or every <= 0:
        raise BadInput(f"{path}: publish.every_min", f"expected minutes > 0, got {every!r}")
    if not isinstance(hours, int | float) or isinstance(hours, bool) or not 0 < hours <= 24:
        raise BadInput(f"{path}: publish.hours", f"expected 0 < hours ≤ 24, got {hours!r}")
    raw = section.get("start")
    if raw is None:
        start = now
    else:
        try:
            given = datetime.fromisoformat(str(raw))
        except ValueError as exc:
            raise BadInput(f"{path}: publish.start", f"{raw!r} is not an ISO time") from exc
        start = given if given.tzinfo else write.utc_of(given, election)
    start = start.astimezone(UTC)
    return Plan(start, timedelta(minutes=every), start + timedelta(hours=hours))


def next_slot(plan: Plan, now: datetime, last: datetime | None) -> datetime | None:
    """The next regular cut's time: the first slot not before now (to the minute) and after the
    last cut published; None once the slots reach the end (the final cut is next)."""
    floor = now.replace(second=0, microsecond=0)
    k = max(0, math.ceil((floor - plan.start) / plan.every))
    slot = plan.start + k * plan.every
    while last is not None and slot.replace(second=0, microsecond=0) <= last:
        slot += plan.every
    return slot if slot < plan.end else None


def all_in(summary: dict[str, str]) -> bool:
    """Every expected acta is registered: the publication may close early."""
    return summary.get("ACTAS_CAPTURADAS") == summary.get("ACTAS_ESPERADAS")


Publisher = Callable[[datetime, bool], Awaitable[dict[str, str] | None]]


def last_cut(hq: HQDir) -> tuple[datetime, bool] | None:
    """(UTC time, final) of the last cut published, if any."""
    found = cut.previous_cut(hq.root / cut.PUBLICACION)
    if found is None:
        return None
    return _utc(found[2]), found[2].final


def _utc(m: manifest.Manifest) -> datetime:
    return datetime.strptime(m.cut_utc, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


async def run(plan: Plan, publish: Publisher, last: tuple[datetime, bool] | None = None, *,
              clock: Callable[[], datetime] = lambda: datetime.now(UTC),
              sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
              published: Callable[[], tuple[datetime, bool] | None] = lambda: None) -> None:
    """Publish on the plan until the final cut is out. `publish` gives the cut's summary, or
    None when it was not published here (failed, or skipped: another receiver writes it);
    `published()` is the last cut in the folder, whoever wrote it (`last_cut`)."""
    if last is not None and last[1]:
        return
    last_at = last[0] if last else None
    everything_in = False
    while True:
        seen = published()   # receivers sharing the folder: another may have published since
        if seen is not None:
            if seen[1]:
                return
            last_at = seen[0] if last_at is None else max(last_at, seen[0])
        slot = next_slot(plan, clock(), last_at)
        if slot is None:
            break
        wait = (slot - clock()).total_seconds()
        if wait > 0:
            await sleep(wait)
        summary = await publish(slot, False)
        last_at = slot.replace(second=0, microsecond=0)
        if summary is not None and all_in(summary):
            everything_in = True
            break
    # The final cut: now when every acta is in, else when the publication period ends; tried
    # again a minute later until one is out (its writer may have died, or failed).
    while True:
        final_at = (clock() if everything_in else max(clock(), plan.end)).replace(second=0, microsecond=0)
        if last_at is not None and final_at <= last_at:
            final_at = last_at + timedelta(minutes=1)
        wait = (final_at - clock()).total_seconds()
        if wait > 0:
            await sleep(wait)
        seen = published()
        if seen is not None and seen[1]:
            return
        if await publish(final_at, True) is not None:
            return
        last_at = final_at


def _idle_io() -> list[str]:
    """`ionice -c 3` where the system has it: the cut reads the whole store and writes ~170 MB
    at national size; its disk work waits for the receiver's (whose commits fsync)."""
    found = shutil.which("ionice")
    return [found, "-c", "3"] if found else []


async def publish_child(hq: HQDir, at: datetime, final: bool) -> dict[str, str] | None:
    """`catd-hq publish --at AT` as a child process at lower priority; the cut's summary."""
    args = [*_idle_io(), sys.executable, "-m", "hq.cli", "-d", str(hq.root), "publish",
            "--at", at.isoformat()]
    if final:
        args.append("--final")
    proc = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        preexec_fn=lambda: os.nice(NICE))  # only os.nice between fork and exec
    try:
        out, err = await proc.communicate()
    except asyncio.CancelledError:
        proc.terminate()   # the cut is written in a temporary folder: nothing half-published
        await proc.wait()
        raise
    if proc.returncode == EXIT_CUT_HELD:
        log.info("cut at %s skipped: %s", at.isoformat(), _last_line(err))
        return None
    if proc.returncode != 0:
        found = cut.previous_cut(hq.root / cut.PUBLICACION)
        if found is not None and (found[2].final or _utc(found[2]) >= at.replace(second=0, microsecond=0)):
            # another receiver wrote it and was done before this one's child looked
            log.info("cut at %s skipped: %s is already published", at.isoformat(), found[0].name)
        else:
            log.error("cut at %s not published: %s", at.isoformat(), err.decode(errors="replace").strip())
        return None
    path = Path(out.decode().strip().splitlines()[-1])
    with zipfile.ZipFile(path) as archive:
        summary = manifest.parse(archive.read(manifest.NAME)).summary
    log.info("cut published %s capturadas=%s esperadas=%s", path.name, summary.get("ACTAS_CAPTURADAS"),
             summary.get("ACTAS_ESPERADAS"))
    return summary


def _last_line(err: bytes) -> str:
    """The child's error, without its `error: ` prefix."""
    lines = err.decode(errors="replace").strip().splitlines()
    return lines[-1].removeprefix("error: ") if lines else ""


def start(hq: HQDir, plan: Plan | None) -> asyncio.Task[None] | None:
    """The schedule as a task of the running loop (None without a plan)."""
    if plan is None:
        return None
    log.info("publishing every %s from %s until %s", plan.every, plan.start.isoformat(), plan.end.isoformat())

    async def child(at: datetime, final: bool) -> dict[str, str] | None:
        return await publish_child(hq, at, final)

    return asyncio.get_running_loop().create_task(run(plan, child, last_cut(hq),
                                                      published=lambda: last_cut(hq)))
