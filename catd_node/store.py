"""The SQLite store: connections with durable settings, and schema migrations.

Every component owns its tables in a `schema` module with a MIGRATIONS list; `migrate`
applies what is missing, each component's versions tracked in `schema_versions`.
The ledger tables refuse UPDATE and DELETE (DESIGN invariant 3).
"""

from __future__ import annotations

import importlib
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlite_utils

# Components whose schema module defines MIGRATIONS: list[str]; order matters only for
# foreign references, and none cross components.
SCHEMA_MODULES = (
    "catd_node.schema",
    "scanners.schema",
    "sync.schema",
    "catd_node.web.schema",
)
BUSY_TIMEOUT_MS = 10_000


def connect(path: Path | str, *, readonly: bool = False) -> sqlite3.Connection:
    """A connection in manual-transaction mode with WAL, synchronous=FULL and a busy timeout.

    synchronous=FULL because WAL with NORMAL can lose the last commits on power loss,
    and a lost commit after a file was moved to processed/ breaks DESIGN invariant 1.
    """
    if readonly:
        conn = sqlite3.connect(
            f"file:{path}?mode=ro", uri=True, isolation_level=None, check_same_thread=False,
            timeout=BUSY_TIMEOUT_MS / 1000,
        )
    else:
        conn = sqlite3.connect(
            str(path), isolation_level=None, check_same_thread=False,
            timeout=BUSY_TIMEOUT_MS / 1000,
        )
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    if not readonly:
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if mode.lower() != "wal":
            raise sqlite3.OperationalError(f"{path}: could not enable WAL (got {mode})")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA trusted_schema=OFF")
    return conn


@contextmanager
def immediate(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One write transaction taken with BEGIN IMMEDIATE (a deferred one can hit SQLITE_BUSY
    on its first write without honouring busy_timeout); commit on success, roll back on error."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        if conn.in_transaction:  # SQLite may have rolled back already (a full disk)
            conn.execute("ROLLBACK")
        raise
    try:
        conn.execute("COMMIT")
    except sqlite3.Error:
        # A COMMIT that fails (the disk is full) can leave the transaction open: end it, or the
        # next BEGIN on this connection fails ("cannot start a transaction within a transaction").
        if conn.in_transaction:
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass
        raise


def database(conn: sqlite3.Connection) -> sqlite_utils.Database:
    """A sqlite-utils view of `conn`, for schema work and simple reads."""
    return sqlite_utils.Database(conn)


def migrate(conn: sqlite3.Connection, modules: tuple[str, ...] = SCHEMA_MODULES) -> None:
    """Apply every missing migration of every component, each in its own transaction."""
    with immediate(conn):
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_versions"
            " (component TEXT PRIMARY KEY, version INTEGER NOT NULL)"
        )
    for name in modules:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue  # a component not installed in this build has no tables
            raise
        migrations: list[str] = module.MIGRATIONS
        with immediate(conn):
            row = conn.execute(
                "SELECT version FROM schema_versions WHERE component = ?", (name,)
            ).fetchone()
            done = row[0] if row else 0
            for script in migrations[done:]:
                for statement in _statements(script):
                    conn.execute(statement)
            if len(migrations) > done:
                conn.execute(
                    "INSERT INTO schema_versions (component, version) VALUES (?, ?)"
                    " ON CONFLICT (component) DO UPDATE SET version = excluded.version",
                    (name, len(migrations)),
                )


def _statements(script: str) -> Iterator[str]:
    """Split a migration script into complete statements (triggers hold inner semicolons)."""
    buffer = ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            if buffer.strip():
                yield buffer.strip()
            buffer = ""
    if buffer.strip():
        yield buffer.strip()
