"""The ledger: append signed, hash-linked packets, one BEGIN IMMEDIATE transaction each.

Several processes (scan, web, sync) append to one SQLite file at once; the write lock of
BEGIN IMMEDIATE plus `seq` as primary key means no gaps and no forks (invariant 3).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from catd_node import bodies, packets, store
from catd_node.packets import Packet

log = logging.getLogger("catd.ledger")


@dataclass(frozen=True)
class Head:
    """The last packet of a chain (seq 0 and zeros when empty)."""

    seq: int
    hash: str


EMPTY = Head(0, packets.ZERO_HASH)


def head(conn: sqlite3.Connection) -> Head:
    """The head of the chain stored in `conn`."""
    row = conn.execute("SELECT seq, hash FROM packets ORDER BY seq DESC LIMIT 1").fetchone()
    return Head(row[0], row[1]) if row else EMPTY


def read(conn: sqlite3.Connection, start: int = 1, end: int | None = None) -> Iterator[Packet]:
    """Stored packets from `start` to `end` (inclusive) in seq order, as stored bytes."""
    sql = "SELECT seq, canonical, hash, sig FROM packets WHERE seq >= ?"
    args: list[int] = [start]
    if end is not None:
        sql += " AND seq <= ?"
        args.append(end)
    for seq, data, hash_hex, sig in conn.execute(sql + " ORDER BY seq", args):
        yield packets.from_stored(seq, bytes(data), hash_hex, bytes(sig))


class Transaction:
    """An open write transaction: append packets and write a component's own rows atomically."""

    def __init__(self, ledger: Ledger, conn: sqlite3.Connection) -> None:
        self.ledger = ledger
        self.conn = conn
        self._head = head(conn)
        self.appended: list[Packet] = []

    def append(self, kind: str, body: dict[str, Any], *, at: str | None = None) -> Packet:
        """Seal the next packet after the current head and insert it; a body that is not what
        catd_node/bodies.py declares for its kind is refused (the contract the docs print)."""
        problems = bodies.check(kind, body) if self.ledger.check_bodies else []
        if problems:
            raise packets.PacketError(f"{kind} packet", "; ".join(problems))
        packet = packets.seal(
            self.ledger.key, node=self.ledger.node_id, seq=self._head.seq + 1,
            prev=self._head.hash, kind=kind, body=body, at=at,
        )
        acta = body.get("acta")
        self.conn.execute(
            "INSERT INTO packets (seq, hash, kind, at, acta, canonical, sig)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (packet.seq, packet.hash, kind, packet.at, acta if isinstance(acta, str) else None,
             packet.canonical, packet.sig),
        )
        for sha in packets.blob_refs(packet.envelope):
            self.conn.execute(
                "INSERT OR IGNORE INTO blob_refs (sha256, seq) VALUES (?, ?)", (sha, packet.seq)
            )
        self._head = Head(packet.seq, packet.hash)
        self.appended.append(packet)
        return packet

    @contextmanager
    def savepoint(self) -> Iterator[Transaction]:
        """One step inside the open transaction: if it raises, its packets and rows are undone
        (ROLLBACK TO a SAVEPOINT) and the head is restored, and the transaction stays usable."""
        mark, count = self._head, len(self.appended)
        self.conn.execute("SAVEPOINT step")
        try:
            yield self
        except BaseException:
            self.conn.execute("ROLLBACK TO step")
            self.conn.execute("RELEASE step")
            self._head = mark
            del self.appended[count:]
            raise
        self.conn.execute("RELEASE step")


class Ledger:
    """A node's ledger: one writer connection per process, guarded by a lock for threads."""

    def __init__(self, db_path: Path, node_id: str, key: Ed25519PrivateKey, *,
                 check_bodies: bool = True) -> None:
        self.db_path = db_path
        self.node_id = node_id
        self.key = key
        # False only to play a node whose key was stolen (HQ's tests): it signs anything.
        self.check_bodies = check_bodies
        self.conn = store.connect(db_path)
        self._lock = threading.RLock()

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """BEGIN IMMEDIATE … COMMIT around packets and rows that must land together."""
        with self._lock, store.immediate(self.conn):
            tx = Transaction(self, self.conn)
            yield tx
        for packet in tx.appended:
            log.info("appended seq=%d kind=%s hash=%s", packet.seq, packet.kind, packet.hash[:16])

    def append(self, kind: str, body: dict[str, Any], *, at: str | None = None) -> Packet:
        """Append one packet in its own durable transaction."""
        with self.transaction() as tx:
            return tx.append(kind, body, at=at)

    def head(self) -> Head:
        with self._lock:
            return head(self.conn)

    def packets(self, start: int = 1, end: int | None = None) -> list[Packet]:
        with self._lock:
            return list(read(self.conn, start, end))

    def close(self) -> None:
        with self._lock:
            self.conn.close()
