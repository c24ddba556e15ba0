"""`catd-node status`: where the CATD stands, from the ledger and the sync state."""

from __future__ import annotations

import importlib
import sqlite3
from typing import Any

from catd_node import ledger, store

_DISTINCT_ACTAS = "SELECT COUNT(DISTINCT acta) FROM packets WHERE kind = ? AND acta IS NOT NULL"
_UNIDENTIFIED = """
SELECT COUNT(*) FROM packets d
WHERE d.kind = 'acta.digitized' AND d.acta IS NULL
  AND NOT EXISTS (
    SELECT 1 FROM packets a WHERE a.kind = 'acta.assigned'
      AND json_extract(CAST(a.canonical AS TEXT), '$.body.image_sha256')
        = json_extract(CAST(d.canonical AS TEXT), '$.body.image.sha256'))
"""


def acta_counts(conn: sqlite3.Connection, expected: int) -> dict[str, int]:
    """Actas by stage of the CATD procedure (acopio → digitalización → captura → verificación)."""
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
    }


def hq_summary(conn: sqlite3.Connection) -> dict[str, Any]:
    """HQ delivery state as the sync service recorded it (empty until sync has run)."""
    try:
        receipts = importlib.import_module("sync.receipts")
    except ModuleNotFoundError:
        return {"acked_seq": 0, "last_receipt_at": None, "last_error": None}
    summary: dict[str, Any] = receipts.hq_summary(conn)
    return summary


def status(conn: sqlite3.Connection, node_id: str, expected: int,
           hq_problem: str | None = None) -> dict[str, Any]:
    """The document `catd-node status --json` prints; `hq_problem` says why HQ is not configured
    (`DataDir.hq_problem`: normal before HQ exists; sync waits in that state)."""
    top = ledger.head(conn)
    packets = store.database(conn).table("packets")  # sqlite-utils serves the read side
    hq = hq_summary(conn)
    hq["configured"] = hq_problem is None
    hq["problem"] = hq_problem
    return {
        "node_id": node_id,
        "head": {"seq": top.seq, "hash": top.hash},
        "packets": packets.count,
        "actas": acta_counts(conn, expected),
        "quarantined": packets.count_where("kind = ?", ["scan.quarantined"]),
        "hq": hq,
    }
