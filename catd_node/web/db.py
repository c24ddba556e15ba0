"""Database access for the web app, off the event loop.

One writer (the ledger's connection) on a single thread, so packets and web rows are written
by one thread in BEGIN IMMEDIATE transactions; readers on a small pool, one connection each.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from catd_node import store
from catd_node.datadir import DataDir
from catd_node.ledger import Ledger

T = TypeVar("T")
READERS = 2


class Database:
    def __init__(self, datadir: DataDir) -> None:
        self.datadir = datadir
        self.ledger: Ledger = datadir.ledger()  # migrates every component's tables
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="catd-web-write")
        self._readers = ThreadPoolExecutor(READERS, thread_name_prefix="catd-web-read")
        self._local = threading.local()
        self._conns: list[sqlite3.Connection] = []
        self._conns_lock = threading.Lock()

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

    async def write(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(ledger, *args)` on the writer thread (use ledger.transaction() inside)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._writer, fn, self.ledger, *args)

    def close(self) -> None:
        self._writer.shutdown(wait=True)
        self._readers.shutdown(wait=True)
        with self._conns_lock:
            for conn in self._conns:
                conn.close()
            self._conns.clear()
        self.ledger.close()
