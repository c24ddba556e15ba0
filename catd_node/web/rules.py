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
from catd_node.web.board import ActaState, Capture


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


_ACTA_KINDS = ("acta.digitized", "acta.assigned", "acta.image_kept", "acta.captured", "acta.mismatch",
               "acta.verified", "acta.sin_acta", "acta.sin_acta_undone")


def acta_state(conn: sqlite3.Connection, key: str) -> ActaState:
    """The acta as its packets leave it, folded by the board's own rules (one reading of them)."""
    state = ActaState(key)
    marks = ",".join("?" * len(_ACTA_KINDS))
    rows = conn.execute(f"SELECT seq, kind, at, canonical FROM packets WHERE acta = ? AND kind IN ({marks})"
                        " ORDER BY seq", (key, *_ACTA_KINDS))
    for seq, kind, at, data in rows:
        state.apply(seq, kind, at, json.loads(bytes(data))["body"])
    return state


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
    if tx.conn.execute("SELECT 1 FROM packets WHERE acta = ? AND kind = 'acta.acopio' LIMIT 1",
                       (key,)).fetchone():
        return None
    return tx.append("acta.acopio", {"acta": key, "by": by, "in_catalog": in_catalog,
                                     "mecanismo_traslado": mecanismo_traslado,
                                     "tipo_documento": tipo_documento})


def _refuse_sin_acta(state: ActaState) -> None:
    """Nothing is captured for an acta registered as sin acta: its class would be two things."""
    if state.sin_acta is not None:
        label = actas.SIN_ACTA_LABELS.get(state.sin_acta.reason, state.sin_acta.reason)
        raise Refused(state.key, f"está registrada como sin acta ({label.lower()}); la coordinación debe "
                                 "deshacer ese registro antes de capturarla o verificarla")


class NeedsReplacement(Refused):
    """The acta already has an image: assigning another one must be confirmed as a replacement."""

    def __init__(self, key: str, current: str) -> None:
        super().__init__(key, f"el acta ya tiene la imagen {current}; para sustituirla confirme el reemplazo")
        self.current = current


def assign(tx: Transaction, key: str, sha: str, by: str, replace: bool = False) -> Packet:
    """Give an unidentified image its acta key, or make another image identified as this acta
    (QR code, sidecar, file name) its image. If the acta already has an image, only as a
    confirmed replacement (`replace`), recorded in the packet as `replaces`: the captures on the
    old image stop counting and the acta is captured again (`ActaState.capture`)."""
    row = tx.conn.execute(
        "SELECT acta FROM packets WHERE kind = 'acta.digitized'"
        " AND json_extract(CAST(canonical AS TEXT), '$.body.image.sha256') = ? LIMIT 1", (sha,)
    ).fetchone()
    if row is None:
        raise Refused("imagen", "no hay una imagen digitalizada con ese código")
    if row[0] is not None and row[0] != key:
        raise Refused("imagen", f"la imagen ya está identificada como {row[0]}")
    taken = tx.conn.execute(
        "SELECT acta FROM packets WHERE kind = 'acta.assigned'"
        " AND json_extract(CAST(canonical AS TEXT), '$.body.image_sha256') = ? LIMIT 1", (sha,)
    ).fetchone()
    if taken and taken[0] != key:
        raise Refused("imagen", f"la imagen ya fue asignada a {taken[0]}")
    state = acta_state(tx.conn, key)
    if sha == state.image:
        raise Refused(key, f"la imagen {sha} ya es la imagen del acta")
    body: dict[str, Any] = {"acta": key, "image_sha256": sha, "by": by}
    if state.image is not None:
        if state.verified:
            raise Refused(key, "el acta ya está verificada; su imagen no se reemplaza")
        if not replace:
            raise NeedsReplacement(key, state.image)
        body["replaces"] = state.image
    return tx.append("acta.assigned", body)


def keep_image(tx: Transaction, key: str, other: str, by: str) -> Packet:
    """A coordinator keeps the acta's image over `other`, a second image identified as the same
    acta and not yet decided on (`ActaState.pending`); the captures on the acta's image stand."""
    state = acta_state(tx.conn, key)
    if other not in state.pending:
        raise Refused(key, f"la imagen {other} no es otra imagen pendiente de esta acta")
    assert state.image is not None   # a pending image arrives only after the acta's own
    return tx.append("acta.image_kept", {"acta": key, "image_sha256": state.image, "other_sha256": other,
                                         "by": by})


def _unbound(key: str, sha: str | None) -> Refused:
    if sha is None:
        return Refused(key, "sin imagen: ningún registro de digitalización o asignación une una imagen"
                            " a esta acta; no se guardó nada")
    return Refused(key, f"la imagen {sha} no está vinculada a esta acta (ningún registro de digitalización"
                        " o asignación la une a ella); no se guardó nada")


def _counted_capture(state: ActaState) -> Capture:
    """The first capture that counts, or a refusal naming why there is none."""
    first = state.capture(1)
    if first is not None:
        return first
    void = state.void_capture()
    if void is not None:
        raise Refused(state.key, f"la captura se hizo sobre la imagen {void.image_sha256 or '(ninguna)'},"
                                 " que no está vinculada a esta acta; debe capturarse de nuevo")
    raise Refused(state.key, "esta acta aún no ha sido capturada")


def capture(tx: Transaction, key: str, sha: str | None, values: dict[str, Any], by: str) -> Packet:
    """The first capture (round 1) of an acta, on an image bound to it (issue 12)."""
    state = acta_state(tx.conn, key)
    _refuse_sin_acta(state)
    if state.verified:
        raise Refused(key, "esta acta ya está verificada")
    if sha is not None and sha in state.others:
        raise Refused(key, f"la imagen {sha} es otra imagen de esta acta, no la suya ({state.image}); para"
                           " capturar sobre ella confirme antes el reemplazo; no se guardó nada")
    if sha is None or sha not in state.images:
        raise _unbound(key, sha)
    if state.capture(1) is not None:
        raise Refused(key, "esta acta ya fue capturada")
    return tx.append("acta.captured", {"acta": key, "image_sha256": sha, "values": values,
                                       "by": by, "round": 1})


def _verified_body(election: Election, key: str, sha: str | None, values: dict[str, Any],
                   captured_seq: int, by: str) -> tuple[dict[str, Any], actas.Classification]:
    result = actas.classify(election, key, values)
    return {"acta": key, "image_sha256": sha, "values": values, "class": result.cls,
            "observations": list(result.observations), "total": result.total,
            "captured_seq": captured_seq, "by": by}, result


def verify(tx: Transaction, election: Election, key: str, values: dict[str, Any], by: str,
           sha: str | None = None) -> Outcome:
    """The blind second entry, on the image of the first capture: a match verifies the acta, a
    difference records a mismatch. `sha`, the image the verifier was shown, must be that one."""
    state = acta_state(tx.conn, key)
    _refuse_sin_acta(state)
    if state.verified:
        raise Refused(key, "esta acta ya está verificada")
    first = _counted_capture(state)
    if state.capture(2) is not None:
        raise Refused(key, "esta acta ya tiene segunda captura")
    if first.by == by:
        raise Forbidden(key, "nadie puede verificar su propia captura")
    if sha is not None and sha != first.image_sha256:
        raise Refused(key, f"la verificación se hizo sobre la imagen {sha}, pero la captura usó la imagen"
                           f" {first.image_sha256}; abra de nuevo el acta")
    tx.append("acta.captured", {"acta": key, "image_sha256": first.image_sha256, "values": values,
                                "by": by, "round": 2})
    differ = tuple(f for f in sorted(set(values) | set(first.values))
                   if values.get(f) != first.values.get(f))
    if differ:
        packet = tx.append("acta.mismatch", {"acta": key, "captured_seq": first.seq,
                                             "fields": list(differ), "by": by})
        return Outcome(packet, None, differ)
    body, result = _verified_body(election, key, first.image_sha256, values, first.seq, by)
    return Outcome(tx.append("acta.verified", body), result)


def resolve(tx: Transaction, election: Election, key: str, values: dict[str, Any], by: str) -> Outcome:
    """The coordinator's decision on a mismatch, recorded as the acta's verification."""
    state = acta_state(tx.conn, key)
    _refuse_sin_acta(state)
    if state.verified:
        raise Refused(key, "esta acta ya está verificada")
    first = _counted_capture(state)
    if state.mismatch is None:
        raise Refused(key, "esta acta no tiene discrepancia pendiente")
    if any(c.by == by for c in state.captures):
        raise Forbidden(key, "nadie puede resolver un acta que capturó")
    body, result = _verified_body(election, key, first.image_sha256, values, first.seq, by)
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
    state = acta_state(tx.conn, key)
    if state.sin_acta is not None:
        raise Refused(key, "ya está registrada como sin acta")
    if state.verified:
        raise Refused(key, "ya tiene una captura verificada: no puede registrarse sin acta")
    actas.sin_acta(election, key, reason)  # the shared rule agrees (catalog acta, known reason)
    return tx.append("acta.sin_acta", {"acta": key, "reason": reason, "by": by})


def undo_sin_acta(tx: Transaction, key: str, by: str) -> Packet:
    """The acta turned up after all: the registration is undone, and it can be captured."""
    standing = acta_state(tx.conn, key).sin_acta
    if standing is None:
        raise Refused(key, "no está registrada como sin acta")
    return tx.append("acta.sin_acta_undone", {"acta": key, "sin_acta_seq": standing.seq, "by": by})
