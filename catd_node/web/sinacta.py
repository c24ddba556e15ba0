"""Sin acta: the coordinator records that an expected acta of this CATD could not be had
(paquete no entregado, casilla no instalada, paquete sin bolsa), and undoes it if it turns up.

Both are signed packets (`acta.sin_acta`, `acta.sin_acta_undone`); nothing is deleted. While an
acta is registered sin acta it is out of the capture and verification queues and any capture of
it is refused in the writing transaction (`rules._refuse_sin_acta`); an acopio or an image of it
is still recorded, and flagged here and on the dashboard so the coordinator can undo.
"""

from __future__ import annotations

import logging

from aiohttp import web

from catd_node import actas
from catd_node.errors import BadInput
from catd_node.web import forms, rules
from catd_node.web.state import BOARD, DATADIR, DB, ELECTION, clerk, render, require

log = logging.getLogger("catd.web.sinacta")
SUGGESTIONS = 2_000  # keys offered in the datalist: a CATD's own actas, never the whole state


async def _page(request: web.Request, message: str | None = None, error: str | None = None,
                typed: str = "", reason: str = "", status: int = 200) -> web.Response:
    board = request.app[BOARD]
    await board.refresh(request.app[DB].read)
    node = request.app[DATADIR].config.node_id
    pending = [k for k in request.app[ELECTION].actas_of(node)
               if (s := board.actas.get(k)) is None or (s.sin_acta is None and not s.verified)]
    return render(request, "sin_acta.html", {
        "message": message, "error": error, "typed": typed, "reason": reason,
        "reasons": actas.SIN_ACTA_LABELS, "registered": board.sin_actas(),
        "suggestions": pending[:SUGGESTIONS]}, status=status)


@require("coordinador")
async def sin_acta_page(request: web.Request) -> web.StreamResponse:
    return await _page(request)


@require("coordinador")
async def sin_acta_submit(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    typed, reason = str(form.get("clave", "")), str(form.get("motivo", ""))
    try:
        key = forms.check_key(typed, request.app[ELECTION].actas)
    except BadInput as exc:
        return await _page(request, error=exc.why, typed=typed[:64], reason=reason, status=400)
    who = clerk(request)
    assert who is not None
    node = request.app[DATADIR].config.node_id
    try:
        packet = await request.app[DB].write(rules.register_sin_acta, request.app[ELECTION], node, key,
                                             reason, who.name)
    except rules.Refused as exc:
        return await _page(request, error=f"{exc.what}: {exc.why}.", typed=key, reason=reason,
                           status=exc.status)
    log.info("sin acta acta=%s reason=%s seq=%d", key, reason, packet.seq)
    label = actas.SIN_ACTA_LABELS[reason].lower()
    return await _page(request, message=f"Acta {key} registrada como sin acta ({label}).")


@require("coordinador")
async def sin_acta_undo(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    try:
        key = forms.check_key(str(form.get("acta", "")), request.app[ELECTION].actas)
    except BadInput as exc:
        return await _page(request, error=exc.why, status=400)
    who = clerk(request)
    assert who is not None
    try:
        packet = await request.app[DB].write(rules.undo_sin_acta, key, who.name)
    except rules.Refused as exc:
        return await _page(request, error=f"{exc.what}: {exc.why}.", status=exc.status)
    log.info("sin acta undone acta=%s seq=%d", key, packet.seq)
    return await _page(request, message=f"Registro sin acta de {key} deshecho: el acta puede capturarse.")
