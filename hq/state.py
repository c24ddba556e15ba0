"""What the HQ server holds while it runs: its database connections and threads, worker pools."""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, ParamSpec, TypeVar

from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from catd_node.blobs import BlobStore
from catd_node.catalog import Election
from catd_node.lifecycle import die_with_parent
from hq.store import HQDir
from hq.store.base import Conn, is_broken, relax
from sync import protocol

P = ParamSpec("P")
THREAD_CHECKERS = 2    # with workers=0: verification threads (Ed25519 verify releases the GIL)
SPLIT_MIN_LINES = 64   # smaller batches are verified in one piece
# File work is mostly waiting on fsync: enough threads that uploads finishing (two fsyncs
# each) do not hold up the quick blob look-ups of uploads starting.
FILE_THREADS = 16
AWAITING_MAX = 100_000  # blob names (~12 MB) remembered as referenced and not yet stored
# PostgreSQL: batches of different nodes are stored at once, each on its own connection
# (a node's batches still take turns: `base.writing`). SQLite has one writer per file.
PG_WRITERS = 4
T = TypeVar("T")


@dataclass
class HQState:
    """Packets and receipts are written on the writer threads, each with its own connection
    (SQLite: one thread, synchronous=FULL; PostgreSQL: PG_WRITERS threads; an ack must survive
    power loss). Blob pre-checks and blob rows use a second connection on its own thread that
    commits without waiting for the disk (synchronous=NORMAL, synchronous_commit=off): a blob
    row is derived from the durable file (re-derived at start-up if lost), so it need not wait
    for an fsync nor queue behind a packet batch. File I/O runs on a thread pool; packet
    verification on worker processes (`workers` > 0) or, with workers=0, on threads."""

    hq: HQDir
    conn: Conn  # the first writer connection (more are opened on PostgreSQL when needed)
    key: Ed25519PrivateKey
    node_pems: dict[str, str]
    blobs: BlobStore
    election: Election | None
    workers: int = 0
    cpu: Executor = field(init=False)
    writer: ThreadPoolExecutor = field(init=False)
    files: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(FILE_THREADS, thread_name_prefix="hq-io"))
    blob_conn: Conn | None = None
    blob_lock: threading.Lock = field(default_factory=threading.Lock)
    upload_locks: dict[str, asyncio.Lock] = field(default_factory=dict)
    # Blobs referenced by packets this process stored and not stored since: an upload of one
    # needs no database look-up first. Anything else, e.g. after a restart, is looked up. With
    # several receivers another may have stored one meanwhile: the upload is then taken again
    # (the same bytes under the same name; the row is kept once), never refused.
    awaiting_blobs: set[str] = field(default_factory=set)
    idle: queue.SimpleQueue[Conn] = field(default_factory=queue.SimpleQueue)
    opened: list[Conn] = field(default_factory=list)
    opened_lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        writers = 1 if self.hq.db_url() is None else PG_WRITERS
        self.writer = ThreadPoolExecutor(writers, thread_name_prefix="hq-writer")
        self.opened.append(self.conn)
        self.idle.put(self.conn)
        if self.workers > 0:
            self.cpu = ProcessPoolExecutor(
                self.workers, mp_context=multiprocessing.get_context("spawn"), initializer=die_with_parent
            )
        else:
            self.cpu = ThreadPoolExecutor(THREAD_CHECKERS, thread_name_prefix="hq-cpu")

    def expect_blobs(self, shas: set[str]) -> None:
        """Note blobs just referenced by stored packets (up to AWAITING_MAX kept in memory)."""
        room = AWAITING_MAX - len(self.awaiting_blobs)
        if room >= len(shas):
            self.awaiting_blobs.update(shas)

    async def check(self, lines: list[bytes]) -> Any:
        """receive.check_batch on the verification pool; a large batch is cut into one run of
        lines per worker, verified at once, and joined (seams checked: `receive.join`)."""
        from hq import receive

        loop = asyncio.get_running_loop()
        parts = self.workers if self.workers > 0 else THREAD_CHECKERS
        if parts > 1 and SPLIT_MIN_LINES <= len(lines) <= protocol.MAX_BATCH_LINES:
            checked = await asyncio.gather(*(
                loop.run_in_executor(self.cpu, receive.check_batch, run, self.node_pems, first)
                for run, first in receive.split(lines, parts)))
            joined = receive.join(list(checked))
            if joined is not None:
                return joined
        return await loop.run_in_executor(self.cpu, receive.check_batch, lines, self.node_pems)

    async def write(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(conn, *args)` on a writer thread, with a connection no other thread holds."""
        return await asyncio.get_running_loop().run_in_executor(self.writer, self._with_conn, fn, args)

    read = write  # reads share the writer threads and their connections

    def _with_conn(self, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
        """`fn(conn, *args)` on an idle connection. When PostgreSQL went away (a restart, a
        promoted standby) the connection is found broken on use: every idle one is dropped too
        (they broke alike) and `fn` runs once more on a new connection. That is safe because
        what runs here is a read or an idempotent store (a replayed batch is answered with its
        receipt), whether or not the broken attempt committed."""
        for attempt in (1, 2):
            conn = self._take()
            try:
                return fn(conn, *args)
            except Exception:
                if not is_broken(conn) or attempt == 2:
                    raise
            finally:
                if is_broken(conn):
                    self._forget(conn)
                    self._forget_idle()
                else:
                    self.idle.put(conn)
        raise AssertionError("unreachable")

    def _take(self) -> Conn:
        try:
            return self.idle.get_nowait()
        except queue.Empty:  # at most one connection per writer thread is ever opened
            conn = self.hq.connect()
            with self.opened_lock:
                self.opened.append(conn)
            return conn

    def _forget_idle(self) -> None:
        while True:
            try:
                self._forget(self.idle.get_nowait())
            except queue.Empty:
                return

    def _forget(self, conn: Conn) -> None:
        with self.opened_lock:
            self.opened.remove(conn)
        conn.close()

    def blob_rows(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(blob_conn, *args)`, called from a file-pool thread (blocking: never on the loop);
        one call at a time on the blob connection, which is opened on first use."""
        with self.blob_lock:
            for attempt in (1, 2):
                if self.blob_conn is None:
                    self.blob_conn = self.hq.connect()
                    relax(self.blob_conn)
                conn = self.blob_conn
                try:
                    return fn(conn, *args)
                except Exception:
                    if not is_broken(conn) or attempt == 2:
                        raise
                finally:
                    if is_broken(conn):  # as in _with_conn: blob rows are idempotent too
                        conn.close()
                        self.blob_conn = None
            raise AssertionError("unreachable")

    async def blob_db(self, fn: Callable[..., T], *args: Any) -> T:
        """`blob_rows(fn, *args)` on the file pool."""
        return await self.io(self.blob_rows, fn, *args)

    async def io(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self.files, fn, *args)

    def close(self) -> None:
        for pool in (self.cpu, self.files):
            pool.shutdown(wait=True)
        if self.blob_conn is not None:
            self.blob_conn.close()
        self.writer.shutdown(wait=True)
        for conn in self.opened:
            conn.close()


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
