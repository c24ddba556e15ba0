"""Resumable blob upload (tus-like): HEAD gives the held offset, PUT continues from it.

Every request is signed by a registered node (hq/blob_auth.py) and a node may only send or
ask about blobs its own packets reference; its partial uploads are its own (hq/partials.py),
written by one PUT at a time across every HQ process (a second gets 409 upload_in_progress).
The body is streamed to the writer's fresh file (at most FLUSH_BYTES buffered; a stalled or
dropped link flushes what arrived), under an overall deadline (`UploadLimits`: a grace period
plus the promised bytes at a minimum rate) and an idle timeout, after which what arrived is
kept for the node and the connection closed. A complete upload is fsynced, hashed as it
lies on disk, and only then renamed into the blob store and acknowledged (DESIGN invariant 2:
an image is stored under the hash of its bytes). Durability costs what a stored blob needs:
one fsync of the file, the rename and one fsync of the store directory. The blob row is
written without an fsync (see `store.record_blob`). Protocol: docs/uploads.md.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from aiohttp import web

from catd_node.blobs import check_name
from catd_node.errors import BadInput
from hq import partials
from hq import store as hq_store
from hq.blob_auth import signed_by
from hq.partials import Writer
from hq.state import STATE, HQState, error
from sync import protocol

log = logging.getLogger("catd.hq.blobs")
READ_CHUNK = 256 * 1024
FLUSH_BYTES = 256 * 1024   # write to the writer's file once this much is buffered…
FLUSH_IDLE_S = 0.1         # …or when the link goes quiet this long with bytes buffered
T = TypeVar("T")


def _name(request: web.Request) -> str:
    sha = request.match_info["sha256"]
    try:
        return check_name(sha)
    except BadInput as exc:
        raise error(422, protocol.BAD_NAME, exc.why) from exc


async def head_blob(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    sha = _name(request)
    node = await signed_by(request, state, sha)
    size, referenced = await state.blob_db(hq_store.blob_state, sha, node)
    if not referenced:
        raise error(409, protocol.UNREFERENCED, f"no packet received from {node} references this blob")
    if size is not None:
        response = web.StreamResponse(status=200)
        response.content_length = size
        return response
    held = partials.slot(state.hq.uploads_dir, node, sha).held()
    response = web.StreamResponse(status=404, headers={protocol.UPLOAD_OFFSET: str(held)})
    response.content_length = 0
    return response


async def get_missing(request: web.Request) -> web.Response:
    """GET /v1/nodes/{node}/blobs/missing, signed by that node (a blob request over the name
    ""): the images its packets reference that HQ does not hold — never received, or lost
    (hq/blobcheck.py) — at most `LACKING_MAX`, with `more` when there are others. The node
    sends each again."""
    state = request.app[STATE]
    node = await signed_by(request, state, "")
    named = request.match_info["node"]
    if named != node:
        raise error(403, protocol.BAD_REQUEST_SIGNATURE, f"signed by {node}, not by {named[:80]!r}")
    limit = hq_store.LACKING_MAX
    missing = await state.blob_db(hq_store.lacking_blobs, node, limit + 1)
    return web.json_response({"node": node, "missing": missing[:limit], "more": len(missing) > limit})


def _header_int(request: web.Request, name: str, default: int | None) -> int:
    raw = request.headers.get(name)
    if raw is None:
        if default is None:
            raise error(400, protocol.BAD_REQUEST, f"header {name} is required")
        return default
    if not raw.isdecimal() or len(raw) > 15:
        raise error(400, protocol.BAD_REQUEST, f"header {name} must be a whole number of bytes")
    return int(raw)


async def put_blob(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    sha = _name(request)
    node = await signed_by(request, state, sha)
    total = _header_int(request, protocol.UPLOAD_LENGTH, None)
    offset = _header_int(request, protocol.UPLOAD_OFFSET, 0)
    if total > protocol.MAX_BLOB_BYTES:
        raise error(413, protocol.TOO_LARGE, f"{total} bytes; at most {protocol.MAX_BLOB_BYTES}")
    if (node, sha) not in state.awaiting_blobs:  # else known: referenced by this node, not stored
        size, referenced = await state.blob_db(hq_store.blob_state, sha, node)
        if not referenced:
            raise error(409, protocol.UNREFERENCED, f"no packet received from {node} references this blob")
        if size is not None:
            return web.json_response({"sha256": sha, "stored": True}, status=200)
    where = partials.slot(state.hq.uploads_dir, node, sha)
    writer = await _begin(state, where)
    if writer is None:
        raise error(409, protocol.UPLOAD_IN_PROGRESS, "another upload of this blob by this node is under way",
                    headers={"Retry-After": str(state.limits.retry_after_s)}, offset=where.held())
    return await _receive(request, state, writer, node, total, offset)


async def _begin(state: HQState, where: partials.Slot) -> Writer | None:
    """Lock `where` for this request; a lock won by a request cancelled meanwhile is let go."""
    future = asyncio.ensure_future(state.io(Writer.begin, where))

    def let_go(done: asyncio.Future[Writer | None]) -> None:
        if not done.cancelled() and done.exception() is None and (writer := done.result()) is not None:
            state.files.submit(writer.end_keep)

    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        future.add_done_callback(let_go)
        raise


async def _last(state: HQState, fn: Callable[..., T], *args: Any) -> T:
    """An ending step on the file pool that runs to its end even if the request is cancelled
    (it lets go of the partial's lock)."""
    return await asyncio.shield(state.io(fn, *args))


def _store(state: HQState, writer: Writer, total: int) -> bool:
    """Finish the upload into the blob store and record its row (one trip to the file pool)."""
    sha = writer.slot.sha
    if not writer.end_finish(sha, state.blobs.path(sha)):
        return False
    state.blob_rows(hq_store.record_blob, sha, total)
    return True


async def _receive(request: web.Request, state: HQState, writer: Writer, node: str, total: int,
                   offset: int) -> web.StreamResponse:
    sha = writer.slot.sha
    ended = False
    try:
        held = writer.held
        if offset != held:
            raise error(409, protocol.OFFSET_MISMATCH, f"HQ holds {held} bytes, not {offset}", offset=held)
        if held > total:
            ended = True
            await _last(state, writer.end_discard)
            raise error(422, protocol.HASH_MISMATCH,
                        f"partial upload of {held} bytes exceeds Upload-Length {total}")
        size, late = await _stream(request, state, writer, held, total)
        if size == total:
            ended = True
            if not await _last(state, _store, state, writer, total):
                raise error(422, protocol.HASH_MISMATCH, "the uploaded bytes do not hash to the blob name")
            state.awaiting_blobs.discard((node, sha))
            log.info("blob stored sha=%s node=%s bytes=%d", sha[:16], node, total)
            return web.json_response({"sha256": sha, "stored": True}, status=201)
        ended = True
        size = await _last(state, writer.end_keep)
        if late is not None:
            log.warning("blob upload cut sha=%s node=%s held=%d of %d: %s", sha[:16], node, size, total, late)
            return await _cut(request, size, total, late)
        log.info("blob partial sha=%s node=%s held=%d of %d", sha[:16], node, size, total)
        return web.json_response({"sha256": sha, "offset": size, "length": total}, status=202,
                                 headers={protocol.UPLOAD_OFFSET: str(size)})
    finally:
        if not ended:  # a refusal, a body past Upload-Length, a dropped link: keep what arrived
            await _last(state, writer.end_keep)


async def _cut(request: web.Request, size: int, total: int, why: str) -> web.StreamResponse:
    """408 upload_deadline with the offset kept, then close the connection: the rest of a
    slow body is not read (aiohttp would otherwise linger reading it)."""
    body = protocol.error_body(protocol.UPLOAD_DEADLINE, f"{why}; HQ keeps {size} of {total} bytes for "
                               "this node to resume", offset=size)
    response = web.json_response(body, status=408, headers={protocol.UPLOAD_OFFSET: str(size)})
    response.force_close()
    await response.prepare(request)
    await response.write_eof()
    if request.protocol is not None:
        request.protocol.force_close()
    return response


async def _stream(request: web.Request, state: HQState, writer: Writer, held: int,
                  total: int) -> tuple[int, str | None]:
    """Read the body into `writer`; (the bytes now held, None or why it was cut short).

    All of them when it returns `total`; fewer when the body ended short or the deadline or
    idle timeout passed. Raises if the body goes past `total` (the partial is discarded) or
    the link drops."""
    loop = asyncio.get_running_loop()
    limits = state.limits
    deadline = loop.time() + limits.deadline_s(total - held)
    size = held
    while True:
        try:
            chunk = await _next_chunk(request, state, writer, min(deadline, loop.time() + limits.idle_s))
        except TimeoutError:
            if loop.time() >= deadline:
                allowed = limits.deadline_s(total - held)
                return size, (f"deadline: {total - held} bytes allowed {allowed:.1f} s "
                              f"({limits.grace_s:g} s + {limits.min_rate:g} bytes/s)")
            return size, f"idle: no bytes for {limits.idle_s:g} s"
        if not chunk:
            return size, None
        if size + len(chunk) > total:
            await _last(state, writer.end_discard)
            raise error(413, protocol.TOO_LARGE, f"body goes past Upload-Length {total}")
        writer.buffer.append(chunk)
        writer.buffered += len(chunk)
        size += len(chunk)
        if writer.buffered >= FLUSH_BYTES:
            await state.io(writer.flush)


async def _next_chunk(request: web.Request, state: HQState, writer: Writer, until: float) -> bytes:
    """The next piece of the body by loop time `until` (else TimeoutError); bytes already
    buffered are flushed when the link goes quiet. aiohttp has no request-read timeout."""
    ready = request.content.read_nowait(READ_CHUNK)  # what already arrived: no waiting
    if ready or request.content.at_eof():
        return ready
    async with asyncio.timeout_at(until):
        if not writer.buffered:
            return await request.content.read(READ_CHUNK)
        read = asyncio.ensure_future(request.content.read(READ_CHUNK))
        try:
            done, _ = await asyncio.wait({read}, timeout=FLUSH_IDLE_S)
            if not done:
                await state.io(writer.flush)
            return await read
        finally:
            read.cancel()
