"""casilla.db: the photos phones sent and the signed statements behind them.

A separate SQLite file in the HQ data dir, also when HQ's packets live in PostgreSQL: the
photos are evidence HQ keeps, never counted from here (a node records each as
`acta.digitized` in its chain, and the count reads the chain). The photo bytes themselves
go to HQ's content-addressed blob store, once."""

from __future__ import annotations

import sqlite3
import threading
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


class CasillaDB:
    """One connection, one lock: calls run on HQ's file pool."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.conn = node_store.connect(path)
        self.conn.executescript(SCHEMA)
        self.lock = threading.Lock()

    def find(self, statement: bytes) -> str | None:
        """The receipt (JSON) already given for exactly this statement, or None."""
        with self.lock:
            row = self.conn.execute("SELECT receipt FROM statements WHERE statement = ?",
                                    (statement,)).fetchone()
        return None if row is None else str(row[0])

    def record(self, st: dict[str, Any], statement: bytes, sig: str, flag: str | None,
               received_at: str, receipt: str) -> str:
        """Keep the statement; a replay of it returns the first receipt."""
        with self.lock, node_store.immediate(self.conn):
            row = self.conn.execute("SELECT receipt FROM statements WHERE statement = ?",
                                    (statement,)).fetchone()
            if row is not None:
                return str(row[0])
            self.conn.execute(
                "INSERT INTO statements (sha256, acta, node, device, statement, sig, flag, received_at,"
                " receipt) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (st["sha256"], st["acta"], st["node"], st["device"], statement, sig, flag, received_at,
                 receipt))
        return receipt

    def for_node(self, node: str, after: int, limit: int) -> list[tuple[int, str, bytes, str]]:
        """(id, sha256, statement, sig) of the unflagged statements of `node` after `after`."""
        with self.lock:
            rows = self.conn.execute(
                "SELECT id, sha256, statement, sig FROM statements WHERE node = ? AND id > ?"
                " AND flag IS NULL ORDER BY id LIMIT ?", (node, after, limit)).fetchall()
        return [(int(i), str(s), bytes(b), str(g)) for i, s, b, g in rows]

    def rows(self) -> list[sqlite3.Row | tuple[Any, ...]]:
        with self.lock:
            return self.conn.execute(
                "SELECT id, sha256, acta, node, device, flag FROM statements ORDER BY id").fetchall()

    def close(self) -> None:
        self.conn.close()


def path_of(hq_root: Path) -> Path:
    return hq_root / "casilla.db"
