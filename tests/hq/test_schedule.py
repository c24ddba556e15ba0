"""The publication schedule, on an injected clock: slots every `every_min` from `start`, the
final cut when every acta is in or the period ends, restarts skipping what is published."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from catd_node.errors import BadInput
from hq import schedule
from hq.schedule import Plan
from tests.hq import countkit as ck

START = datetime(2024, 6, 3, 2, 0, tzinfo=UTC)     # 20:00 in UTC-6
MIN = timedelta(minutes=1)


def plan(hours: float = 24, every: int = 20) -> Plan:
    return Plan(START, timedelta(minutes=every), START + timedelta(hours=hours))


def test_next_slot():
    p = plan(hours=1)
    assert schedule.next_slot(p, START - 10 * MIN, None) == START
    assert schedule.next_slot(p, START + 5 * MIN, None) == START + 20 * MIN
    assert schedule.next_slot(p, START + 20 * MIN + timedelta(seconds=30), None) == START + 20 * MIN
    assert schedule.next_slot(p, START + 10 * MIN, START + 20 * MIN) == START + 40 * MIN
    assert schedule.next_slot(p, START + 41 * MIN, None) is None, "the period is over: the final cut is next"


class Clock:
    """A clock that moves only when the schedule sleeps."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def drive(p: Plan, now: datetime, captured_after: int | None = None,
          last: tuple[datetime, bool] | None = None) -> list[tuple[datetime, bool]]:
    """Run the schedule to its end; the publisher reports every acta in from cut `captured_after`."""
    clock = Clock(now)
    made: list[tuple[datetime, bool]] = []

    async def publish(at: datetime, final: bool) -> dict[str, str]:
        made.append((at, final))
        clock.now += timedelta(seconds=20)      # a cut takes time
        done = captured_after is not None and len(made) >= captured_after
        return {"ACTAS_ESPERADAS": "10", "ACTAS_CAPTURADAS": "10" if done else "7"}

    asyncio.run(schedule.run(p, publish, last, clock=clock, sleep=clock.sleep))
    return made


def test_cuts_every_twenty_minutes_then_the_final_at_the_end_of_the_period():
    assert drive(plan(hours=1), START - 5 * MIN) == [
        (START, False), (START + 20 * MIN, False), (START + 40 * MIN, False), (START + 60 * MIN, True)]


def test_the_final_cut_follows_when_every_expected_acta_is_in():
    assert drive(plan(), START, captured_after=2) == [
        (START, False), (START + 20 * MIN, False), (START + 21 * MIN, True)]


def test_a_restart_skips_what_is_published_and_stops_after_the_final():
    made = drive(plan(hours=1), START + 25 * MIN, last=(START + 20 * MIN, False))
    assert made == [(START + 40 * MIN, False), (START + 60 * MIN, True)]
    assert drive(plan(hours=1), START + 25 * MIN, last=(START + 20 * MIN, True)) == []


def test_a_receiver_that_loses_slots_follows_the_folder_and_retries_the_final():
    """Receivers sharing the folder: a slot another wrote counts as published; a final cut that
    is not out (its writer died) is tried again a minute later; once one is out, nothing more."""
    p = plan(hours=1)
    clock = Clock(START - 5 * MIN)
    folder: list[tuple[datetime, bool]] = []      # the cuts in the shared folder, in order
    tried: list[tuple[datetime, bool]] = []
    others = {(START, False), (START + 60 * MIN, True)}   # slots another receiver claims first

    async def publish(at: datetime, final: bool) -> dict[str, str] | None:
        tried.append((at, final))
        if (at, final) in others:
            if not final:          # the other writes it; the final's writer dies before it is out
                folder.append((at, final))
            return None
        folder.append((at, final))
        return {"ACTAS_ESPERADAS": "10", "ACTAS_CAPTURADAS": "7"}

    asyncio.run(schedule.run(p, publish, None, clock=clock, sleep=clock.sleep,
                             published=lambda: folder[-1] if folder else None))
    assert tried == [(START, False), (START + 20 * MIN, False), (START + 40 * MIN, False),
                     (START + 60 * MIN, True), (START + 61 * MIN, True)]
    assert folder[-1] == (START + 61 * MIN, True)
    # the final out in the folder (written by another): this receiver stops without trying
    tried.clear()
    later = Clock(START + 30 * MIN)
    asyncio.run(schedule.run(p, publish, None, clock=later, sleep=later.sleep,
                             published=lambda: (START + 20 * MIN, True)))
    assert tried == []


def test_hq_toml_names_a_bad_setting(tmp_path):
    hq, _, _ = ck.hq_two_catd(tmp_path)
    assert schedule.load(hq, hq.election(), START) is None, "no [publish]: no schedule"
    config = hq.root / "hq.toml"
    config.write_text('[publish]\nstart = "2024-06-02T20:00"\nevery_min = 15\n', encoding="utf-8")
    p = schedule.load(hq, hq.election(), START)
    assert p is not None and (p.start, p.every, p.end) == (START, 15 * MIN, START + timedelta(hours=24))
    (hq.root / "hq.toml").write_text("[publish]\nevery_min = 0\n", encoding="utf-8")
    with pytest.raises(BadInput, match="every_min"):
        schedule.load(hq, hq.election(), START)
    (hq.root / "hq.toml").write_text("[publish]\nhours = 30\n", encoding="utf-8")
    with pytest.raises(BadInput, match="hours"):
        schedule.load(hq, hq.election(), START)
