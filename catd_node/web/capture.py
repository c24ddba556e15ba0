"""Captura: the next acta from the queue, its image beside a form built from the contest fields."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from aiohttp import web

from catd_node.blobs import check_name
from catd_node.errors import BadInput
from catd_node.web import forms, rules
from catd_node.web.board import ActaState, Board, Image
from catd_node.web.state import BOARD, DATADIR, DB, ELECTION, clerk, now, render, require

log = logging.getLogger("catd.web.capture")


def entry_context(request: web.Request, key: str, sha: str | None, entry: forms.Entry | None = None,
                  warned: dict[str, str] | None = None) -> dict[str, Any]:
    """What the capture/verification form needs: the image and the acta's own ballot, grouped.

    Only the fields on this acta's ballot get an input, in ballot order; the contest's other
    vote fields are named once as not on this ballot (they publish as `-`). Each field carries
    the label the acta prints; `invalid` lists the fields to correct (the summary above the
    form), `focus` is the first of them (else of `warned`, else the first field)."""
    election = request.app[ELECTION]
    contest = forms.contest_for(election, key)
    spec = election.actas.get(key)
    warned = warned or {}
    fields: list[dict[str, Any]] = []
    grouped = []
    for title, names in forms.groups(election, key):
        rows = [{"name": f, "label": forms.field_label(contest, f), "input": forms.field_name(f),
                 "vote": f in contest.kinds, "raw": entry.raw.get(f, "") if entry else "",
                 "error": entry.errors.get(f) if entry else None, "warning": warned.get(f)} for f in names]
        fields += rows
        grouped.append({"title": title, "fields": rows})
    offered = {f["name"] for f in fields}
    invalid = [f for f in fields if f["error"]]
    flagged = [f for f in fields if f["warning"]]
    focus = (invalid or flagged or fields or [{"input": ""}])[0]["input"]
    return {
        "key": key, "sha": sha, "spec": spec, "contest": contest, "fields": fields, "groups": grouped,
        "not_on_ballot": [forms.field_label(contest, f) for f in contest.votes if f not in offered],
        "errors": bool(entry and entry.errors), "invalid": invalid, "flagged": flagged, "focus": focus,
        "confirm": forms.warning_token(warned, entry.values or {}) if warned and entry else "",
    }


def needs_confirmation(request: web.Request, key: str, entry: forms.Entry, form: Any) -> dict[str, str]:
    """The warnings on valid values the clerk has not confirmed yet (empty: save)."""
    assert entry.values is not None
    warned = forms.warnings(request.app[ELECTION], key, entry.values)
    if warned and str(form.get("confirmar", "")) == forms.warning_token(warned, entry.values):
        return {}
    return warned


@dataclass(frozen=True)
class Submitted:
    """What a capture or verification form sent: the acta, its image, the typed values."""

    key: str
    sha: str | None
    entry: forms.Entry
    form: Any = None


async def read_submitted(request: web.Request) -> Submitted:
    """Parse a capture/verification form; a bad key or image name is a 400 naming it."""
    form = await request.post()
    try:
        key = forms.check_key(str(form.get("acta", "")), request.app[ELECTION].actas)
        raw_sha = form.get("imagen") or None
        sha = check_name(str(raw_sha)) if raw_sha is not None else None
    except BadInput as exc:
        raise web.HTTPBadRequest(text=f"{exc.what}: {exc.why}") from exc
    return Submitted(key, sha, forms.read_values(forms.fields_for(request.app[ELECTION], key), form), form)


def retype(request: web.Request, mode: str, sent: Submitted,
           warned: dict[str, str] | None = None) -> web.StreamResponse:
    """The same form again, with the typed values kept and each error (or warning to confirm)
    beside its field (422)."""
    return render(request, "capture.html", {"mode": mode, **entry_context(request, sent.key, sent.sha,
                                                                          sent.entry, warned)}, status=422)


def foreign(request: web.Request, key: str) -> str | None:
    """Why this node does not capture `key`: the catalog assigns it to another CATD (else None).

    Its packets are kept and the dashboard flags it; only its own CATD captures it, so HQ never
    receives two captures of one acta from two nodes by design."""
    election = request.app[ELECTION]
    owner = election.owner(key)
    node = request.app[DATADIR].config.node_id
    if election.may_capture(key, node):  # its CATD, any node, or its district's CCV
        return None
    return (f"El acta {key} corresponde al {owner}, no a este CATD: no se captura aquí "
            "(queda señalada en el tablero).")


async def _next(request: web.Request, message: str | None = None, warning: str | None = None,
                status: int = 200) -> web.Response:
    board = request.app[BOARD]
    await board.refresh(request.app[DB].read)
    who = clerk(request)
    assert who is not None
    at = now(request)
    key = board.claim("captura", [s.key for s in board.to_capture()], who.name, at)
    if key is not None:
        state: ActaState = board.actas[key]
        return render(request, "capture.html", {"message": message, "warning": warning, "mode": "captura",
                                                "others": list(state.pending),
                                                **entry_context(request, key, state.image)}, status=status)
    sha = board.claim("asignar", list(board.unidentified), who.name, at)
    if sha is not None:
        image: Image = board.unidentified[sha]
        return render(request, "assign.html", {"message": message, "warning": warning, "image": image,
                                               "error": None, "typed": "", "current": None}, status=status)
    return render(request, "empty.html", {"message": message, "warning": warning, "title": "Captura",
                                          "text": "No hay actas pendientes de captura."}, status=status)


@require("capturista", "verificador")
async def capture_next(request: web.Request) -> web.StreamResponse:
    done = request.query.get("hecho")
    return await _next(request, f"Acta {done} capturada. Siguiente:" if done else None)


@require("capturista", "verificador")
async def capture_submit(request: web.Request) -> web.StreamResponse:
    sent = await read_submitted(request)
    key, sha, entry = sent.key, sent.sha, sent.entry
    if (elsewhere := foreign(request, key)) is not None:
        return await _next(request, warning=elsewhere, status=409)
    if entry.values is None:
        return retype(request, "captura", sent)
    if warned := needs_confirmation(request, key, entry, sent.form):
        return retype(request, "captura", sent, warned)
    who = clerk(request)
    assert who is not None
    try:
        packet = await request.app[DB].write(rules.capture, key, sha, entry.values, who.name)
    except rules.Refused as exc:  # e.g. an image not bound to the acta (issue 12): nothing recorded
        log.warning("capture refused acta=%s image=%s: %s", key, sha, exc.why)
        return await _next(request, warning=f"{exc.what}: {exc.why}.", status=exc.status)
    log.info("captured acta=%s seq=%d", key, packet.seq)
    raise web.HTTPSeeOther(f"/captura?hecho={quote(key, safe='')}")


@require("capturista", "verificador")
async def assign_submit(request: web.Request) -> web.StreamResponse:
    """Give an unidentified image its key; over an acta's image only as a confirmed replacement."""
    form = await request.post()
    board = request.app[BOARD]
    try:
        sha = check_name(str(form.get("imagen", "")))
    except BadInput as exc:
        raise web.HTTPBadRequest(text="imagen no válida") from exc
    typed = str(form.get("clave", ""))
    replace = form.get("reemplazar") in ("1", "on", "si", "sí")
    try:
        key = forms.check_key(typed, request.app[ELECTION].actas)
        packet = await request.app[DB].write(rules.assign, key, sha, clerk_name(request), replace)
    except (BadInput, rules.NeedsReplacement) as exc:
        image = board.unidentified.get(sha) or _other_image(board, typed, sha)
        if image is None:
            raise web.HTTPSeeOther("/captura") from exc
        current = exc.current if isinstance(exc, rules.NeedsReplacement) else None
        return render(request, "assign.html", {"image": image, "error": exc.why, "typed": typed[:64],
                                               "message": None, "current": current},
                      status=409 if current else 422)
    except rules.Refused as exc:
        return await _next(request, warning=f"{exc.what}: {exc.why}.", status=exc.status)
    replaced = packet.body.get("replaces")
    log.info("assigned acta=%s image=%s seq=%d%s", key, sha[:12], packet.seq,
             f" replaces={replaced[:12]}" if replaced else "")
    if (elsewhere := foreign(request, key)) is not None:  # recorded; the dashboard flags it
        return await _next(request, warning=f"Imagen asignada. {elsewhere}")
    raise web.HTTPSeeOther("/captura")


def _other_image(board: Board, key: str, sha: str) -> Image | None:
    """An image identified as acta `key` that is not its image (`ActaState.others`)."""
    state = board.actas.get(key)
    if state is None or sha not in state.others:
        return None
    return Image(0, sha, "", f"otra imagen del acta {key}", "")


def clerk_name(request: web.Request) -> str:
    who = clerk(request)
    assert who is not None
    return who.name
