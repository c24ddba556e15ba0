"""HQ's transparency log over HTTP (C2SP tlog-tiles under /v1/log/, docs/tlog.md).

GET  /v1/checkpoint, /v1/log/checkpoint   the latest signed checkpoint, with cosignatures
GET  /v1/log/tile/<L>/<N>[.p/<W>]         hash tiles; /v1/log/tile/entries/<N>[.p/<W>] bundles
GET  /v1/log/vkey                         HQ's note verifier key (also in `catd-hq log-vkey`)
GET  /v1/log/proof/inclusion?index=&size= and /v1/log/proof/consistency?old=&size=
GET  /v1/log/packet/<node>/<seq>          the packet's leaf index and its inclusion proof
POST /v1/log/cosignature                  a witness listed in <hq dir>/witnesses.txt posts
                                          the checkpoint note carrying its cosignature
Full tiles never change (immutable cache headers); partial ones and checkpoints do.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from aiohttp import web

from catd_node import tlog, tlog_note
from hq import tlog as hq_tlog
from hq.state import STATE, error
from hq.store import HQDir
from hq.store.base import Conn, writing

CHECKPOINT_PATHS = ("/v1/checkpoint", "/v1/log/checkpoint")
_TILE = re.compile(r"(?P<level>[0-9]|entries)/(?P<index>(?:x\d{3}/)*\d{3})(?:\.p/(?P<width>\d{1,3}))?")
NOTE_TYPE = "text/plain; charset=utf-8"
IMMUTABLE = {"Cache-Control": "public, max-age=31536000, immutable"}
FRESH = {"Cache-Control": "no-cache"}
MAX_NOTE = 64 * 1024


def witnesses_path(hq: HQDir) -> Path:
    return hq.root / "witnesses.txt"


def _policy(hq: HQDir) -> tlog_note.WitnessPolicy | None:
    path = witnesses_path(hq)
    if not path.exists():
        return None
    return tlog_note.parse_policy(path.read_text(encoding="utf-8"), str(path))


async def get_checkpoint(request: web.Request) -> web.Response:
    state = request.app[STATE]
    note = await state.read(hq_tlog.checkpoint, state.key)
    return web.Response(text=note.render(), content_type="text/plain", charset="utf-8", headers=FRESH)


async def get_vkey(request: web.Request) -> web.Response:
    v, _ = hq_tlog.note_signer(request.app[STATE].key)
    return web.Response(text=v.vkey() + "\n", content_type="text/plain", headers=FRESH)


async def get_tile(request: web.Request) -> web.Response:
    m = _TILE.fullmatch(request.match_info["path"])
    if m is None:
        raise error(404, "not_found", f"no tile {request.match_info['path']!r}")
    try:
        index = tlog.parse_tile_index(m["index"])
    except ValueError as exc:
        raise error(404, "not_found", str(exc)) from exc
    width = int(m["width"]) if m["width"] else tlog.TILE_WIDTH
    if not 1 <= width < tlog.TILE_WIDTH and m["width"]:
        raise error(404, "not_found", f"partial tile width {width}: must be 1..255")
    state = request.app[STATE]
    if m["level"] == "entries":
        data = await state.read(hq_tlog.entries, index, width)
    else:
        data = await state.read(hq_tlog.tile, int(m["level"]), index, width)
    if data is None:
        raise error(404, "not_found", f"the log has no tile {request.match_info['path']} yet")
    return web.Response(body=data, content_type="application/octet-stream",
                        headers=IMMUTABLE if width == tlog.TILE_WIDTH else FRESH)


def _int(request: web.Request, name: str) -> int:
    text = request.query.get(name, "")
    if not text.isdigit():
        raise error(400, "bad_request", f"query {name} must be a whole number")
    return int(text)


def _inclusion(conn: Conn, index: int, at_size: int | None) -> dict[str, Any]:
    n = hq_tlog.size(conn) if at_size is None else at_size
    if n > hq_tlog.size(conn):
        raise tlog.ProofError(f"the log has fewer than {n} leaves")
    return hq_tlog.proof_answer(conn, index, n)


def _consistency(conn: Conn, old: int, new: int) -> dict[str, Any]:
    if new > hq_tlog.size(conn):
        raise tlog.ProofError(f"the log has fewer than {new} leaves")
    proof = tlog.consistency_proof(hq_tlog.node_fn(conn), old, new)
    return {"old": old, "size": new, "proof": [p.hex() for p in proof]}


async def get_inclusion(request: web.Request) -> web.Response:
    index = _int(request, "index")
    at_size = _int(request, "size") if "size" in request.query else None
    try:
        answer = await request.app[STATE].read(_inclusion, index, at_size)
    except tlog.ProofError as exc:
        raise error(422, "bad_request", str(exc)) from exc
    return web.json_response(answer)


async def get_consistency(request: web.Request) -> web.Response:
    old, new = _int(request, "old"), _int(request, "size")
    try:
        answer = await request.app[STATE].read(_consistency, old, new)
    except tlog.ProofError as exc:
        raise error(422, "bad_request", str(exc)) from exc
    return web.json_response(answer)


def _packet_proof(conn: Conn, node: str, seq: int) -> dict[str, Any] | None:
    index = hq_tlog.packet_index(conn, node, seq)
    if index is None:
        return None
    return hq_tlog.proof_answer(conn, index, hq_tlog.size(conn))


async def get_packet_proof(request: web.Request) -> web.Response:
    seq_text = request.match_info["seq"]
    if not seq_text.isdigit():
        raise error(400, "bad_request", "seq must be a whole number")
    answer = await request.app[STATE].read(_packet_proof, request.match_info["node"], int(seq_text))
    if answer is None:
        raise error(404, "not_found", "HQ holds no such packet in its log")
    return web.json_response(answer)


def _cosign(conn: Conn, key: Any, policy: tlog_note.WitnessPolicy, body: bytes) -> tuple[int, list[str]]:
    with writing(conn):
        return hq_tlog.add_cosignature(conn, key, policy, body)


async def post_cosignature(request: web.Request) -> web.Response:
    state = request.app[STATE]
    body = await request.content.read(MAX_NOTE + 1)
    if len(body) > MAX_NOTE:
        raise error(413, "too_large", f"a checkpoint note of more than {MAX_NOTE} bytes")
    try:
        policy = _policy(state.hq)
    except tlog_note.NoteError as exc:
        raise error(422, "bad_request", f"HQ's witness list is unreadable: {exc}") from exc
    if policy is None or not policy.witnesses:
        raise error(403, "unknown_witness", f"HQ lists no witnesses ({witnesses_path(state.hq).name})")
    try:
        size, kept = await state.write(_cosign, state.key, policy, body)
    except tlog_note.NoteError as exc:
        raise error(422, "bad_cosignature", str(exc)) from exc
    folder = state.hq.root / "publicacion"
    if folder.is_dir():  # each cut this checkpoint covers gets its witnesses beside it
        await state.read(hq_tlog.refresh_sidecars, state.key, folder)
    return web.json_response({"size": size, "kept": kept})


def add_routes(app: web.Application) -> None:
    for path in CHECKPOINT_PATHS:
        app.router.add_get(path, get_checkpoint)
    app.router.add_get("/v1/log/vkey", get_vkey)
    app.router.add_get("/v1/log/proof/inclusion", get_inclusion)
    app.router.add_get("/v1/log/proof/consistency", get_consistency)
    app.router.add_get("/v1/log/packet/{node}/{seq}", get_packet_proof)
    app.router.add_get("/v1/log/tile/{path:.+}", get_tile)
    app.router.add_post("/v1/log/cosignature", post_cosignature)
