"""Acopio: register an acta as received, by typing its key or reading its QR with a barcode gun."""

from __future__ import annotations

import logging

from aiohttp import web

from catd_node.errors import BadInput
from catd_node.web import forms, rules
from catd_node.web.state import BOARD, DB, ELECTION, clerk, render, require

log = logging.getLogger("catd.web.acopio")
RECENT = 15


async def _page(request: web.Request, message: str | None = None, error: str | None = None,
                typed: str = "", status: int = 200) -> web.Response:
    board = request.app[BOARD]
    await board.refresh(request.app[DB].read)
    recent = [board.actas[key] for _, key in reversed(board.acopio_log[-RECENT:])]
    return render(request, "acopio.html", {"message": message, "error": error, "typed": typed,
                                           "recent": recent,
                                           "received": len({k for _, k in board.acopio_log})},
                  status=status)


@require("capturista", "verificador")
async def acopio_form(request: web.Request) -> web.StreamResponse:
    return await _page(request)


@require("capturista", "verificador")
async def acopio_submit(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    typed = form.get("clave", "")
    typed = typed if isinstance(typed, str) else ""
    catalog = request.app[ELECTION].actas
    try:
        key = forms.check_key(typed, catalog)
    except BadInput as exc:
        return await _page(request, error=exc.why, typed=typed[:64], status=400)
    who = clerk(request)
    assert who is not None
    in_catalog = key in catalog
    packet = await request.app[DB].write(rules.acopio, key, who.name, in_catalog)
    if packet is None:
        return await _page(request, message=f"El acta {key} ya estaba registrada como recibida.")
    log.info("acopio acta=%s in_catalog=%s seq=%d", key, in_catalog, packet.seq)
    note = "" if in_catalog else " (FUERA DE CATÁLOGO)"
    return await _page(request, message=f"Acta {key} recibida{note}.")

