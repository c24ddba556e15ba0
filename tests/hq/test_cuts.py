"""Only one receiver writes a given cut: receivers racing for the same cut on one store get
exactly one claim; a finished cut is never claimed again; a dead receiver's claim is taken over."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from hq import cuts
from hq.store import HQDir

RACERS = 3


def test_receivers_racing_for_a_cut_get_one_claim(hq_dir: HQDir) -> None:
    conns = [hq_dir.connect() for _ in range(RACERS)]
    try:
        for n in range(15):
            cut = f"20270606_{2000 + n:04d}_PREP_GUB_CDMX"
            barrier = threading.Barrier(RACERS)

            def race(i: int, cut: str = cut, barrier: threading.Barrier = barrier) -> bool:
                barrier.wait()
                return cuts.claim(conns[i], cut, f"receiver-{i}")

            with ThreadPoolExecutor(RACERS) as pool:
                won = list(pool.map(race, range(RACERS)))
            assert won.count(True) == 1, (cut, won)
            winner = f"receiver-{won.index(True)}"
            assert cuts.finish(conns[0], cut, winner)
            assert not any(cuts.claim(conns[i], cut, f"receiver-{i}") for i in range(RACERS))
    finally:
        for conn in conns:
            conn.close()


def test_a_stale_claim_is_taken_over_once(hq_dir: HQDir) -> None:
    conn = hq_dir.connect()
    try:
        cut = "20270606_2020_PREP_GUB_CDMX"
        assert cuts.claim(conn, cut, "a", now="2027-06-06T20:20:00.000Z")
        assert cuts.claim(conn, cut, "a", now="2027-06-06T20:21:00.000Z")  # still a's
        assert not cuts.claim(conn, cut, "b", now="2027-06-06T20:25:00.000Z")  # a may be at work
        assert cuts.claim(conn, cut, "b", now="2027-06-06T20:31:00.000Z")  # a died 11 min ago
        assert not cuts.claim(conn, cut, "c", now="2027-06-06T20:32:00.000Z")
        assert not cuts.finish(conn, cut, "a")  # a's late copy is not the one kept
        assert cuts.finish(conn, cut, "b")
        assert not cuts.claim(conn, cut, "c", now="2027-06-07T09:00:00.000Z")
    finally:
        conn.close()
