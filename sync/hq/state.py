"""What the HQ server holds while it runs: one writer connection on one thread, worker pools."""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import sqlite3
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, ParamSpec, TypeVar

from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from catd_node.blobs import BlobStore
from catd_node.catalog import Election
from catd_node.lifecycle import die_with_parent
from sync import protocol
from sync.hq.store import HQDir

P = ParamSpec("P")
T = TypeVar("T")


@dataclass
class HQState:
    """SQLite work runs on one thread (one writer per file); file I/O on a thread pool; packet
    verification on worker processes (`workers` > 0: Ed25519 in `cryptography` holds the GIL,
    so threads would not use a second core) or, with workers=0, on a thread."""

    hq: HQDir
    conn: sqlite3.Connection
    key: Ed25519PrivateKey
    node_pems: dict[str, str]
    blobs: BlobStore
    election: Election | None
    workers: int = 0
    cpu: Executor = field(init=False)
    writer: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(1, thread_name_prefix="hq-writer"))
    files: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(4, thread_name_prefix="hq-io"))
    upload_locks: dict[str, asyncio.Lock] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.workers > 0:
            self.cpu = ProcessPoolExecutor(
                self.workers, mp_context=multiprocessing.get_context("spawn"), initializer=die_with_parent
            )
        else:
            self.cpu = ThreadPoolExecutor(2, thread_name_prefix="hq-cpu")

    async def check(self, lines: list[bytes]) -> Any:
        """receive.check_batch on the verification pool."""
        from sync.hq import receive

        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.cpu, receive.check_batch, lines, self.node_pems)

    async def write(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(conn, *args)` on the writer thread."""
        return await asyncio.get_running_loop().run_in_executor(self.writer, fn, self.conn, *args)

    read = write  # reads share the writer thread: one connection, strictly serialised

    async def io(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self.files, fn, *args)

    def close(self) -> None:
        for pool in (self.cpu, self.files):
            pool.shutdown(wait=True)
        self.writer.submit(self.conn.close).result()
        self.writer.shutdown(wait=True)


STATE = web.AppKey("hq_state", HQState)


def error(status: int, code: str, detail: str, **extra: Any) -> web.HTTPException:
    """An HTTP error carrying the protocol's JSON error body."""
    body = json.dumps(protocol.error_body(code, detail, **extra))
    cls = {400: web.HTTPBadRequest, 403: web.HTTPForbidden, 404: web.HTTPNotFound,
           409: web.HTTPConflict, 413: web.HTTPRequestEntityTooLarge, 422: web.HTTPUnprocessableEntity}
    exc_cls = cls.get(status)
    if exc_cls is web.HTTPRequestEntityTooLarge:
        return web.HTTPRequestEntityTooLarge(
            max_size=protocol.MAX_BATCH_BYTES, actual_size=0, text=body, content_type="application/json")
    if exc_cls is None:
        return web.HTTPInternalServerError(text=body, content_type="application/json")
    return exc_cls(text=body, content_type="application/json")
