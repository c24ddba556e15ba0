"""Verificación: a blind second entry by another clerk; the coordinator decides mismatches."""

from __future__ import annotations

import logging
from urllib.parse import quote

from aiohttp import web

from catd_node import actas
from catd_node.actas import CLASS_LABELS
from catd_node.errors import BadInput
from catd_node.web import forms, rules
from catd_node.web.board import ActaState
from catd_node.web.capture import entry_context, foreign, needs_confirmation, read_submitted, retype
from catd_node.web.state import BOARD, DB, ELECTION, clerk, now, render, require

log = logging.getLogger("catd.web.verification")


def _result_message(state: ActaState | None) -> tuple[str | None, str | None]:
    """(notice, warning) for the acta just verified or found in mismatch."""
    if state is None:
        return None, None
    if state.verified:
        v = state.verified
        label = _class_label(v.cls)
        obs = (" Observaciones: " + ", ".join(v.observations) + ".") if v.observations else ""
        detail = actas.unreadable_detail(v.values, v.values)
        obs += f" ({detail})" if detail else ""
        return f"Acta {state.key} verificada: {label}.{obs}", None
    if state.mismatch_seq is not None:
        return None, (f"Acta {state.key}: las capturas no coinciden en {', '.join(state.mismatch_fields)}."
                      " Pasa a coordinación.")
    return None, None


def _class_label(cls: str) -> str:
    return CLASS_LABELS.get(cls, cls)


@require("verificador")
async def verify_next(request: web.Request) -> web.StreamResponse:
    board = request.app[BOARD]
    await board.refresh(request.app[DB].read)
    who = clerk(request)
    assert who is not None
    done = request.query.get("hecho")
    notice, warning = _result_message(board.actas.get(done) if done else None)
    key = board.claim("verificacion", [s.key for s in board.to_verify(who.name)], who.name, now(request))
    if key is None:
        return render(request, "empty.html", {"message": notice, "warning": warning, "title": "Verificación",
                                              "text": "No hay actas pendientes de verificación."})
    first = board.actas[key].capture(1)
    sha = first.image_sha256 if first else None
    return render(request, "capture.html", {"message": notice, "warning": warning, "mode": "verificacion",
                                            **entry_context(request, key, sha)})


@require("verificador")
async def verify_submit(request: web.Request) -> web.StreamResponse:
    sent = await read_submitted(request)
    key, entry = sent.key, sent.entry
    if (elsewhere := foreign(request, key)) is not None:
        return render(request, "error.html", {"title": "Verificación", "message": elsewhere}, status=409)
    if entry.values is None:
        return retype(request, "verificacion", sent)
    if warned := needs_confirmation(request, key, entry, sent.form):
        return retype(request, "verificacion", sent, warned)
    election = request.app[ELECTION]
    who = clerk(request)
    assert who is not None
    try:
        outcome = await request.app[DB].write(rules.verify, election, key, entry.values, who.name, sent.sha)
    except rules.Refused as exc:
        return render(request, "error.html", {"title": "Verificación", "message": f"{exc.what}: {exc.why}."},
                      status=exc.status)
    if outcome.classification is None:
        log.info("mismatch acta=%s fields=%s seq=%d", key, ",".join(outcome.fields), outcome.packet.seq)
    else:
        log.info("verified acta=%s class=%s seq=%d", key, outcome.classification.cls, outcome.packet.seq)
    raise web.HTTPSeeOther(f"/verificacion?hecho={quote(key, safe='')}")


@require("coordinador")
async def mismatches(request: web.Request) -> web.StreamResponse:
    board = request.app[BOARD]
    await board.refresh(request.app[DB].read)
    done = request.query.get("hecho")
    notice, _ = _result_message(board.actas.get(done) if done else None)
    return render(request, "mismatches.html", {"actas": board.mismatched(), "message": notice})


async def _resolve_page(request: web.Request, key: str, entry: forms.Entry | None = None,
                        error: str | None = None, status: int = 200,
                        warned: dict[str, str] | None = None) -> web.Response:
    board = request.app[BOARD]
    await board.refresh(request.app[DB].read)
    state = board.actas.get(key)
    if state is None or state.mismatch_seq is None or state.verified:
        raise web.HTTPSeeOther("/coordinacion/discrepancias")
    first, second = state.capture(1), state.capture(2)
    assert first is not None and second is not None
    if entry is None:  # agreed fields come prefilled; the differing ones are typed from the image
        raw = {f: forms.shown(v) if v == second.values.get(f) else "" for f, v in first.values.items()}
        raw = {f: {"ILEGIBLE": "I", "SIN DATO": "S"}.get(v, v) for f, v in raw.items()}
        entry = forms.Entry(raw, None, {})
    ctx = entry_context(request, key, first.image_sha256, entry, warned)
    for field in ctx["fields"]:
        field["first"] = forms.shown(first.values.get(field["name"]))
        field["second"] = forms.shown(second.values.get(field["name"]))
        field["differs"] = field["name"] in state.mismatch_fields
    if not ctx["invalid"] and not ctx["flagged"]:  # the first field the coordinator must decide
        ctx["focus"] = next((f["input"] for f in ctx["fields"] if f["differs"]), ctx["focus"])
    return render(request, "resolve.html", {**ctx, "first": first, "second": second, "error": error},
                  status=status)


@require("coordinador")
async def resolve_form(request: web.Request) -> web.StreamResponse:
    try:
        key = forms.check_key(request.query.get("acta", ""), request.app[ELECTION].actas)
    except BadInput as exc:
        raise web.HTTPBadRequest(text=exc.why) from exc
    return await _resolve_page(request, key)


@require("coordinador")
async def resolve_submit(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    election = request.app[ELECTION]
    try:
        key = forms.check_key(str(form.get("acta", "")), election.actas)
    except BadInput as exc:
        raise web.HTTPBadRequest(text=exc.why) from exc
    entry = forms.read_values(forms.fields_for(election, key), form)
    if entry.values is None:
        return await _resolve_page(request, key, entry, status=422)
    if warned := needs_confirmation(request, key, entry, form):
        return await _resolve_page(request, key, entry, status=422, warned=warned)
    who = clerk(request)
    assert who is not None
    try:
        outcome = await request.app[DB].write(rules.resolve, election, key, entry.values, who.name)
    except rules.Refused as exc:
        await request.app[BOARD].refresh(request.app[DB].read)
        state = request.app[BOARD].actas.get(key)
        if state is None or state.mismatch is None or state.verified:  # nothing left to decide here
            return render(request, "error.html",
                          {"title": "Coordinación", "message": f"{exc.what}: {exc.why}."}, status=exc.status)
        return await _resolve_page(request, key, entry, error=f"{exc.why}.", status=exc.status)
    assert outcome.classification is not None
    log.info("resolved acta=%s class=%s seq=%d", key, outcome.classification.cls, outcome.packet.seq)
    raise web.HTTPSeeOther(f"/coordinacion/discrepancias?hecho={quote(key, safe='')}")


__all__ = ["mismatches", "resolve_form", "resolve_submit", "verify_next",
           "verify_submit"]
