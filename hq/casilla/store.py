"""casilla.db: the photos phones sent and the signed statements behind them.

A separate SQLite file in the HQ data dir, also when HQ's packets live in PostgreSQL: the
photos are evidence HQ keeps, never counted from here (a node records each as
`acta.digitized` in its chain, and the count reads the chain). The photo bytes themselves
go to HQ's content-addressed blob store, once."""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from catd_node import store as node_store

SCHEMA = """
CREATE TABLE IF NOT EXISTS statements (
    id INTEGER PRIMARY KEY,
    sha256 TEXT NOT NULL,
    acta TEXT NOT NULL,
    node TEXT NOT NULL,
    device TEXT NOT NULL,
    statement BLOB NOT NULL,
    sig TEXT NOT NULL,
    flag TEXT,
    received_at TEXT NOT NULL,
    receipt TEXT NOT NULL,
    UNIQUE (statement)
);
CREATE INDEX IF NOT EXISTS statements_node ON statements (node, id);
CREATE TRIGGER IF NOT EXISTS statements_no_update BEFORE UPDATE ON statements
BEGIN SELECT RAISE(ABORT, 'casilla statements are append-only'); END;
"""


@dataclass
class _Record:
    """One statement waiting for the next group commit, and what became of it."""

    row: tuple[Any, ...]
    statement: bytes
    receipt: str
    kept: str | None = None       # the receipt this statement has in the file
    new: bool = False
    failed: BaseException | None = None


class CasillaDB:
    """One connection, one lock: calls run on HQ's file pool. Statements are kept by group
    commit: the first caller to find no commit under way writes every statement queued by
    then in one transaction (one fsync of the WAL for them all) while the others wait."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.conn = node_store.connect(path)
        self.conn.executescript(SCHEMA)
        self.lock = threading.Lock()
        self.queued = threading.Condition()
        self.waiting: list[_Record] = []
        self.committing = False

    def find(self, statement: bytes) -> str | None:
        """The receipt (JSON) already given for exactly this statement, or None."""
        with self.lock:
            row = self.conn.execute("SELECT receipt FROM statements WHERE statement = ?",
                                    (statement,)).fetchone()
        return None if row is None else str(row[0])

    def record(self, st: dict[str, Any], statement: bytes, sig: str, flag: str | None,
               received_at: str, receipt: str) -> str:
        """Keep the statement; a replay of it returns the first receipt."""
        return self.keep(st, statement, sig, flag, received_at, receipt)[0]

    def keep(self, st: dict[str, Any], statement: bytes, sig: str, flag: str | None,
             received_at: str, receipt: str) -> tuple[str, bool]:
        """(the receipt the statement has, True when this call recorded it); durable on return."""
        job = _Record((st["sha256"], st["acta"], st["node"], st["device"], statement, sig, flag,
                       received_at, receipt), statement, receipt)
        with self.queued:
            self.waiting.append(job)
            while job.kept is None and job.failed is None:
                if self.committing:
                    self.queued.wait()
                    continue
                self.committing = True
                batch, self.waiting = self.waiting, []
                self.queued.release()
                try:
                    self._commit(batch)
                finally:
                    self.queued.acquire()
                    self.committing = False
                    self.queued.notify_all()
        if job.failed is not None:
            raise job.failed
        assert job.kept is not None
        return job.kept, job.new

    def _commit(self, batch: list[_Record]) -> None:
        try:
            with self.lock, node_store.immediate(self.conn):
                for job in batch:
                    row = self.conn.execute("SELECT receipt FROM statements WHERE statement = ?",
                                            (job.statement,)).fetchone()
                    if row is not None:
                        job.kept = str(row[0])
                        continue
                    self.conn.execute(
                        "INSERT INTO statements (sha256, acta, node, device, statement, sig, flag,"
                        " received_at, receipt) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", job.row)
                    job.kept, job.new = job.receipt, True
        except BaseException as exc:
            for job in batch:
                job.kept, job.new, job.failed = None, False, exc
            raise

    def for_node(self, node: str, after: int, limit: int, ccv_actas: frozenset[str] = frozenset(),
                 catds: frozenset[str] | None = frozenset()) -> list[tuple[int, str, bytes, str]]:
        """(id, sha256, statement, sig) of the unflagged statements after `after` that `node`
        pulls: those its own devices sent and, for a capture centre, those of `ccv_actas`
        (sent by the devices of `catds`; None: of any node)."""
        args: tuple[str, ...]
        if not ccv_actas:
            query, args = "node = ?", (node,)
        elif catds is None:
            query, args = "1", ()
        else:
            nodes = sorted(catds | {node})
            query, args = f"node IN ({', '.join('?' * len(nodes))})", tuple(nodes)
        out: list[tuple[int, str, bytes, str]] = []
        with self.lock:
            rows = self.conn.execute(
                f"SELECT id, sha256, statement, sig, node, acta FROM statements WHERE {query} AND id > ?"
                " AND flag IS NULL ORDER BY id", (*args, after))
            for i, sha, statement, sig, by, acta in rows:
                if by == node or acta in ccv_actas:
                    out.append((int(i), str(sha), bytes(statement), str(sig)))
                    if len(out) >= limit:
                        break
        return out

    def rows(self) -> list[sqlite3.Row | tuple[Any, ...]]:
        with self.lock:
            return self.conn.execute(
                "SELECT id, sha256, acta, node, device, flag FROM statements ORDER BY id").fetchall()

    def close(self) -> None:
        self.conn.close()


def path_of(hq_root: Path) -> Path:
    return hq_root / "casilla.db"
