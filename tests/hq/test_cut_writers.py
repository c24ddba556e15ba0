"""One writer per cut (issue 13): receivers sharing one store and one publication folder
(deploy/postgresql.md) never write one cut twice nor two cuts at once, so each manifest names
the one before and the chain stays linear; a writer killed mid-cut is taken over once its
claim is stale, a live one never (it renews its claim while it writes).

A writer is held mid-cut by making `DATA/candidaturas.csv` a FIFO: the cut opens it after the
evidence is written and before the zip is renamed into place, and waits there until the test
lets it go on (`held_mid_cut`)."""

from __future__ import annotations

import itertools
import os
import re
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from catd_node import errors
from hq.release import cut
from hq.store import HQDir, postgres
from tests.hq import countkit as ck
from tests.hq import cutkit
from tests.hq.countkit import each_store  # noqa: F401  (every test on both stores)
from tests.polling import wait_for

ROOT = Path(__file__).resolve().parents[2]
STALE_S = 0.5   # injected: a claim not renewed for half a second is a dead writer's


def publisher(hq: HQDir, at: str) -> subprocess.Popen[str]:
    """`catd-hq publish --at AT` as a child process (a receiver's, or an operator's by hand)."""
    return subprocess.Popen([sys.executable, "-m", "hq.cli", "-d", str(hq.root), "publish", "--at", at],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)


def run_publish(hq: HQDir, at: str) -> tuple[int, str]:
    proc = publisher(hq, at)
    _, err = proc.communicate(timeout=120)
    return proc.returncode, err


def zips(hq: HQDir) -> list[str]:
    return sorted(p.name for p in (hq.root / cut.PUBLICACION).glob("*.zip"))


def mid_cut(hq: HQDir) -> list[Path]:
    """The temporary folders of cuts being written."""
    return list((hq.root / cut.PUBLICACION).glob(".corte-*"))


@contextmanager
def held_mid_cut(hq: HQDir) -> Iterator[Callable[[], None]]:
    """Writers started inside wait mid-cut until the function given is called (or the block
    ends). It puts an empty candidacies file where the FIFO was and wakes whoever waits at the
    FIFO (our own end opened read-write: a writer), who then reads an empty file too."""
    fifo = hq.root / cut.NAMES_FILE
    os.mkfifo(fifo)
    done = False

    def go() -> None:
        nonlocal done
        if done:
            return
        done = True
        end = os.open(fifo, os.O_RDWR)     # never blocks; wakes the reader blocked opening it
        try:
            empty = fifo.with_name(".empty")
            empty.write_bytes(b"")
            os.replace(empty, fifo)          # later readers (the site reads it again) do not wait
        finally:
            os.close(end)                    # end of file for the reader that opened the FIFO

    try:
        yield go
    finally:
        go()


def claimed_at(hq: HQDir) -> datetime | None:
    """When the unfinished claim was last taken or renewed, if there is one."""
    conn = hq.connect()
    try:
        row = conn.execute("SELECT claimed_at FROM cut_claims WHERE done_at IS NULL").fetchone()
    finally:
        conn.close()
    return None if row is None else datetime.strptime(row[0], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def chain_verifies(capsys: pytest.CaptureFixture[str], hq: HQDir) -> None:
    names = zips(hq)
    folder = hq.root / cut.PUBLICACION
    for earlier, later in itertools.pairwise(names):
        verdict = cutkit.hq_verdict(capsys, str(folder / earlier), str(folder / later))
        assert verdict.code == 0, (earlier, later, verdict.text)


def test_two_publishers_of_one_minute_write_one_cut_and_the_chain_stays_linear(capsys, tmp_path):
    hq, a, b = ck.hq_two_catd(tmp_path)
    cutkit.report_everything(hq, a, b)
    both = [publisher(hq, "2024-06-02T20:00") for _ in range(2)]
    done = sorted((p.wait(120), p.communicate()[1]) for p in both)
    assert done[0][0] == 0, done
    # the other found the cut claimed (exit 4) or, when it came after, already published (exit 2)
    assert done[1][0] in (errors.EXIT_CUT_HELD, errors.EXIT_BAD_INPUT), done
    assert zips(hq) == ["20240602_2000_PREP_GUB_CDMX.zip"]

    with held_mid_cut(hq) as go:
        writer = publisher(hq, "2024-06-02T20:20")
        wait_for(lambda: mid_cut(hq), 60, "the first writer mid-cut")
        code, err = run_publish(hq, "2024-06-02T20:20")
        assert code == errors.EXIT_CUT_HELD, err
        assert re.search(r"cut 2 is being written by \S+", err), err
        code, err = run_publish(hq, "2024-06-02T20:40")
        assert code == errors.EXIT_CUT_HELD, "a later cut written now would name the same previous one"
        assert "cut 2 is being written by" in err, err
        go()
        assert writer.wait(120) == 0, writer.communicate()[1]
    code, err = run_publish(hq, "2024-06-02T20:20")
    assert code == errors.EXIT_BAD_INPUT and "never rewritten" in err, "the documented exit 2 is kept"
    assert run_publish(hq, "2024-06-02T20:40")[0] == 0
    assert zips(hq) == [f"20240602_{t}_PREP_GUB_CDMX.zip" for t in ("2000", "2020", "2040")]
    assert not mid_cut(hq)
    chain_verifies(capsys, hq)


def test_a_writer_killed_mid_cut_is_taken_over_once_its_claim_is_stale(capsys, tmp_path):
    hq, a, b = ck.hq_two_catd(tmp_path)
    cutkit.report_everything(hq, a, b)
    with held_mid_cut(hq):
        writer = publisher(hq, "2024-06-02T20:00")
        wait_for(lambda: mid_cut(hq), 60, "the writer mid-cut")
        writer.kill()
        writer.communicate()
    # Another host cannot tell a dead writer from a slow one: the claim holds until it is stale.
    code, err = run_publish(hq, "2024-06-02T20:00")
    assert code == errors.EXIT_CUT_HELD and "cut 1 is being written by" in err, (code, err)
    assert zips(hq) == []

    def take_over() -> cut.Published:
        return cut.publish(hq, at=datetime(2024, 6, 2, 20, 0), stale_s=STALE_S)

    published = wait_for(take_over, 30, "the stale claim taken over", tolerate=(errors.CutHeld,))
    assert zips(hq) == [published.path.name] and not mid_cut(hq), "the dead writer's folder is gone"
    assert cutkit.hq_verdict(capsys, str(published.path)).code == 0
    assert run_publish(hq, "2024-06-02T20:20")[0] == 0
    chain_verifies(capsys, hq)


def test_a_live_writer_slower_than_stale_s_keeps_its_cut(capsys, tmp_path):
    hq, a, b = ck.hq_two_catd(tmp_path)
    cutkit.report_everything(hq, a, b)
    written: list[cut.Published] = []
    with held_mid_cut(hq) as go:
        writer = threading.Thread(target=lambda: written.append(
            cut.publish(hq, at=datetime(2024, 6, 2, 20, 0), stale_s=STALE_S)))
        writer.start()
        try:
            first = wait_for(lambda: claimed_at(hq), 60, "the writer's claim")
            # the writer renews its claim while it waits: well past stale_s, it is still fresh
            wait_for(lambda: (claimed_at(hq) or first) > first + timedelta(seconds=3 * STALE_S), 30,
                     "the claim renewed for three times stale_s")
            with pytest.raises(errors.CutHeld, match="cut 1 is being written by"):
                cut.publish(hq, at=datetime(2024, 6, 2, 20, 0), stale_s=STALE_S)
            with pytest.raises(errors.CutHeld, match="cut 1 is being written by"):
                cut.publish(hq, at=datetime(2024, 6, 2, 20, 20), stale_s=STALE_S)
        finally:
            go()
            writer.join(60)
    assert [p.path.name for p in written] == zips(hq) == ["20240602_2000_PREP_GUB_CDMX.zip"]
    assert cutkit.hq_verdict(capsys, str(written[0].path)).code == 0


def test_a_cut_longer_than_the_idle_timeout_keeps_its_snapshot(capsys, tmp_path, monkeypatch, hq_store_kind):
    """PostgreSQL ends a session idle in a transaction (postgres.SESSION: 30 s, lowered to 1 s
    here); a cut counts and compresses for minutes inside its read snapshot at national size."""
    if hq_store_kind != "postgres":
        pytest.skip("PostgreSQL's idle_in_transaction_session_timeout")
    monkeypatch.setattr(postgres, "SESSION", ("SET idle_in_transaction_session_timeout = '1s'",
                                              "SET lock_timeout = '30s'"))
    hq, a, b = ck.hq_two_catd(tmp_path)
    cutkit.report_everything(hq, a, b)
    written: list[cut.Published] = []
    with held_mid_cut(hq) as go:
        writer = threading.Thread(target=lambda: written.append(
            cut.publish(hq, at=datetime(2024, 6, 2, 20, 0))))
        writer.start()
        try:
            conn = hq.connect()
            try:
                wait_for(lambda: conn.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE state = 'idle in transaction'"
                    " AND now() - state_change > interval '3 seconds'").fetchone()[0], 30,
                    "the writer idle in its snapshot three times the timeout")
            finally:
                conn.close()
        finally:
            go()
            writer.join(60)
    assert [p.path.name for p in written] == zips(hq) == ["20240602_2000_PREP_GUB_CDMX.zip"]
    assert cutkit.hq_verdict(capsys, str(written[0].path)).code == 0
