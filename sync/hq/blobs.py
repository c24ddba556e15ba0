"""Resumable blob upload (tus-like): HEAD gives the held offset, PUT continues from it.

The body is streamed to `uploads/<sha>.partial` chunk by chunk (never held in memory), so a
dropped connection keeps what arrived; the finished file is hashed before it is stored.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
from pathlib import Path
from typing import BinaryIO

from aiohttp import web

from catd_node.blobs import CHUNK, check_name, fsync_dir
from catd_node.errors import BadInput
from sync import protocol
from sync.hq import store as hq_store
from sync.hq.state import STATE, HQState, error

log = logging.getLogger("catd.hq.blobs")
READ_CHUNK = 256 * 1024
LOCK_WAIT_S = 30.0
IDLE_TIMEOUT_S = 60.0


def _name(request: web.Request) -> str:
    sha = request.match_info["sha256"]
    try:
        return check_name(sha)
    except BadInput as exc:
        raise error(422, protocol.BAD_NAME, exc.why) from exc


def _partial(state: HQState, sha: str) -> Path:
    return state.hq.uploads_dir / f"{sha}.partial"


def _held(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


async def head_blob(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    sha = _name(request)
    size = await state.read(hq_store.blob_size, sha)
    if size is not None:
        response = web.StreamResponse(status=200)
        response.content_length = size
        return response
    held = _held(_partial(state, sha))
    response = web.StreamResponse(status=404, headers={protocol.UPLOAD_OFFSET: str(held)})
    response.content_length = 0
    return response


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
    total = _header_int(request, protocol.UPLOAD_LENGTH, None)
    offset = _header_int(request, protocol.UPLOAD_OFFSET, 0)
    if total > protocol.MAX_BLOB_BYTES:
        raise error(413, protocol.TOO_LARGE, f"{total} bytes; at most {protocol.MAX_BLOB_BYTES}")
    if await state.read(hq_store.blob_size, sha) is not None:
        return web.json_response({"sha256": sha, "stored": True}, status=200)
    if not await state.read(hq_store.is_referenced, sha):
        raise error(409, protocol.UNREFERENCED, "no received packet references this blob")
    lock = state.upload_locks.setdefault(sha, asyncio.Lock())
    try:
        async with asyncio.timeout(LOCK_WAIT_S):
            await lock.acquire()
    except TimeoutError as exc:
        raise error(409, protocol.OFFSET_MISMATCH, "another upload of this blob is under way",
                    offset=_held(_partial(state, sha))) from exc
    try:
        return await _receive(request, state, sha, total, offset)
    finally:
        lock.release()


async def _receive(
    request: web.Request, state: HQState, sha: str, total: int, offset: int
) -> web.StreamResponse:
    if await state.read(hq_store.blob_size, sha) is not None:  # finished while we waited
        return web.json_response({"sha256": sha, "stored": True}, status=200)
    partial = _partial(state, sha)
    held = _held(partial)
    if offset != held:
        raise error(409, protocol.OFFSET_MISMATCH, f"HQ holds {held} bytes, not {offset}", offset=held)
    if held > total:
        await state.io(partial.unlink, True)
        raise error(422, protocol.HASH_MISMATCH,
                    f"partial upload of {held} bytes exceeds Upload-Length {total}")
    size = await _stream(request, state, partial, held, total)
    if size < total:
        log.info("blob partial sha=%s held=%d of %d", sha[:16], size, total)
        return web.json_response({"sha256": sha, "offset": size, "length": total}, status=202,
                                 headers={protocol.UPLOAD_OFFSET: str(size)})
    stored = await state.io(_finish, state, sha, partial)
    if not stored:
        raise error(422, protocol.HASH_MISMATCH, "the uploaded bytes do not hash to the blob name")
    await state.write(hq_store.record_blob, sha, total)
    log.info("blob stored sha=%s bytes=%d", sha[:16], total)
    return web.json_response({"sha256": sha, "stored": True}, status=201)


async def _stream(request: web.Request, state: HQState, partial: Path, held: int, total: int) -> int:
    """Append the body to `partial`; return the bytes now held. Kept (fsynced) if the link drops."""
    out: BinaryIO = await state.io(open, partial, "ab")
    size = held
    try:
        while True:
            # aiohttp has no request-read timeout: a stalled link must not hold the lock forever.
            async with asyncio.timeout(IDLE_TIMEOUT_S):
                chunk = await request.content.read(READ_CHUNK)
            if not chunk:
                break
            if size + len(chunk) > total:
                await state.io(out.close)
                await state.io(partial.unlink, True)
                raise error(413, protocol.TOO_LARGE, f"body goes past Upload-Length {total}")
            await state.io(out.write, chunk)
            size += len(chunk)
    finally:
        if not out.closed:
            await state.io(_close_durably, out)
    return size


def _close_durably(out: BinaryIO) -> None:
    out.flush()
    os.fsync(out.fileno())
    out.close()


def _finish(state: HQState, sha: str, partial: Path) -> bool:
    """Hash the complete partial; move it into the blob store if it matches, else discard it."""
    digest = hashlib.sha256()
    with partial.open("rb") as src:
        while chunk := src.read(CHUNK):
            digest.update(chunk)
    if digest.hexdigest() != sha:
        partial.unlink(missing_ok=True)
        log.warning("blob rejected sha=%s got=%s", sha[:16], digest.hexdigest()[:16])
        return False
    target = state.blobs.path(sha)
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(partial, target)
    fsync_dir(target.parent)
    fsync_dir(partial.parent)
    return True
