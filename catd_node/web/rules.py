"""The procedure's writes: steps that check their precondition and append, `step(tx, ...)`.

Run on the writer thread by `Database.write` (group commit): each step runs inside the shared
BEGIN IMMEDIATE transaction in its own SAVEPOINT, and sees every step before it in the group,
so two clerks racing for the same acta cannot both capture or both verify it.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from catd_node import actas
from catd_node.catalog import Election
from catd_node.errors import CatdError
from catd_node.ledger import Transaction
from catd_node.packets import Packet


class Refused(CatdError):
    """The procedure does not allow this step now (shown to the clerk, HTTP 409 or 403)."""

    status = 409


class Forbidden(Refused):
    status = 403


@dataclass(frozen=True)
class Outcome:
    packet: Packet
    classification: actas.Classification | None = None
    fields: tuple[str, ...] = ()


def _bodies(conn: sqlite3.Connection, key: str, kind: str) -> list[tuple[int, dict[str, Any]]]:
    rows = conn.execute("SELECT seq, canonical FROM packets WHERE acta = ? AND kind = ? ORDER BY seq",
                        (key, kind))
    return [(seq, json.loads(bytes(data))["body"]) for seq, data in rows]


def acopio(tx: Transaction, key: str, by: str, in_catalog: bool) -> Packet | None:
    """Record the acta as received, once; None when it was already received."""
    if _bodies(tx.conn, key, "acta.acopio"):
        return None
    return tx.append("acta.acopio", {"acta": key, "by": by, "in_catalog": in_catalog})


def assign(tx: Transaction, key: str, sha: str, by: str) -> Packet:
    """Give an unidentified image its acta key."""
    row = tx.conn.execute(
        "SELECT acta FROM packets WHERE kind = 'acta.digitized'"
        " AND json_extract(CAST(canonical AS TEXT), '$.body.image.sha256') = ? LIMIT 1", (sha,)
    ).fetchone()
    if row is None:
        raise Refused("imagen", "no hay una imagen digitalizada con ese código")
    if row[0] is not None:
        raise Refused("imagen", f"la imagen ya está identificada como {row[0]}")
    taken = tx.conn.execute(
        "SELECT acta FROM packets WHERE kind = 'acta.assigned'"
        " AND json_extract(CAST(canonical AS TEXT), '$.body.image_sha256') = ? LIMIT 1", (sha,)
    ).fetchone()
    if taken:
        raise Refused("imagen", f"la imagen ya fue asignada a {taken[0]}")
    return tx.append("acta.assigned", {"acta": key, "image_sha256": sha, "by": by})


def capture(tx: Transaction, key: str, sha: str | None, values: dict[str, Any], by: str) -> Packet:
    """The first capture (round 1) of an acta."""
    if any(b.get("round") == 1 for _, b in _bodies(tx.conn, key, "acta.captured")):
        raise Refused(key, "esta acta ya fue capturada")
    return tx.append("acta.captured", {"acta": key, "image_sha256": sha, "values": values,
                                       "by": by, "round": 1})


def _verified_body(election: Election, key: str, sha: str | None, values: dict[str, Any],
                   captured_seq: int, by: str) -> tuple[dict[str, Any], actas.Classification]:
    result = actas.classify(election, key, values)
    return {"acta": key, "image_sha256": sha, "values": values, "class": result.cls,
            "observations": list(result.observations), "total": result.total,
            "captured_seq": captured_seq, "by": by}, result


def verify(tx: Transaction, election: Election, key: str, values: dict[str, Any], by: str) -> Outcome:
    """The blind second entry: a match verifies the acta, a difference records a mismatch."""
    if _bodies(tx.conn, key, "acta.verified"):
        raise Refused(key, "esta acta ya está verificada")
    captures = _bodies(tx.conn, key, "acta.captured")
    first = next(((s, b) for s, b in captures if b.get("round") == 1), None)
    if first is None:
        raise Refused(key, "esta acta aún no ha sido capturada")
    if any(b.get("round") == 2 for _, b in captures):
        raise Refused(key, "esta acta ya tiene segunda captura")
    first_seq, first_body = first
    if first_body.get("by") == by:
        raise Forbidden(key, "nadie puede verificar su propia captura")
    sha = first_body.get("image_sha256")
    tx.append("acta.captured", {"acta": key, "image_sha256": sha, "values": values,
                                "by": by, "round": 2})
    differ = tuple(f for f in sorted(set(values) | set(first_body["values"]))
                   if values.get(f) != first_body["values"].get(f))
    if differ:
        packet = tx.append("acta.mismatch", {"acta": key, "captured_seq": first_seq,
                                             "fields": list(differ), "by": by})
        return Outcome(packet, None, differ)
    body, result = _verified_body(election, key, sha, values, first_seq, by)
    return Outcome(tx.append("acta.verified", body), result)


def resolve(tx: Transaction, election: Election, key: str, values: dict[str, Any], by: str) -> Outcome:
    """The coordinator's decision on a mismatch, recorded as the acta's verification."""
    if _bodies(tx.conn, key, "acta.verified"):
        raise Refused(key, "esta acta ya está verificada")
    if not _bodies(tx.conn, key, "acta.mismatch"):
        raise Refused(key, "esta acta no tiene discrepancia pendiente")
    captures = _bodies(tx.conn, key, "acta.captured")
    if any(b.get("by") == by for _, b in captures):
        raise Forbidden(key, "nadie puede resolver un acta que capturó")
    first_seq, first_body = next((s, b) for s, b in captures if b.get("round") == 1)
    body, result = _verified_body(election, key, first_body.get("image_sha256"), values,
                                  first_seq, by)
    return Outcome(tx.append("acta.verified", body), result)
