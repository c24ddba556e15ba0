"""Database access for the web app, off the event loop.

Readers run on a small pool, one connection each. Every write is a *step* `fn(tx, *args)` run
on the one writer thread (the ledger's connection) with group commit: steps submitted while a
commit is in flight wait together and then share ONE `ledger.transaction()` — each step in
arrival order inside its own SAVEPOINT, so a step that raises is undone alone and its caller
gets the error — and every caller is answered only after that shared COMMIT (synchronous=FULL)
has returned. A lone submit on an idle node commits at once; nothing waits on a timer.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from catd_node import store
from catd_node.datadir import DataDir
from catd_node.ledger import Ledger, Transaction

T = TypeVar("T")
READERS = 2
MAX_GROUP = 128  # steps per shared transaction; the rest wait for the next one

log = logging.getLogger("catd.web.db")


@dataclass
class _Job:
    step: Callable[..., Any]
    args: tuple[Any, ...]
    future: asyncio.Future[Any]
    ok: bool = False
    value: Any = None
    error: BaseException | None = None


@dataclass
class CommitStats:
    """Counters for /metrics and the tests: how many commits, how many steps they carried."""

    groups: int = 0
    steps: int = 0
    failed_steps: int = 0
    largest: int = 0
    sizes: list[int] = field(default_factory=list)  # the last few group sizes, newest last

    def record(self, size: int, failed: int) -> None:
        self.groups += 1
        self.steps += size
        self.failed_steps += failed
        self.largest = max(self.largest, size)
        self.sizes = [*self.sizes[-63:], size]


class Database:
    def __init__(self, datadir: DataDir) -> None:
        self.datadir = datadir
        self.ledger: Ledger = datadir.ledger()  # migrates every component's tables
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="catd-web-write")
        self._readers = ThreadPoolExecutor(READERS, thread_name_prefix="catd-web-read")
        self._local = threading.local()
        self._conns: list[sqlite3.Connection] = []
        self._conns_lock = threading.Lock()
        self._queue: list[_Job] = []
        self._committer: asyncio.Task[None] | None = None
        self.stats = CommitStats()

    def _reader_conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = store.connect(self.datadir.db_path)
            self._local.conn = conn
            with self._conns_lock:
                self._conns.append(conn)
        return conn

    def _run_read(self, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
        return fn(self._reader_conn(), *args)

    async def read(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(conn, *args)` on a reader connection."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._readers, self._run_read, fn, args)

    async def write(self, step: Callable[..., T], *args: Any) -> T:
        """Run `step(tx, *args)` in the next group transaction; return once it is committed.

        `tx` is a `ledger.Transaction` (append packets, write rows with `tx.conn`). The step's
        check-then-append is atomic (no other writer runs between them) and its effects are
        undone if it raises; the exception is re-raised here, after the group's COMMIT.
        """
        loop = asyncio.get_running_loop()
        job = _Job(step, args, loop.create_future())
        self._queue.append(job)
        if self._committer is None or self._committer.done():
            self._committer = loop.create_task(self._commit_loop())
        result: T = await job.future
        return result

    def waiting(self) -> int:
        """Steps queued for the next group (not yet handed to the writer thread)."""
        return len(self._queue)

    async def _commit_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while self._queue:
            group = [j for j in self._queue[:MAX_GROUP] if not j.future.cancelled()]
            del self._queue[:MAX_GROUP]
            if not group:
                continue
            try:
                await loop.run_in_executor(self._writer, self._commit_group, group)
            except Exception as exc:  # BEGIN or COMMIT failed: no step of the group is durable
                log.error("group commit failed steps=%d error=%s", len(group), exc)
                for job in group:
                    if not job.future.done():
                        job.future.set_exception(exc)
                continue
            for job in group:
                if job.future.done():  # the client went away; its step is committed anyway
                    continue
                if job.ok:
                    job.future.set_result(job.value)
                else:
                    assert job.error is not None
                    job.future.set_exception(job.error)

    def _commit_group(self, group: list[_Job]) -> None:
        """On the writer thread: every step of `group` in one transaction, one SAVEPOINT each."""
        failed = 0
        try:
            with self.ledger.transaction() as tx:
                for job in group:
                    failed += not self._run_step(tx, job)
        except BaseException:
            if self.ledger.conn.in_transaction:  # a failed COMMIT can leave it open
                self.ledger.conn.execute("ROLLBACK")
            raise
        self.stats.record(len(group), failed)
        if len(group) > 1:
            log.debug("group commit steps=%d failed=%d", len(group), failed)

    @staticmethod
    def _run_step(tx: Transaction, job: _Job) -> bool:
        try:
            with tx.savepoint():
                job.value = job.step(tx, *job.args)
        except Exception as exc:  # the step's own failure: undone, reported to its caller alone
            job.error = exc
            return False
        job.ok = True
        return True

    async def drain(self) -> None:
        """Wait until every submitted step has been committed and answered."""
        while self._committer is not None and not self._committer.done():
            await asyncio.wait([self._committer])

    def close(self) -> None:
        self._writer.shutdown(wait=True)
        self._readers.shutdown(wait=True)
        with self._conns_lock:
            for conn in self._conns:
                conn.close()
            self._conns.clear()
        self.ledger.close()
