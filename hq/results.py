"""Results at HQ: the latest `acta.verified` per (node, acta), classified by the shared rules."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from catd_node.actas import Classification, classify
from catd_node.catalog import Election
from hq.store.base import Conn

_LATEST_VERIFIED = """
SELECT p.node, p.acta, p.seq, p.at, p.received_at, p.canonical
FROM packets p
JOIN (SELECT node, acta, MAX(seq) AS seq FROM packets
      WHERE kind = 'acta.verified' AND acta IS NOT NULL GROUP BY node, acta) last
  ON p.node = last.node AND p.seq = last.seq
ORDER BY p.node, p.acta
"""


@dataclass(frozen=True)
class VerifiedActa:
    node: str
    acta: str
    seq: int
    verified_at: str
    received_at: str
    body: dict[str, Any]
    classification: Classification


def verified_actas(conn: Conn, election: Election) -> Iterator[VerifiedActa]:
    """Each (node, acta)'s latest verified capture with its classification."""
    for node, acta, seq, at, received_at, canonical in conn.execute(_LATEST_VERIFIED).fetchall():
        body = json.loads(bytes(canonical))["body"]
        values = body.get("values") if isinstance(body.get("values"), dict) else {}
        yield VerifiedActa(node, acta, seq, at, received_at, body, classify(election, acta, values))


def results(conn: Conn, election: Election | None) -> dict[str, Any]:
    """GET /v1/results: totals per contest over counted actas, with the classes counted."""
    if election is None:
        return {"contests": {}, "classes": {}, "actas": 0, "detail": "HQ has no election catalog"}
    contests: dict[str, Any] = {
        c.id: {"name": c.name, "totals": dict.fromkeys(c.votes, 0), "actas_counted": 0}
        for c in election.contests.values()
    }
    classes: dict[str, int] = {}
    count = 0
    for item in verified_actas(conn, election):
        count += 1
        cls = item.classification
        classes[cls.cls] = classes.get(cls.cls, 0) + 1
        contest = election.contest_of(item.acta)
        if cls.counted and contest is not None:
            entry = contests[contest.id]
            entry["actas_counted"] += 1
            for name, votes in cls.votes.items():
                entry["totals"][name] = entry["totals"].get(name, 0) + votes
    return {"contests": contests, "classes": classes, "actas": count}
