"""Results at HQ (GET /v1/results, /v1/conflicts): the summary and totals over `count()`'s records.

Each acta counts once, from the CATD that owns it, with values re-validated by the node's own
rules (DESIGN invariant 6); every report not counted is listed as a conflict for HQ staff.
"""

from __future__ import annotations

import threading
from typing import Any

from catd_node import tally
from catd_node.catalog import Election
from hq import store as hq_store
from hq.count import Count, count
from hq.store import HQDir
from hq.store.base import Conn, is_broken, snapshot

NO_CATALOG = "HQ has no election catalog"


def conflicts_json(counted: Count) -> dict[str, Any]:
    """{"count", "list"}: the shape of conflicts in results, /v1/conflicts and `status --json`."""
    return {"count": len(counted.conflicts), "list": [c.json() for c in counted.conflicts]}


def report(election: Election, counted: Count, final: bool = False) -> dict[str, Any]:
    """GET /v1/results: the 13 summary fields, the totals per contest, the classes, conflicts."""
    summary = tally.summarize(
        election, ((key, record.classification) for key, record in counted.actas.items()), final)
    contests: dict[str, Any] = {
        c.id: {"name": c.name, "totals": dict.fromkeys(c.votes, 0), "actas_counted": 0}
        for c in election.contests.values()
    }
    for key, record in counted.actas.items():
        spec = election.actas.get(key)
        if spec is None or not record.classification.counted:
            continue
        entry = contests[spec.contest]
        entry["actas_counted"] += 1
        for name, votes in record.classification.votes.items():
            entry["totals"][name] += votes
    return {
        "election": election.name, "summary": summary.fields(), "contests": contests,
        "classes": summary.classes, "actas": summary.registradas, "conflicts": conflicts_json(counted),
    }


def results(conn: Conn, election: Election | None) -> dict[str, Any]:
    if election is None:
        return {"contests": {}, "classes": {}, "actas": 0, "detail": NO_CATALOG}
    return report(election, count(conn, election))


class Counter:
    """The count for the HTTP API on its own connection (never on the packet writer's thread,
    so a results request does not hold up ingest), recomputed only when a chain has grown:
    packets are append-only, so the same heads mean the same count."""

    def __init__(self, hq: HQDir, election: Election) -> None:
        self.hq = hq
        self.election = election
        self._lock = threading.Lock()
        self._conn: Conn | None = None
        self._heads: tuple[tuple[str, int], ...] | None = None
        self._count = Count({}, ())

    def count(self) -> Count:
        """The current count (blocking: call it from a thread pool)."""
        with self._lock:
            for attempt in (1, 2):
                if self._conn is None:
                    self._conn = self.hq.connect()
                conn = self._conn
                try:
                    with snapshot(conn):  # one snapshot for the heads and the packets
                        heads = hq_store.heads(conn)
                        if heads != self._heads:
                            self._count = count(conn, self.election)
                            self._heads = heads
                    break
                except Exception:
                    if not is_broken(conn):
                        raise
                    # the database went away (restart, failover): read again on a new connection
                    self._conn = None
                    conn.close()
                    if attempt == 2:
                        raise
            return self._count

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
