"""Acopio: register an acta as received, by typing its key or reading its QR with a barcode gun.

Every acta typed is recorded, whatever it is: one outside the catalog (FUERA DE CATÁLOGO), one
the catalog assigns to another CATD, one registered as sin acta — the clerk is told, and the
dashboard flags it; nothing is dropped (DESIGN invariant 1).
"""

from __future__ import annotations

import logging

from aiohttp import web

from catd_node import actas
from catd_node.catalog import Election
from catd_node.errors import BadInput
from catd_node.web import forms, rules
from catd_node.web.board import ActaState
from catd_node.web.state import BOARD, DATADIR, DB, ELECTION, clerk, render, require

log = logging.getLogger("catd.web.acopio")
RECENT = 15
# LEEME_G field 46: the special modalities publish their own document type.
TIPO_DOCUMENTO_BY_CASILLA = {"A": "ACTA VA", "M": "ACTA VRME", "P": "ACTA VPPP"}


def tipo_documento_for(election: Election, key: str) -> str:
    spec = election.actas.get(key)
    tipo = spec.tipo_casilla if spec is not None else ""
    return TIPO_DOCUMENTO_BY_CASILLA.get(tipo, rules.TIPO_DOCUMENTO_DEFAULT)


async def _page(request: web.Request, message: str | None = None, error: str | None = None,
                typed: str = "", status: int = 200, warning: str | None = None,
                mecanismo: str = "", tipo: str = "") -> web.Response:
    board = request.app[BOARD]
    await board.refresh(request.app[DB].read)
    recent = [board.actas[key] for _, key in reversed(board.acopio_log[-RECENT:])]
    return render(request, "acopio.html", {"message": message, "error": error, "typed": typed,
                                           "warning": warning, "recent": recent,
                                           "received": len({k for _, k in board.acopio_log}),
                                           "mecanismos": rules.MECANISMOS_TRASLADO,
                                           "tipos": rules.TIPOS_DOCUMENTO, "mecanismo": mecanismo,
                                           "tipo": tipo},
                  status=status)


@require("capturista", "verificador")
async def acopio_form(request: web.Request) -> web.StreamResponse:
    return await _page(request)


def _choice(raw: str, name: str, allowed: dict[str, str]) -> str | None:
    """A select's value: one of `allowed`, or None when left blank."""
    value = raw.strip()
    if value == "":
        return None
    if value not in allowed:
        raise BadInput(name, f"«{value[:20]}» no es una opción de la lista")
    return value


def _warning(state: ActaState | None, node: str) -> str | None:
    """What the clerk must hand to the coordinator: an acta of another CATD, or one registered sin acta."""
    if state is None:
        return None
    if state.foreign:
        return (f"El acta {state.key} corresponde al {state.owner}, no a este CATD ({node}): "
                "quedó registrada y señalada en el tablero; entréguela a coordinación.")
    if state.sin_acta is not None:
        label = actas.SIN_ACTA_LABELS.get(state.sin_acta.reason, state.sin_acta.reason)
        return (f"El acta {state.key} estaba registrada como SIN ACTA ({label.lower()}): "
                "avise a coordinación para deshacer ese registro; mientras tanto no se captura.")
    return None


@require("capturista", "verificador")
async def acopio_submit(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    typed = form.get("clave", "")
    typed = typed if isinstance(typed, str) else ""
    # Kept selected for the next paquete: a batch from one CRyT arrives together.
    chosen_mecanismo = str(form.get("mecanismo", ""))[:8]
    chosen_tipo = str(form.get("tipo_documento", ""))[:16]
    election = request.app[ELECTION]
    try:
        key = forms.check_key(typed, election.actas)
        mecanismo = _choice(chosen_mecanismo, "mecanismo de traslado", rules.MECANISMOS_TRASLADO)
        tipo = _choice(chosen_tipo, "tipo de documento", rules.TIPOS_DOCUMENTO)
    except BadInput as exc:
        return await _page(request, error=f"{exc.what}: {exc.why}" if exc.what != "clave" else exc.why,
                           typed=typed[:64], status=400, mecanismo=chosen_mecanismo, tipo=chosen_tipo)
    tipo = tipo or tipo_documento_for(election, key)
    who = clerk(request)
    assert who is not None
    in_catalog = key in election.actas
    packet = await request.app[DB].write(rules.acopio, key, who.name, in_catalog, mecanismo, tipo)
    board = request.app[BOARD]
    await board.refresh(request.app[DB].read)
    warning = _warning(board.actas.get(key), request.app[DATADIR].config.node_id)
    if packet is None:
        return await _page(request, message=f"El acta {key} ya estaba registrada como recibida.",
                           warning=warning, mecanismo=chosen_mecanismo, tipo=chosen_tipo)
    log.info("acopio acta=%s in_catalog=%s seq=%d", key, in_catalog, packet.seq)
    note = "" if in_catalog else " (FUERA DE CATÁLOGO)"
    return await _page(request, message=f"Acta {key} recibida{note}.", warning=warning,
                       mecanismo=chosen_mecanismo, tipo=chosen_tipo)
