"""HQ's casilla endpoints: HEAD/PUT /v1/casilla/photos/{sha256} (device-signed, resumable,
content-addressed), GET /v1/casilla/pull (node-signed), and the phone page at /casilla/.

Each request carries the phone's signed statement; HQ checks, before touching anything, that
its device was enrolled by the named node's chain and not revoked and that the signature
verifies. A photo is stored once in HQ's blob store; every distinct statement is kept in
casilla.db with the HQ-signed receipt it got (a replay gets the same receipt). An acta the
device's CATD does not collect is kept and flagged `fuera_de_catd`: never offered to a
node's pull, so never counted through this path. Protocol: docs/casilla.md.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from catd_node import keys, packets
from catd_node.blobs import check_name
from catd_node.errors import BadInput
from hq import store as hq_store
from hq.casilla import devices
from hq.casilla.store import CasillaDB, path_of
from hq.state import STATE, HQState, error
from sync import casilla_protocol as cp
from sync import protocol

log = logging.getLogger("catd.hq.casilla")
PULL_LIMIT = 20
DEVICE_TTL_S = 5.0
VERIFIED_MAX = 4096
READ_BYTES = 64 * 1024
STATIC = Path(__file__).resolve().parent / "static"
# The page's own scripts only; it talks to HQ and, once, to its CATD's node (enrolment).
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
       "connect-src 'self' http: https:; worker-src 'self'; manifest-src 'self'; object-src 'none'; "
       "base-uri 'none'; frame-ancestors 'none'")


@dataclass
class Casilla:
    db: CasillaDB
    uploads: Path
    locks: dict[str, asyncio.Lock] = field(default_factory=dict)
    devices: dict[str, tuple[float, dict[str, devices.Device]]] = field(default_factory=dict)
    # (statement header, signature header) → (statement, its bytes, the device key it verified
    # against): a photo's HEAD and its PUTs carry the same statement, parsed and verified once
    verified: dict[tuple[str, str], tuple[dict[str, Any], bytes, str]] = field(default_factory=dict)
    ccv: dict[str, tuple[frozenset[str], frozenset[str] | None]] = field(default_factory=dict)


CASILLA = web.AppKey("casilla", Casilla)


def _sha(request: web.Request) -> str:
    try:
        return check_name(request.match_info["sha256"])
    except BadInput as exc:
        raise error(422, protocol.BAD_NAME, exc.why) from exc


def _int_header(request: web.Request, name: str, default: int | None) -> int:
    raw = request.headers.get(name)
    if raw is None:
        if default is None:
            raise error(400, protocol.BAD_REQUEST, f"header {name} is required")
        return default
    if not raw.isdecimal() or len(raw) > 12:
        raise error(400, protocol.BAD_REQUEST, f"header {name} must be a whole number of bytes")
    return int(raw)


async def _statement(request: web.Request, state: HQState, sha: str) -> tuple[dict[str, Any], bytes, str]:
    """The request's statement, checked against its device key; else a named refusal. The
    device is looked up on every request (a revocation holds at once); the parse and the
    signature check of a statement already verified against the same key are not redone."""
    raw_b64 = request.headers.get(cp.STATEMENT_HEADER, "")
    sig = request.headers.get(cp.SIGNATURE_HEADER, "")
    if not raw_b64 or not sig:
        raise error(400, cp.BAD_STATEMENT, f"headers {cp.STATEMENT_HEADER} and {cp.SIGNATURE_HEADER} "
                    "are required")
    cas = request.app[CASILLA]
    seen = cas.verified.get((raw_b64, sig))
    if seen is not None:
        st, raw = seen[0], seen[1]
    else:
        try:
            raw = base64.b64decode(raw_b64, validate=True)
            st = cp.parse_statement(raw)
        except (binascii.Error, ValueError) as exc:
            raise error(400, cp.BAD_STATEMENT, str(exc) or "statement is not base64") from exc
    if st["sha256"] != sha:
        raise error(400, cp.BAD_STATEMENT, f"statement.sha256 {st['sha256'][:16]}… is not the photo "
                    f"named in the path {sha[:16]}…")
    node, name = st["node"], st["device"]
    if await state.node_key(node) is None:
        raise error(403, cp.UNKNOWN_DEVICE, f"node {node[:64]!r} is not registered at HQ", device=name)
    found = await _device(cas, state, node, name)
    if found is None or found.pubkey is None:
        raise error(403, cp.UNKNOWN_DEVICE, f"no device.added of {name!r} with a key in the chain of "
                    f"{node} that HQ holds", device=name, node=node)
    if found.revoked_seq is not None:
        raise error(403, cp.DEVICE_REVOKED, f"device {name!r} was revoked by {node} "
                    f"(packet {found.revoked_seq})", device=name, node=node)
    if seen is None or seen[2] != found.pubkey:
        if not cp.check_statement_signature(found.pubkey, raw, sig):
            raise error(403, cp.BAD_STATEMENT_SIGNATURE, f"statement signature does not verify against "
                        f"the key {node} enrolled for {name!r}", device=name, node=node)
        if len(cas.verified) >= VERIFIED_MAX:
            cas.verified.pop(next(iter(cas.verified)))
        cas.verified[(raw_b64, sig)] = (st, raw, found.pubkey)
    return st, raw, sig


async def _device(cas: Casilla, state: HQState, node: str, name: str) -> devices.Device | None:
    """The device as `node`'s chain held at HQ says, cached per node: dropped when this
    process stores a device packet of that node (`forget`) and after DEVICE_TTL_S (another
    receiver may have stored it: a revocation holds everywhere within that time)."""
    now = time.monotonic()
    held = cas.devices.get(node)
    if held is None or now - held[0] > DEVICE_TTL_S:
        held = (now, await state.blob_db(devices.devices_of, node))
        cas.devices[node] = held
    return held[1].get(name)


def forget(app: web.Application, node: str) -> None:
    """A batch of `node` with device.added or device.revoked was stored: re-read its devices."""
    cas = app.get(CASILLA)
    if cas is not None:
        cas.devices.pop(node, None)


def _flag(state: HQState, st: dict[str, Any]) -> str | None:
    election = state.election
    if election is None:
        return None
    if st["acta"] not in election.actas or st["acta"] not in election.actas_of(st["node"]):
        return cp.FUERA_DE_CATD
    return None


def _partial(cas: Casilla, sha: str) -> Path:
    return cas.uploads / f"{sha}.partial"


def _held(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _where(state: HQState, path: Path, sha: str) -> tuple[bool, int]:
    """(HQ stores the photo, how many bytes of it HQ holds)."""
    if state.blobs.has(sha):
        return True, state.blobs.size(sha)
    return False, _held(path)


def _receipt(state: HQState, cas: Casilla, st: dict[str, Any], raw: bytes, sig: str) -> tuple[str, bool]:
    """HQ's signed receipt kept with the statement (blocking: file pool): (the receipt as JSON,
    False when the statement was already kept: a replay, answered with its first receipt)."""
    flag = _flag(state, st)
    now = packets.now()
    receipt = cp.sign_receipt(state.key, {
        "acta": st["acta"], "codigo_integridad": st["sha256"], "device": st["device"], "flag": flag,
        "node": st["node"], "received_at": now, "sha256": st["sha256"]})
    return cas.db.keep(st, raw, sig, flag, now, json.dumps(receipt, sort_keys=True))


def _store(state: HQState, cas: Casilla, st: dict[str, Any], raw: bytes, sig: str, pieces: list[bytes],
           partial: Path | None) -> tuple[tuple[str, bool], bool] | None:
    """Store the photo from `pieces` — hashed as it is written, in one pass — and keep its
    statement (`_receipt`): (the receipt, whether HQ held the photo already). None (nothing
    stored, the partial discarded) when the bytes are not the statement's."""
    sha, total = st["sha256"], st["bytes"]
    held = state.blobs.has(sha)
    if not held:
        try:
            if sum(map(len, pieces)) != total:
                raise BadInput(f"photo {sha}", "length is not statement.bytes")
            state.blobs.put_chunks(sha, pieces)
        except BadInput:
            if partial is not None:
                partial.unlink(missing_ok=True)
            return None
        state.blob_rows(hq_store.record_blob, sha, total)
    if partial is not None:
        partial.unlink(missing_ok=True)
    return _receipt(state, cas, st, raw, sig), held


def _answer(st: dict[str, Any], kept: tuple[str, bool], status: int) -> web.Response:
    receipt, new = kept
    if new:
        log.info("casilla photo sha=%s acta=%s device=%s/%s", st["sha256"][:16], st["acta"], st["node"],
                 st["device"])
        body = '{"stored": true, "receipt": ' + receipt + "}"
    else:
        log.info("casilla replay sha=%s acta=%s device=%s/%s", st["sha256"][:16], st["acta"], st["node"],
                 st["device"])
        body, status = '{"stored": true, "replay": true, "receipt": ' + receipt + "}", 200
    return web.Response(text=body, status=status, content_type="application/json")


async def head_photo(request: web.Request) -> web.StreamResponse:
    state, cas = request.app[STATE], request.app[CASILLA]
    sha = _sha(request)
    await _statement(request, state, sha)
    stored, held = await state.io(_where, state, _partial(cas, sha), sha)
    response = web.StreamResponse(status=200 if stored else 404, headers={protocol.UPLOAD_OFFSET: str(held)})
    response.content_length = 0  # a HEAD answer without one cannot keep its connection
    return response


def _append(path: Path, data: bytes, at: int) -> int:
    """Add a piece to the photo's partial when it holds exactly `at` bytes; the bytes it
    holds. Not fsynced: the whole is hashed against the signed sha256 before it is stored,
    so a partial torn by a power loss is discarded (422) and the phone, which keeps the photo
    until it holds a receipt, sends it again."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("ab") as out:
        if out.tell() != at:
            return out.tell()
        out.write(data)
        return out.tell()


def _partial_bytes(path: Path) -> bytes:
    return path.read_bytes()


async def _body(request: web.Request, state: HQState, path: Path, offset: int, room: int) -> bytes:
    """The request's piece of the photo (at most `room` bytes, else 413). A link that drops
    mid-piece leaves what arrived in the partial (when it continues what HQ holds), so the
    phone resumes from there."""
    body = bytearray()
    try:
        async for chunk in request.content.iter_chunked(READ_BYTES):
            body += chunk
            if len(body) > room:
                raise error(413, protocol.TOO_LARGE, f"body goes past Upload-Length {offset + room}")
    except (ConnectionError, asyncio.CancelledError):  # the link dropped (the handler cancelled)
        if body:
            held = await asyncio.shield(state.io(_append, path, bytes(body), offset))
            log.info("casilla upload cut sha=%s held=%d", path.name[:16], held)
        raise
    return bytes(body)


async def put_photo(request: web.Request) -> web.StreamResponse:
    """One piece of the photo at `Upload-Offset`. The usual case, the whole photo in one PUT
    from 0, costs one trip to the file pool: stored, statement kept, receipt signed."""
    state, cas = request.app[STATE], request.app[CASILLA]
    sha = _sha(request)
    st, raw, sig = await _statement(request, state, sha)
    total = _int_header(request, protocol.UPLOAD_LENGTH, None)
    offset = _int_header(request, protocol.UPLOAD_OFFSET, 0)
    if total != st["bytes"]:
        raise error(400, cp.BAD_STATEMENT, f"Upload-Length {total} is not statement.bytes {st['bytes']}")
    if offset > total:
        raise error(400, protocol.BAD_REQUEST, f"Upload-Offset {offset} is past Upload-Length {total}")
    path = _partial(cas, sha)
    lock = cas.locks.setdefault(sha, asyncio.Lock())
    async with lock:
        body = await _body(request, state, path, offset, total - offset)
        if offset == 0 and len(body) == total:
            pieces, partial = [body], path
        else:
            stored, held = await state.io(_where, state, path, sha)
            if stored:
                cas.locks.pop(sha, None)
                return _answer(st, await state.io(_receipt, state, cas, st, raw, sig), 200)
            if offset != held:
                raise error(409, cp.OFFSET_MISMATCH, f"HQ holds {held} bytes of this photo, not {offset}",
                            offset=held)
            if held + len(body) < total:
                held = await state.io(_append, path, body, held) if body else held
                return web.json_response({"sha256": sha, "offset": held, "length": total}, status=202,
                                         headers={protocol.UPLOAD_OFFSET: str(held)})
            pieces, partial = [await state.io(_partial_bytes, path), body], path
        done = await state.io(_store, state, cas, st, raw, sig, pieces, partial)
        if done is None:
            log.warning("casilla hash mismatch sha=%s device=%s/%s", sha[:16], st["node"], st["device"])
            raise error(422, cp.HASH_MISMATCH, "the uploaded bytes do not hash to the signed statement's "
                        "sha256; HQ discarded them", offset=0)
    cas.locks.pop(sha, None)
    kept, held_before = done
    return _answer(st, kept, 200 if held_before else 201)


async def get_pull(request: web.Request) -> web.Response:
    """A node's own casilla photos after `after`: statement, signature and image (base64)."""
    state, cas = request.app[STATE], request.app[CASILLA]
    node = request.headers.get(protocol.NODE_HEADER, "")
    date = request.headers.get(protocol.DATE_HEADER, "")
    signature = request.headers.get(protocol.SIGNATURE_HEADER, "")
    after = request.query.get("after", "0")
    if not after.isdecimal() or len(after) > 15:
        raise error(400, protocol.BAD_REQUEST, "query after must be a whole number")
    key = await state.node_key(node) if node else None
    if key is None:
        raise error(403, protocol.UNKNOWN_NODE, f"node {node[:64]!r} is not registered at HQ")
    try:
        sig = base64.b64decode(signature, validate=True)
    except binascii.Error:
        sig = b""
    if len(sig) != 64 or not keys.verify(key, sig, cp.pull_message(node, date, after)):
        raise error(403, protocol.BAD_REQUEST_SIGNATURE, f"pull not signed by the key of {node}")
    if not date.isdecimal() or abs(time.time() - int(date)) > state.limits.skew_s:
        raise error(403, protocol.STALE_DATE, f"{protocol.DATE_HEADER} is off HQ's clock",
                    hq_time=int(time.time()))
    ccv_actas, catds = _ccv_scope(cas, state, node)
    rows = await state.io(cas.db.for_node, node, int(after), PULL_LIMIT, ccv_actas, catds)
    photos = []
    for ident, sha, statement, st_sig in rows:
        image = await state.io(state.blobs.read, sha)
        photo = {"id": ident, "statement": base64.b64encode(statement).decode("ascii"),
                 "sig": st_sig, "image": base64.b64encode(image).decode("ascii")}
        st = cp.parse_statement(statement)
        if st["node"] != node:  # a CCV's: the key of the CATD's device it checks the photo with
            found = await _device(cas, state, st["node"], st["device"])
            if found is not None and found.revoked_seq is None and found.pubkey is not None:
                photo["device_key"] = found.pubkey
        photos.append(photo)
    return web.json_response({"photos": photos, "next": rows[-1][0] if rows else int(after)})


def _ccv_scope(cas: Casilla, state: HQState, node: str) -> tuple[frozenset[str], frozenset[str] | None]:
    """The actas `node` captures as its districts' capture centre (CCV), and the CATDs whose
    devices photograph them (None: any node's, an acta of those districts has no CATD)."""
    held = cas.ccv.get(node)
    if held is None:
        election = state.election
        actas = frozenset(election.ccv_actas(node)) if election is not None else frozenset()
        owners = {election.owner(k) for k in actas} if election is not None else set()
        held = cas.ccv[node] = (actas, None if None in owners else frozenset(o for o in owners if o))
    return held


async def to_page(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound(cp.PAGE_PATH)


async def page(request: web.Request) -> web.StreamResponse:
    name = request.match_info.get("name") or "index.html"
    path = (STATIC / name).resolve()
    if path.parent != STATIC or not path.is_file():
        raise web.HTTPNotFound()
    types = {".js": "text/javascript", ".json": "application/manifest+json", ".html": "text/html",
             ".css": "text/css", ".svg": "image/svg+xml"}
    return web.FileResponse(path, headers={"Content-Type": types.get(path.suffix, "application/octet-stream"),
                                           "Cache-Control": "no-cache", "Content-Security-Policy": CSP,
                                           "X-Content-Type-Options": "nosniff"})


async def _open(app: web.Application) -> Any:
    state = app[STATE]
    hq_root = state.hq.root
    cas = Casilla(db=CasillaDB(path_of(hq_root)), uploads=state.hq.uploads_dir / "casilla")
    app[CASILLA] = cas
    yield
    cas.db.close()


def add_routes(app: web.Application) -> None:
    """Register the casilla routes (after the HQ state is opened on startup)."""
    app.cleanup_ctx.append(_open)
    app.router.add_route("HEAD", cp.PHOTO_PATH, head_photo)
    app.router.add_put(cp.PHOTO_PATH, put_photo)
    app.router.add_get(cp.PULL_PATH, get_pull)
    app.router.add_get("/casilla", to_page)
    app.router.add_get(cp.PAGE_PATH, page)
    app.router.add_get(cp.PAGE_PATH + "{name}", page)
