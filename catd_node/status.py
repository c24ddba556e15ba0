"""`catd-node status`: where the CATD stands, from the ledger and the sync state."""

from __future__ import annotations

import importlib
import sqlite3
from typing import Any

from catd_node import ledger, store
from catd_node.catalog import Election

_DISTINCT_ACTAS = "SELECT COUNT(DISTINCT acta) FROM packets WHERE kind = ? AND acta IS NOT NULL"
_UNIDENTIFIED = """
SELECT COUNT(*) FROM packets d
WHERE d.kind = 'acta.digitized' AND d.acta IS NULL
  AND NOT EXISTS (
    SELECT 1 FROM packets a WHERE a.kind = 'acta.assigned'
      AND json_extract(CAST(a.canonical AS TEXT), '$.body.image_sha256')
        = json_extract(CAST(d.canonical AS TEXT), '$.body.image.sha256'))
"""
# Registered sin acta and not undone since (an undo names the registration it undoes).
_SIN_ACTA = """
SELECT COUNT(DISTINCT s.acta) FROM packets s
WHERE s.kind = 'acta.sin_acta'
  AND NOT EXISTS (
    SELECT 1 FROM packets u WHERE u.kind = 'acta.sin_acta_undone' AND u.acta = s.acta
      AND json_extract(CAST(u.canonical AS TEXT), '$.body.sin_acta_seq') = s.seq)
"""


def acta_counts(conn: sqlite3.Connection, expected: int, election: Election | None = None,
                node_id: str = "") -> dict[str, int]:
    """Actas by stage of the CATD procedure (acopio → digitalización → captura → verificación),
    those registered sin acta, and (given the election) those of another CATD that reached this one."""
    def distinct(*kinds: str) -> int:
        marks = ",".join("?" * len(kinds))
        sql = f"SELECT COUNT(DISTINCT acta) FROM packets WHERE kind IN ({marks}) AND acta IS NOT NULL"
        return int(conn.execute(sql, kinds).fetchone()[0])

    return {
        "expected": expected,
        "received": distinct("acta.acopio"),
        "digitized": distinct("acta.digitized", "acta.assigned"),
        "unidentified": int(conn.execute(_UNIDENTIFIED).fetchone()[0]),
        "captured": distinct("acta.captured"),
        "verified": distinct("acta.verified"),
        "sin_acta": int(conn.execute(_SIN_ACTA).fetchone()[0]),
        "foreign": foreign_count(conn, election, node_id) if election is not None else 0,
    }


def foreign_count(conn: sqlite3.Connection, election: Election, node_id: str) -> int:
    """Actas with packets here that the catalog assigns to another CATD, this node not being
    their district's capture centre (recorded, flagged)."""
    keys = conn.execute("SELECT DISTINCT acta FROM packets WHERE acta IS NOT NULL")
    return sum(1 for (key,) in keys if not election.may_capture(key, node_id))


def expected(election: Election, node_id: str) -> int:
    """The actas this CATD collects: those the catalog assigns to it or to no CATD."""
    return len(election.actas_of(node_id))


def hq_summary(conn: sqlite3.Connection) -> dict[str, Any]:
    """HQ delivery state as the sync service recorded it (empty until sync has run)."""
    try:
        receipts = importlib.import_module("sync.receipts")
    except ModuleNotFoundError:
        return {"acked_seq": 0, "last_receipt_at": None, "last_error": None}
    summary: dict[str, Any] = receipts.hq_summary(conn)
    return summary


def status(conn: sqlite3.Connection, node_id: str, election: Election,
           hq_problem: str | None = None) -> dict[str, Any]:
    """The document `catd-node status --json` prints; `actas.expected` counts this CATD's actas;
    `hq_problem` says why HQ is not configured (`DataDir.hq_problem`: normal before HQ exists;
    sync waits in that state)."""
    top = ledger.head(conn)
    packets = store.database(conn).table("packets")  # sqlite-utils serves the read side
    hq = hq_summary(conn)
    hq["configured"] = hq_problem is None
    hq["problem"] = hq_problem
    return {
        "node_id": node_id,
        "head": {"seq": top.seq, "hash": top.hash},
        "packets": packets.count,
        "actas": acta_counts(conn, expected(election, node_id), election, node_id),
        "quarantined": packets.count_where("kind = ?", ["scan.quarantined"]),
        "hq": hq,
    }
