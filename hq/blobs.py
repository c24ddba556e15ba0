"""Resumable blob upload (tus-like): HEAD gives the held offset, PUT continues from it.

The body is streamed to `uploads/<sha>.partial` (never held whole in memory: at most
FLUSH_BYTES are buffered, and a stalled or dropped link flushes what arrived) and hashed
as it arrives; a resumed upload first re-hashes the bytes already held. Durability costs
exactly what a stored blob needs: one fsync of the file, the rename into the blob store and
one fsync of that directory. The `uploads/` directory is not fsynced: a partial that
reappears after power loss is harmless (HEAD reports it, the node continues or it is
replaced). The blob row is written without an fsync (see `store.record_blob`).
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
from hq import store as hq_store
from hq.state import STATE, HQState, error
from sync import protocol

log = logging.getLogger("catd.hq.blobs")
READ_CHUNK = 256 * 1024
FLUSH_BYTES = 256 * 1024   # write to the partial once this much is buffered…
FLUSH_IDLE_S = 0.1         # …or when the link goes quiet this long with bytes buffered
LOCK_WAIT_S = 30.0
IDLE_TIMEOUT_S = 60.0


def _name(request: web.Request) -> str:
    sha = request.match_info["sha256"]
    try:
        return check_name(sha)
    except BadInput as exc:
        raise error(422, protocol.BAD_NAME, exc.why) from exc


def _partial_path(state: HQState, sha: str) -> Path:
    return state.hq.uploads_dir / f"{sha}.partial"


def _held(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


async def head_blob(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    sha = _name(request)
    size, _referenced = await state.blob_db(hq_store.blob_state, sha)
    if size is not None:
        response = web.StreamResponse(status=200)
        response.content_length = size
        return response
    held = _held(_partial_path(state, sha))
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
    if sha not in state.awaiting_blobs:  # else known: referenced, not stored
        size, referenced = await state.blob_db(hq_store.blob_state, sha)
        if size is not None:
            return web.json_response({"sha256": sha, "stored": True}, status=200)
        if not referenced:
            raise error(409, protocol.UNREFERENCED, "no received packet references this blob")
    lock = state.upload_locks.setdefault(sha, asyncio.Lock())
    waited = lock.locked()
    try:
        async with asyncio.timeout(LOCK_WAIT_S):
            await lock.acquire()
    except TimeoutError as exc:
        raise error(409, protocol.OFFSET_MISMATCH, "another upload of this blob is under way",
                    offset=_held(_partial_path(state, sha))) from exc
    try:
        # only an upload that waited for another can find the blob stored meanwhile
        if waited and (await state.blob_db(hq_store.blob_state, sha))[0] is not None:
            return web.json_response({"sha256": sha, "stored": True}, status=200)
        return await _receive(request, state, sha, total, offset)
    finally:
        lock.release()
        if not lock.locked() and state.upload_locks.get(sha) is lock:
            del state.upload_locks[sha]


async def _receive(
    request: web.Request, state: HQState, sha: str, total: int, offset: int
) -> web.StreamResponse:
    partial = Partial(_partial_path(state, sha))
    held = _held(partial.path)
    if offset != held:
        raise error(409, protocol.OFFSET_MISMATCH, f"HQ holds {held} bytes, not {offset}", offset=held)
    if held > total:
        await state.io(partial.path.unlink, True)
        raise error(422, protocol.HASH_MISMATCH,
                    f"partial upload of {held} bytes exceeds Upload-Length {total}")
    size = await _stream(request, state, partial, held, total)
    if size < total:
        log.info("blob partial sha=%s held=%d of %d", sha[:16], size, total)
        return web.json_response({"sha256": sha, "offset": size, "length": total}, status=202,
                                 headers={protocol.UPLOAD_OFFSET: str(size)})
    if not await state.io(_store, state, partial, sha, total):
        raise error(422, protocol.HASH_MISMATCH, "the uploaded bytes do not hash to the blob name")
    state.awaiting_blobs.discard(sha)
    log.info("blob stored sha=%s bytes=%d", sha[:16], total)
    return web.json_response({"sha256": sha, "stored": True}, status=201)


async def _stream(request: web.Request, state: HQState, partial: Partial, held: int, total: int) -> int:
    """Read the body into `partial`; return the bytes now held (all of them when it returns
    `total`: then the caller finishes the partial). On a short or dropped body what arrived is
    written and fsynced, so the node can continue from it."""
    size = held
    complete = False
    try:
        while True:
            chunk = await _next_chunk(request, state, partial)
            if not chunk:
                break
            if size + len(chunk) > total:
                await state.io(partial.discard)
                raise error(413, protocol.TOO_LARGE, f"body goes past Upload-Length {total}")
            partial.buffer.append(chunk)
            partial.buffered += len(chunk)
            size += len(chunk)
            if partial.buffered >= FLUSH_BYTES:
                await state.io(partial.flush)
        complete = size == total
    finally:
        if not complete and not partial.discarded:
            await state.io(partial.keep)
    return size


async def _next_chunk(request: web.Request, state: HQState, partial: Partial) -> bytes:
    """The next piece of the body; bytes already buffered are flushed when the link goes quiet.
    aiohttp has no request-read timeout: a stalled link must not hold the lock forever."""
    ready = request.content.read_nowait(READ_CHUNK)  # what already arrived: no waiting
    if ready or request.content.at_eof():
        return ready
    async with asyncio.timeout(IDLE_TIMEOUT_S):
        if not partial.buffered:
            return await request.content.read(READ_CHUNK)
        read = asyncio.ensure_future(request.content.read(READ_CHUNK))
        try:
            done, _ = await asyncio.wait({read}, timeout=FLUSH_IDLE_S)
            if not done:
                await state.io(partial.flush)
            return await read
        finally:
            read.cancel()


def _store(state: HQState, partial: Partial, sha: str, total: int) -> bool:
    """Finish the partial into the blob store and record its row (one trip to the file pool)."""
    if not partial.finish(sha, state.blobs.path(sha)):
        return False
    state.blob_rows(hq_store.record_blob, sha, total)
    return True


class Partial:
    """A partial upload file and the running SHA-256 of its bytes; its methods run on the
    file thread pool, one at a time for a given upload (the caller holds the blob's lock)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.buffer: list[bytes] = []
        self.buffered = 0
        self.digest = hashlib.sha256()
        self.out: BinaryIO | None = None
        self.discarded = False

    def _open(self) -> BinaryIO:
        if self.out is None:
            out = self.path.open("a+b")  # writes append; a resumed upload re-hashes what is held
            out.seek(0)
            while chunk := out.read(CHUNK):
                self.digest.update(chunk)
            self.out = out
        return self.out

    def flush(self) -> None:
        """Append the buffered bytes to the file (not fsynced: `keep` or `finish` does that)."""
        out = self._open()
        for chunk in self.buffer:
            self.digest.update(chunk)
            out.write(chunk)
        out.flush()
        self.buffer.clear()
        self.buffered = 0

    def keep(self) -> None:
        """The body ended short or the link dropped: make what arrived durable, for a resume."""
        if self.buffer or self.out is not None:
            self.flush()
            assert self.out is not None
            os.fsync(self.out.fileno())
            self.out.close()

    def discard(self) -> None:
        if self.out is not None:
            self.out.close()
        self.path.unlink(missing_ok=True)
        self.discarded = True

    def finish(self, sha: str, target: Path) -> bool:
        """All bytes arrived: if they hash to `sha`, fsync the file, rename it to `target` and
        fsync the target directory (True); else discard the partial (False)."""
        self.flush()
        out = self.out
        assert out is not None
        if self.digest.hexdigest() != sha:
            log.warning("blob rejected sha=%s got=%s", sha[:16], self.digest.hexdigest()[:16])
            self.discard()
            return False
        os.fsync(out.fileno())
        out.close()
        _make_dir(target.parent)
        os.replace(self.path, target)
        fsync_dir(target.parent)
        return True


def _make_dir(path: Path) -> None:
    """Create a blob store subdirectory durably (its parent is fsynced once, when created);
    `prepare_store` normally made them all already."""
    try:
        path.mkdir(parents=True)
    except FileExistsError:
        return
    fsync_dir(path.parent)


def prepare_store(blobs_dir: Path) -> None:
    """Create the 256 subdirectories of the blob store (`aa/` for names starting `aa`) once,
    durably, so that storing a blob never has to create one and fsync its parent."""
    blobs_dir.mkdir(parents=True, exist_ok=True)
    created = False
    for n in range(256):
        try:
            (blobs_dir / f"{n:02x}").mkdir()
            created = True
        except FileExistsError:
            pass
    if created:
        fsync_dir(blobs_dir)
