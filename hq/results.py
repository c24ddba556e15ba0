"""Results at HQ: the latest `acta.verified` per (node, acta), classified by the shared rules."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from catd_node.actas import Classification, classify
from catd_node.catalog import Election
from hq.binding import image_bound_to_acta

NOT_BOUND = "image_not_bound"  # in `classes`: verified actas left out because of their image
_LATEST_VERIFIED = """
SELECT p.node, p.acta, p.seq, p.at, p.received_at, CAST(p.canonical AS TEXT)
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
    image_bound: bool  # False: never counted (the capture's image is not the acta's, issue 12)


def verified_actas(conn: sqlite3.Connection, election: Election) -> Iterator[VerifiedActa]:
    """Each (node, acta)'s latest verified capture with its classification."""
    for node, acta, seq, at, received_at, text in conn.execute(_LATEST_VERIFIED).fetchall():
        body = json.loads(text)["body"]
        values = body.get("values") if isinstance(body.get("values"), dict) else {}
        bound = image_bound_to_acta(conn, node, acta, body.get("image_sha256"), seq)
        yield VerifiedActa(node, acta, seq, at, received_at, body, classify(election, acta, values), bound)


def results(conn: sqlite3.Connection, election: Election | None) -> dict[str, Any]:
    """GET /v1/results: totals per contest over counted actas, with the classes counted.

    An acta whose image is not bound to it is in no total and in no class of its values: it is
    counted under `image_not_bound` and listed in `not_bound` (node, acta, seq, image)."""
    if election is None:
        return {"contests": {}, "classes": {}, "actas": 0, "not_bound": [],
                "detail": "HQ has no election catalog"}
    contests: dict[str, Any] = {
        c.id: {"name": c.name, "totals": dict.fromkeys(c.votes, 0), "actas_counted": 0}
        for c in election.contests.values()
    }
    classes: dict[str, int] = {}
    not_bound: list[dict[str, Any]] = []
    count = 0
    for item in verified_actas(conn, election):
        count += 1
        if not item.image_bound:
            classes[NOT_BOUND] = classes.get(NOT_BOUND, 0) + 1
            not_bound.append({"node": item.node, "acta": item.acta, "seq": item.seq,
                              "image_sha256": item.body.get("image_sha256")})
            continue
        cls = item.classification
        classes[cls.cls] = classes.get(cls.cls, 0) + 1
        contest = election.contest_of(item.acta)
        if cls.counted and contest is not None:
            entry = contests[contest.id]
            entry["actas_counted"] += 1
            for name, votes in cls.votes.items():
                entry["totals"][name] = entry["totals"].get(name, 0) + votes
    return {"contests": contests, "classes": classes, "actas": count, "not_bound": not_bound}
