"""What the HQ server holds while it runs: its database connections and threads, worker pools."""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import queue
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field, fields
from typing import Any, ParamSpec, TypeVar

from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from catd_node import keys
from catd_node.blobs import BlobStore
from catd_node.catalog import Election
from catd_node.errors import BadInput
from catd_node.lifecycle import die_with_parent
from hq import store as hq_store
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
ENV_PREFIX = "CATD_HQ_UPLOAD_"


@dataclass(frozen=True)
class UploadLimits:
    """How long a blob upload may hold its partial, and how long an abandoned one is kept
    (docs/uploads.md; `catd-hq serve --upload-…` flags)."""

    grace_s: float = 30.0        # every PUT may take this long…
    min_rate: float = 8192.0     # …plus its promised bytes at this many bytes per second
    idle_s: float = 60.0         # no byte for this long also ends a PUT
    skew_s: float = 300.0        # Catd-Date may differ from HQ's clock by this much
    partial_max_age_s: float = 48 * 3600.0  # a partial with no progress for this long expires
    sweep_every_s: float = 3600.0  # expired partials are looked for at start-up and this often
    retry_after_s: int = 5       # Retry-After of a 409 upload_in_progress

    def deadline_s(self, size: int) -> float:
        """How long a PUT promising `size` bytes may take in all."""
        return self.grace_s + size / self.min_rate

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> UploadLimits:
        """Defaults, each overridden by `CATD_HQ_UPLOAD_<FIELD>` (e.g. CATD_HQ_UPLOAD_MIN_RATE)
        when set; BadInput naming the variable for anything but a number > 0."""
        values: dict[str, Any] = {}
        for f in fields(cls):
            name = f"{ENV_PREFIX}{f.name.upper()}"
            raw = environ.get(name)
            if raw is None:
                continue
            try:
                value = float(raw)
            except ValueError:
                value = -1.0
            if not value > 0 or value == float("inf"):
                raise BadInput(name, f"expected a number > 0, got {raw!r}")
            values[f.name] = int(value) if f.type == "int" else value
        return cls(**values)


@dataclass
class HQState:
    """Packets and receipts are written on the writer threads, each with its own connection
    (SQLite: one thread, synchronous=FULL; PostgreSQL: PG_WRITERS threads; an ack must survive
    power loss). Blob pre-checks and blob rows use a second connection on its own thread that
    on SQLite commits without waiting for the disk (synchronous=NORMAL; on PostgreSQL it commits
    like a packet, on the synchronous standby too, since a failover re-derives nothing): a blob
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
    limits: UploadLimits = field(default_factory=UploadLimits)
    cpu: Executor = field(init=False)
    writer: ThreadPoolExecutor = field(init=False)
    files: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(FILE_THREADS, thread_name_prefix="hq-io"))
    blob_conn: Conn | None = None
    blob_lock: threading.Lock = field(default_factory=threading.Lock)
    # (node, blob) pairs referenced by packets this process stored, the blob not stored by
    # this process since: that node's upload of it needs no database look-up first. Another
    # process storing it meanwhile only makes this one store the same verified bytes again.
    awaiting_blobs: set[tuple[str, str]] = field(default_factory=set)
    node_keys: dict[str, Ed25519PublicKey] = field(default_factory=dict)  # parsed once
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

    def expect_blobs(self, node: str, shas: set[str]) -> None:
        """Note blobs just referenced by `node`'s stored packets (up to AWAITING_MAX in memory)."""
        room = AWAITING_MAX - len(self.awaiting_blobs)
        if room >= len(shas):
            self.awaiting_blobs.update((node, sha) for sha in shas)

    async def reload_nodes(self, node: str) -> bool:
        """Pick up nodes registered with `catd-hq add-node` while the server runs; True when
        `node` is now known."""
        self.node_pems = await self.read(hq_store.node_pems)
        return node in self.node_pems

    async def node_key(self, node: str) -> Ed25519PublicKey | None:
        """The public key of registered node `node`, or None."""
        key = self.node_keys.get(node)
        if key is None:
            if node not in self.node_pems and not await self.reload_nodes(node):
                return None
            key = self.node_keys[node] = keys.public_from_pem(self.node_pems[node].encode("ascii"), node)
        return key

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


def error(status: int, code: str, detail: str, *, headers: dict[str, str] | None = None,
          **extra: Any) -> web.HTTPException:
    """An HTTP error carrying the protocol's JSON error body (and `headers`, e.g. Retry-After)."""
    body = json.dumps(protocol.error_body(code, detail, **extra))
    cls = {400: web.HTTPBadRequest, 403: web.HTTPForbidden, 404: web.HTTPNotFound,
           409: web.HTTPConflict, 413: web.HTTPRequestEntityTooLarge, 422: web.HTTPUnprocessableEntity}
    exc_cls = cls.get(status)
    if exc_cls is web.HTTPRequestEntityTooLarge:
        return web.HTTPRequestEntityTooLarge(
            max_size=protocol.MAX_BATCH_BYTES, actual_size=0, text=body, content_type="application/json")
    if exc_cls is None:
        return web.HTTPInternalServerError(text=body, content_type="application/json")
    return exc_cls(text=body, content_type="application/json", headers=headers)
