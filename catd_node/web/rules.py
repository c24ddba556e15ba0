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


# MECANISMOS_TRASLADO (LEEME_G field 39): how the paquete travelled; None: directly.
MECANISMOS_TRASLADO = {
    "D": "D — dispositivo de apoyo para el traslado de presidentes de mesa",
    "F": "F — centro de recepción y traslado fijo",
    "I": "I — centro de recepción y traslado itinerante",
}
# TIPO_DOCUMENTO (LEEME_G field 46): which document was received and digitized.
TIPOS_DOCUMENTO = {
    "ACTA PREP": "ACTA PREP — el acta PREP",
    "RPP": "RPP — copia de la representación de un partido",
    "CC": "CC — copia obtenida del consejo",
    "PPC": "PPC — copia de representación obtenida del consejo",
    "ACTA VRME": "ACTA VRME — voto de mexicanos residentes en el extranjero",
    "ACTA VA": "ACTA VA — voto anticipado",
    "ACTA VPPP": "ACTA VPPP — voto de personas en prisión preventiva",
    "ACTA UE": "ACTA UE — urna electrónica",
}
TIPO_DOCUMENTO_DEFAULT = "ACTA PREP"


def acopio(tx: Transaction, key: str, by: str, in_catalog: bool, mecanismo_traslado: str | None = None,
           tipo_documento: str = TIPO_DOCUMENTO_DEFAULT) -> Packet | None:
    """Record the acta as received, once; None when it was already received."""
    if mecanismo_traslado is not None and mecanismo_traslado not in MECANISMOS_TRASLADO:
        raise Refused("mecanismo de traslado", f"{mecanismo_traslado!r} no es D, F, I ni vacío")
    if tipo_documento not in TIPOS_DOCUMENTO:
        raise Refused("tipo de documento", f"{tipo_documento!r} no es uno de {', '.join(TIPOS_DOCUMENTO)}")
    if _bodies(tx.conn, key, "acta.acopio"):
        return None
    return tx.append("acta.acopio", {"acta": key, "by": by, "in_catalog": in_catalog,
                                     "mecanismo_traslado": mecanismo_traslado,
                                     "tipo_documento": tipo_documento})


def open_sin_acta(conn: sqlite3.Connection, key: str) -> tuple[int, dict[str, Any]] | None:
    """The acta's sin acta registration that no `acta.sin_acta_undone` has undone, or None."""
    registered = _bodies(conn, key, "acta.sin_acta")
    if not registered:
        return None
    undone = {b.get("sin_acta_seq") for _, b in _bodies(conn, key, "acta.sin_acta_undone")}
    still = [(seq, body) for seq, body in registered if seq not in undone]
    return still[-1] if still else None


def _refuse_sin_acta(conn: sqlite3.Connection, key: str) -> None:
    """Nothing is captured for an acta registered as sin acta: its class would be two things."""
    found = open_sin_acta(conn, key)
    if found is not None:
        label = actas.SIN_ACTA_LABELS.get(str(found[1].get("reason")), str(found[1].get("reason")))
        raise Refused(key, f"está registrada como sin acta ({label.lower()}); la coordinación debe "
                           "deshacer ese registro antes de capturarla o verificarla")


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
    _refuse_sin_acta(tx.conn, key)
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
    _refuse_sin_acta(tx.conn, key)
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
    _refuse_sin_acta(tx.conn, key)
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


def register_sin_acta(tx: Transaction, election: Election, node: str, key: str, reason: str,
                      by: str) -> Packet:
    """The coordinator records that an expected acta of this CATD could not be had (Anexo 13)."""
    if reason not in actas.SIN_ACTA_REASONS:
        raise Refused("motivo", "elija uno de los motivos de la lista")
    if key not in election.actas:
        raise Refused(key, "no está en el catálogo: solo un acta esperada puede registrarse sin acta")
    owner = election.owner(key)
    if owner is not None and owner != node:
        raise Refused(key, f"corresponde al {owner}; solo ese CATD puede registrarla sin acta")
    if open_sin_acta(tx.conn, key) is not None:
        raise Refused(key, "ya está registrada como sin acta")
    if _bodies(tx.conn, key, "acta.verified"):
        raise Refused(key, "ya tiene una captura verificada: no puede registrarse sin acta")
    actas.sin_acta(election, key, reason)  # the shared rule agrees (catalog acta, known reason)
    return tx.append("acta.sin_acta", {"acta": key, "reason": reason, "by": by})


def undo_sin_acta(tx: Transaction, key: str, by: str) -> Packet:
    """The acta turned up after all: the registration is undone, and it can be captured."""
    found = open_sin_acta(tx.conn, key)
    if found is None:
        raise Refused(key, "no está registrada como sin acta")
    return tx.append("acta.sin_acta_undone", {"acta": key, "sin_acta_seq": found[0], "by": by})
