"""The HQ receiver's aiohttp app: head, packet batches, resumable blobs, results, conflicts."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler

from catd_node import netguard
from catd_node.errors import BadInput
from catd_node.packets import PacketError
from hq import blobcheck, blobs, diskstate, partials, receive, results, site, tlog_routes
from hq import store as hq_store
from hq.casilla import app as casilla
from hq.state import STATE, HQState, UploadLimits, error
from hq.store import HQDir
from sync import protocol

log = logging.getLogger("catd.hq.app")
HQ_DIR = web.AppKey("hq_dir", HQDir)
WORKERS = web.AppKey("workers", int)
COUNTER = web.AppKey("counter", results.Counter)  # set when HQ has an election catalog
LIMITS = web.AppKey("upload_limits", UploadLimits)
DISK = web.AppKey("disk_watch", diskstate.DiskWatch)
BLOB_CHECK = web.AppKey("blob_check", blobcheck.Settings)
BODY_TIMEOUT_S = 60.0


async def get_head(request: web.Request) -> web.Response:
    state = request.app[STATE]
    node = request.match_info["node"]
    if node not in state.node_pems and not await state.reload_nodes(node):
        raise error(403, protocol.UNKNOWN_NODE, f"node {node!r} is not registered at HQ")
    seq, hash_hex = await state.read(hq_store.head, node)
    return web.json_response({"seq": seq, "hash": hash_hex})


async def _read_body(request: web.Request, limit: int) -> bytes:
    """The request body, counted chunk by chunk: 413 as soon as it passes `limit`."""
    if request.content_length is not None and request.content_length > limit:
        raise error(413, protocol.TOO_LARGE, f"{request.content_length} bytes; at most {limit}")
    parts: list[bytes] = []
    size = 0
    async with asyncio.timeout(BODY_TIMEOUT_S):
        async for chunk in request.content.iter_chunked(64 * 1024):
            size += len(chunk)
            if size > limit:
                raise error(413, protocol.TOO_LARGE, f"more than {limit} bytes")
            parts.append(chunk)
    return b"".join(parts)


async def post_packets(request: web.Request) -> web.Response:
    state = request.app[STATE]
    body = await _read_body(request, protocol.MAX_BATCH_BYTES)
    lines = protocol.unframe(body)
    checked = await state.check(lines)
    if checked.rejection is not None and checked.rejection.body["error"] == protocol.UNKNOWN_NODE:
        if await state.reload_nodes(str(checked.rejection.body.get("node"))):
            checked = await state.check(lines)
    try:
        answer, refs = await state.write(receive.store_batch, checked, state.key)
    except receive.Rejection as exc:
        log.warning("rejected %s", exc.body)
        return web.json_response(exc.body, status=exc.status)
    state.expect_blobs(checked.node, refs)
    if checked.node is not None and any(p.kind.startswith("device.") for p in checked.packets):
        casilla.forget(request.app, checked.node)
    return web.json_response(answer)


async def get_results(request: web.Request) -> web.Response:
    """The summary, totals per contest and conflicts (counted off the writer thread)."""
    state = request.app[STATE]
    counter = request.app.get(COUNTER)
    if counter is None:
        return web.json_response(await state.read(results.results, None))
    counted = await state.io(counter.count)
    return web.json_response(results.report(counter.election, counted))


async def get_conflicts(request: web.Request) -> web.Response:
    """For HQ staff: every report HQ received and did not count, and why."""
    counter = request.app.get(COUNTER)
    if counter is None:
        return web.json_response({"count": 0, "list": [], "detail": results.NO_CATALOG})
    return web.json_response(results.conflicts_json(await request.app[STATE].io(counter.count)))


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every API answer is JSON, including aiohttp's own 404/405 and bad input (the public site
    answers its readers in Spanish HTML instead: hq/site.py); a write refused for
    lack of space is 507 `disk_full` with Retry-After (issue 21), never a 500."""
    try:
        answer = await handler(request)
        if request.method in ("POST", "PUT") and answer.status < 300 and DISK in request.app:
            request.app[DISK].wrote()
        return answer
    except web.HTTPException as exc:
        if exc.content_type == "application/json" or exc.status < 400:
            raise
        if exc.status == 415:
            answer = web.json_response(protocol.error_body(protocol.ENCODED_BODY, netguard.ENCODED_BODY),
                                       status=415, headers={hdrs.ACCEPT_ENCODING: "identity"})
            answer.force_close()  # never linger reading the compressed body
            return answer
        if site.is_public(request):   # the results site answers a reader in Spanish HTML
            return site.error_response(exc.status, dict(exc.headers))
        code = "not_found" if exc.status == 404 else "bad_request"
        return web.json_response(protocol.error_body(code, exc.reason), status=exc.status)
    except PacketError as exc:
        return web.json_response(protocol.error_body(protocol.BAD_FORM, exc.why), status=422)
    except Exception as exc:
        full = diskstate.cause(exc)
        if full is not None and DISK in request.app:
            extra = request.app[DISK].hit(full, f"{request.method} {request.path}")
            body = protocol.error_body(diskstate.DISK_FULL, f"HQ's disk is full ({extra['path']}): nothing "
                                       "was stored from this request; retry later", **extra)
            return web.json_response(body, status=507, headers={"Retry-After": str(diskstate.RETRY_AFTER_S)})
        why = _store_outage(exc)
        if why is None:
            if site.is_public(request):
                log.exception("site error path=%s", request.path)
                return site.error_response(500)
            raise
        # the database is away (a primary lost, a standby being promoted): nothing was
        # acknowledged, the node retries; one log line, not a traceback per request
        log.warning("store unavailable path=%s reason=%s", request.path, why)
        return web.json_response(protocol.error_body(STORE_UNAVAILABLE, f"HQ's store is unavailable: {why}"),
                                 status=503, headers={"Retry-After": "1"})


STORE_UNAVAILABLE = "store_unavailable"


def _store_outage(exc: BaseException) -> str | None:
    """Why `exc` means the store cannot be reached (a PostgreSQL outage), or None."""
    if isinstance(exc, BadInput) and exc.why.startswith("cannot connect to PostgreSQL"):
        return exc.why.splitlines()[0][:300]
    try:
        import psycopg
    except ImportError:
        return None
    if isinstance(exc, psycopg.OperationalError):
        return str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
    return None


def create_app(hq: HQDir, workers: int = 0, limits: UploadLimits | None = None) -> web.Application:
    """The HQ app for data dir `hq` (opened on startup, closed on cleanup); `workers` > 0
    verifies packets on that many worker processes, 0 on a thread (tests, small sites);
    `limits` bound blob uploads (defaults: `UploadLimits()`)."""
    # Batches are streamed and counted in _read_body and blobs in blobs.put_blob; this cap
    # only guards any handler that might call request.read() by mistake.
    app = web.Application(client_max_size=protocol.MAX_BATCH_BYTES + 1024,
                          middlewares=[json_errors, netguard.refuse_encoded])
    app[HQ_DIR] = hq
    app[WORKERS] = workers
    app[LIMITS] = limits or UploadLimits()
    app[BLOB_CHECK] = blobcheck.load(hq)   # a bad [blobs] table stops serve before it starts
    app.cleanup_ctx.append(_open_state)
    app.router.add_get(protocol.HEAD_PATH, get_head)
    app.router.add_post(protocol.PACKETS_PATH, post_packets)
    app.router.add_route("HEAD", protocol.BLOB_PATH, blobs.head_blob)
    app.router.add_put(protocol.BLOB_PATH, blobs.put_blob)
    app.router.add_get(protocol.MISSING_PATH, blobs.get_missing)
    app.router.add_get(protocol.RESULTS_PATH, get_results)
    app.router.add_get(protocol.CONFLICTS_PATH, get_conflicts)
    tlog_routes.add_routes(app)
    casilla.add_routes(app)
    site.add_routes(app, hq)   # last: the /v1 routes match first
    return app


async def _open_state(app: web.Application) -> AsyncIterator[None]:
    hq = app[HQ_DIR]
    conn = hq.connect()
    state = HQState(
        hq=hq, conn=conn, key=hq.private_key(), node_pems=hq_store.node_pems(conn),
        blobs=hq.blobs(), election=hq.election(), workers=app[WORKERS], limits=app[LIMITS],
    )
    if state.workers:
        # start the worker processes before the first batch arrives
        await asyncio.gather(*(state.check([]) for _ in range(state.workers)))
    hq.uploads_dir.mkdir(exist_ok=True)
    await state.io(partials.prepare_store, hq.blobs_dir)
    # Before the first request: every stored image's file is looked for (some hashed), lost
    # ones marked for their node to send again, and blob rows that power loss took (they are
    # committed without fsync on SQLite) restored from the files (hq/blobcheck.py).
    checker = blobcheck.Checker(state, app[BLOB_CHECK])
    await checker.round()
    await state.io(partials.sweep, hq.uploads_dir, state.limits.partial_max_age_s)
    app[STATE] = state
    app[DISK] = diskstate.DiskWatch(hq)
    if state.election is not None:
        app[COUNTER] = results.Counter(hq, state.election)
    sweeper = asyncio.ensure_future(_sweep_partials(state))
    checking = asyncio.ensure_future(blobcheck.every(checker))
    yield
    for task in (sweeper, checking):
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    counter = app.get(COUNTER)
    if counter is not None:
        counter.close()
    state.close()


async def _sweep_partials(state: HQState) -> None:
    """Expire abandoned partial uploads every `sweep_every_s` (also done at start-up)."""
    while True:
        await asyncio.sleep(state.limits.sweep_every_s)
        try:
            await state.io(partials.sweep, state.hq.uploads_dir, state.limits.partial_max_age_s)
        except OSError as exc:  # a full or failing disk must not stop the server
            log.error("partial upload sweep failed: %s", exc)
