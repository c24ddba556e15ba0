"""Only one receiver writes a given cut: receivers racing for the same cut on one store get
exactly one claim; a finished cut is never claimed again; no cut is claimed while another is
being written; a dead receiver's claim is taken over once it is stale, a renewed one never."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from hq import cuts
from hq.store import HQDir

RACERS = 3


def test_receivers_racing_for_a_cut_get_one_claim(hq_dir: HQDir) -> None:
    conns = [hq_dir.connect() for _ in range(RACERS)]
    try:
        for n in range(1, 16):
            cut = cuts.key(n)
            barrier = threading.Barrier(RACERS)

            def race(i: int, cut: str = cut, barrier: threading.Barrier = barrier) -> cuts.Held | None:
                barrier.wait()
                return cuts.claim(conns[i], cut, f"receiver-{i}")

            with ThreadPoolExecutor(RACERS) as pool:
                held = list(pool.map(race, range(RACERS)))
            assert held.count(None) == 1, (cut, held)
            winner = f"receiver-{held.index(None)}"
            assert all(h is None or (h.cut, h.receiver, h.done) == (cut, winner, False) for h in held), held
            assert cuts.finish(conns[0], cut, winner)
            again = [cuts.claim(conns[i], cut, f"receiver-{i}") for i in range(RACERS)]
            assert all(h is not None and h.done and h.receiver == winner for h in again), again
    finally:
        for conn in conns:
            conn.close()


def test_no_cut_is_claimed_while_another_is_written(hq_dir: HQDir) -> None:
    """Each cut names the one before: a later cut written meanwhile would name the same one."""
    conn = hq_dir.connect()
    try:
        assert cuts.claim(conn, cuts.key(1), "a", now="2027-06-06T20:20:00.000Z") is None
        held = cuts.claim(conn, cuts.key(2), "b", now="2027-06-06T20:21:00.000Z")
        assert held is not None and (held.cut, held.receiver, held.done) == (cuts.key(1), "a", False)
        assert "cut 1 is being written by a" in held.why()
        assert cuts.finish(conn, cuts.key(1), "a")
        assert cuts.claim(conn, cuts.key(2), "b", now="2027-06-06T20:22:00.000Z") is None
        cuts.release(conn, cuts.key(2), "b")     # b's cut failed: the next writer need not wait
        assert cuts.claim(conn, cuts.key(2), "c", now="2027-06-06T20:23:00.000Z") is None
    finally:
        conn.close()


def test_a_stale_claim_is_taken_over_once(hq_dir: HQDir) -> None:
    conn = hq_dir.connect()
    try:
        cut = cuts.key(3)
        assert cuts.claim(conn, cut, "a", now="2027-06-06T20:20:00.000Z") is None
        assert cuts.claim(conn, cut, "a", now="2027-06-06T20:21:00.000Z") is None  # still a's
        assert cuts.claim(conn, cut, "b", now="2027-06-06T20:25:00.000Z") is not None  # a may be at work
        assert cuts.claim(conn, cut, "b", now="2027-06-06T20:31:00.000Z") is None  # a died 11 min ago
        assert cuts.claim(conn, cut, "c", now="2027-06-06T20:32:00.000Z") is not None
        assert not cuts.renew(conn, cut, "a"), "a's late copy is not the one kept"
        assert not cuts.finish(conn, cut, "a")
        assert cuts.finish(conn, cut, "b")
        held = cuts.claim(conn, cut, "c", now="2027-06-07T09:00:00.000Z")
        assert held is not None and held.done and "cut 3 was written by b" in held.why()
    finally:
        conn.close()


def test_a_renewed_claim_is_never_stale(hq_dir: HQDir) -> None:
    conn = hq_dir.connect()
    try:
        cut = cuts.key(4)
        assert cuts.claim(conn, cut, "a", now="2000-01-01T00:00:00.000Z") is None
        assert cuts.renew(conn, cut, "a")     # now: the claim is as fresh as the clock
        assert cuts.claim(conn, cut, "b") is not None
        assert cuts.claim(conn, cuts.key(5), "b") is not None, "nor is another cut claimed"
    finally:
        conn.close()
