"""The node's side of the replay: its database thread, batches read from the ledger and framed
off the event loop (sized to the link), and image files read for upload."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from catd_node import ledger
from catd_node.datadir import DataDir
from catd_node.packets import Packet
from sync import protocol

T = TypeVar("T")
INLINE_BLOB_BYTES = 4 * 1024 * 1024  # images up to this size are read whole, then sent


class BatchSizer:
    """Batches sized to the link: halve on failure, double on success, within HQ's limits."""

    def __init__(self, count: int = 200, size: int = 256 * 1024) -> None:
        self.count = count
        self.bytes = size

    def grow(self) -> None:
        self.count = min(self.count * 2, protocol.MAX_BATCH_LINES)
        self.bytes = min(self.bytes * 2, protocol.MAX_BATCH_BYTES // 2)

    def shrink(self) -> None:
        self.count = max(self.count // 2, 1)
        self.bytes = max(self.bytes // 2, 16 * 1024)


class Local:
    """The node's database, used from one dedicated thread (never from the event loop)."""

    def __init__(self, datadir: DataDir) -> None:
        self.datadir = datadir
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sync-db")
        self.conn: sqlite3.Connection | None = None

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        def call() -> T:
            if self.conn is None:
                self.conn = self.datadir.reader()
                # Only sync's own rows are written on this connection: receipts and the
                # delivered-image cache. Losing the last of them on power loss costs a resend
                # (HQ's head is the checkpoint, a replay returns the original receipt), so
                # they need not pay an fsync per image; the ledger's FULL is untouched.
                self.conn.execute("PRAGMA synchronous=NORMAL")
            return fn(self.conn, *args)

        return await asyncio.get_running_loop().run_in_executor(self.pool, call)

    def close(self) -> None:
        def shut() -> None:
            if self.conn is not None:
                self.conn.close()

        self.pool.submit(shut).result()
        self.pool.shutdown(wait=True)


def read_batch(conn: sqlite3.Connection, start: int, count: int, max_bytes: int) -> list[Packet]:
    """Stored packets from `start`: at most `count`, stopping before `max_bytes` (at least one)."""
    batch: list[Packet] = []
    size = 0
    rows = conn.execute(
        "SELECT seq, canonical, hash, sig FROM packets WHERE seq >= ? ORDER BY seq LIMIT ?", (start, count)
    )
    for seq, data, hash_hex, sig in rows:
        size += len(data) + 200  # wire line ≈ canonical + seq, hash and base64 sig
        if batch and size > max_bytes:
            break
        # to_wire reads only seq, canonical, hash and sig: no need to decode the envelope
        batch.append(Packet(seq, bytes(data), hash_hex, bytes(sig), {}))
    return batch


@dataclass(frozen=True)
class Framed:
    """A batch read and framed off the event loop, with the local head seen at that moment."""

    top: int
    start: int
    count: int
    max_bytes: int
    packets: int = 0
    first_seq: int = 0
    last_seq: int = 0
    last_hash: str = ""
    body: bytes = b""


def read_framed(conn: sqlite3.Connection, start: int, count: int, max_bytes: int) -> Framed:
    """The local head and the NDJSON body of the batch from `start` (see `read_batch`)."""
    top = ledger.head(conn).seq
    batch = read_batch(conn, start, count, max_bytes)
    if not batch:
        return Framed(top, start, count, max_bytes)
    return Framed(top, start, count, max_bytes, len(batch), batch[0].seq, batch[-1].seq, batch[-1].hash,
                  protocol.frame(batch))


def hash_at(conn: sqlite3.Connection, seq: int) -> str | None:
    row = conn.execute("SELECT hash FROM packets WHERE seq = ?", (seq,)).fetchone()
    return str(row[0]) if row else None


def load_blob(path: Path) -> tuple[int, bytes | None] | None:
    """(size, the bytes when at most INLINE_BLOB_BYTES) of a local blob file; None if missing.
    A small image is read in one trip off the loop and sent from memory; a larger one is
    streamed from the file."""
    try:
        with path.open("rb") as src:
            size = os.fstat(src.fileno()).st_size
            return size, (src.read() if size <= INLINE_BLOB_BYTES else None)
    except FileNotFoundError:
        return None
