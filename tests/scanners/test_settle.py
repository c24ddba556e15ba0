"""The settle rule with an injected clock: when is a file in a drop folder finished?"""

from __future__ import annotations

import pytest

from scanners.settle import Action, FileStat, Rules, Settler

MS = 1_000_000
S = 1_000_000_000


class Clock:
    def __init__(self) -> None:
        self.now = 0

    def __call__(self) -> int:
        return self.now

    def advance(self, ms: int) -> None:
        self.now += ms * MS


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def settler(clock: Clock) -> Settler:
    return Settler(Rules(settle_ns=1500 * MS, max_settle_ns=600 * S, empty_ns=120 * S), clock)


def st(size: int, mtime: int = 1, regular: bool = True, link: bool = False) -> FileStat:
    return FileStat(size, mtime, regular, link)


def test_slow_writer_is_taken_only_after_quiet_period(settler: Settler, clock: Clock) -> None:
    settler.hint("a.jpg")
    size = 0
    # An ADF scanner appending every 1.2 s (paperless-ngx PR #43 saw gaps of 0.2–4 s).
    for step in range(10):
        size += 50_000
        assert settler.decide("a.jpg", "a.jpg", st(size, step)).action is Action.WAIT
        clock.advance(1200)
    clock.advance(299)  # quiet for 1499 ms
    assert settler.decide("a.jpg", "a.jpg", st(size, 9)).action is Action.WAIT
    clock.advance(1)
    assert settler.decide("a.jpg", "a.jpg", st(size, 9)).action is Action.TAKE
    assert settler.pending() == []


def test_rewrite_with_same_size_resets_the_timer(settler: Settler, clock: Clock) -> None:
    settler.decide("a.jpg", "a.jpg", st(1000, 1))
    clock.advance(1400)
    assert settler.decide("a.jpg", "a.jpg", st(1000, 2)).action is Action.WAIT  # mtime moved
    clock.advance(1400)
    assert settler.decide("a.jpg", "a.jpg", st(1000, 2)).action is Action.WAIT
    clock.advance(100)
    assert settler.decide("a.jpg", "a.jpg", st(1000, 2)).action is Action.TAKE


@pytest.mark.parametrize("name", [
    ".scan1.jpg", "scan1.jpg.tmp", "scan1.png.part", "scan1.jpg.crdownload", "scan1.jpg~",
    "Thumbs.db", "desktop.ini", ".DS_Store", "SCAN.PART", "acta.json",
])
def test_temp_and_litter_names_are_never_taken(settler: Settler, clock: Clock, name: str) -> None:
    settler.hint(name, renamed=True)
    clock.advance(10_000_000)
    decision = settler.decide(name, name, st(5000))
    assert decision.action is Action.IGNORE
    assert settler.pending() == []


def test_renamed_in_file_is_taken_at_once(settler: Settler, clock: Clock) -> None:
    settler.hint("scan1.png", renamed=True)
    assert settler.decide("scan1.png", "scan1.png", st(5000)).action is Action.TAKE


def test_rename_of_an_empty_file_falls_back_to_the_quiet_rule(settler: Settler, clock: Clock) -> None:
    settler.hint("scan1.png", renamed=True)
    assert settler.decide("scan1.png", "scan1.png", st(0)).action is Action.WAIT
    clock.advance(100)
    assert settler.decide("scan1.png", "scan1.png", st(4000, 2)).action is Action.WAIT
    clock.advance(1500)
    assert settler.decide("scan1.png", "scan1.png", st(4000, 2)).action is Action.TAKE


def test_zero_byte_then_filled_is_taken_not_quarantined(settler: Settler, clock: Clock) -> None:
    # FTP scanners create the file before the scan starts (paperless-ngx #1279).
    for _ in range(30):
        assert settler.decide("a.tif", "a.tif", st(0, 1)).action is Action.WAIT
        clock.advance(3000)  # 90 s empty, below the 120 s limit
    assert settler.decide("a.tif", "a.tif", st(900_000, 2)).action is Action.WAIT
    clock.advance(1500)
    assert settler.decide("a.tif", "a.tif", st(900_000, 2)).action is Action.TAKE


def test_zero_byte_forever_is_quarantined_empty(settler: Settler, clock: Clock) -> None:
    assert settler.decide("a.jpg", "a.jpg", st(0)).action is Action.WAIT
    clock.advance(119_999)
    assert settler.decide("a.jpg", "a.jpg", st(0)).action is Action.WAIT
    clock.advance(1)
    decision = settler.decide("a.jpg", "a.jpg", st(0))
    assert (decision.action, decision.reason) == (Action.QUARANTINE, "empty")


def test_file_that_never_settles_is_quarantined(settler: Settler, clock: Clock) -> None:
    for i in range(600):
        decision = settler.decide("a.jpg", "a.jpg", st(1000 + i, i))
        assert decision.action is Action.WAIT, i
        clock.advance(1000)
    decision = settler.decide("a.jpg", "a.jpg", st(5000, 9999))
    assert (decision.action, decision.reason) == (Action.QUARANTINE, "never_settled")


def test_symlink_is_quarantined_without_following(settler: Settler) -> None:
    decision = settler.decide("l.jpg", "l.jpg", st(20, link=True, regular=False))
    assert (decision.action, decision.reason) == (Action.QUARANTINE, "path_outside_folder")


def test_fifo_is_not_a_regular_file(settler: Settler) -> None:
    decision = settler.decide("p.jpg", "p.jpg", st(0, regular=False))
    assert (decision.action, decision.reason) == (Action.QUARANTINE, "not_a_regular_file")


def test_vanished_file_is_forgotten(settler: Settler) -> None:
    settler.hint("a.jpg")
    assert settler.decide("a.jpg", "a.jpg", None).action is Action.GONE
    assert settler.pending() == []


def test_rules_from_config_units() -> None:
    rules = Rules.from_ms(1500, max_settle_s=600, empty_s=30)
    assert (rules.settle_ns, rules.max_settle_ns, rules.empty_ns) == (1500 * MS, 600 * S, 30 * S)
