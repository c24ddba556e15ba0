"""HQ on SQLite (the embedded default): hq.db in the data directory, WAL, synchronous=FULL."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from catd_node import store

SCHEMA = ("hq.schema",)


def connect(path: Path) -> sqlite3.Connection:
    """A migrated connection to hq.db (WAL, synchronous=FULL, manual transactions)."""
    conn = store.connect(path)
    store.migrate(conn, SCHEMA)
    return conn
