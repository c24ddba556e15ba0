"""What the HQ queries need from a database connection, whichever store holds HQ.

HQ's queries are written once, in the SQL both stores accept (`?` placeholders, `ON CONFLICT
DO NOTHING`), and run on a `Conn`: a sqlite3 connection as it is, or a PostgreSQL one
(`postgres.PGConn`) that takes the same calls. Only three things differ by store: how to
connect, how to migrate, and how a write transaction is taken (`writing`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from typing import Any, Protocol

from catd_node import store


class Conn(Protocol):
    """The part of sqlite3.Connection that HQ uses; `postgres.PGConn` offers the same."""

    def execute(self, sql: str, parameters: Any = ..., /) -> Any: ...

    def executemany(self, sql: str, parameters: Any, /) -> Any: ...

    def close(self) -> None: ...


def writing(conn: Conn, node: str | None = None) -> AbstractContextManager[Any]:
    """One write transaction: commit on success, roll back on error.

    SQLite: BEGIN IMMEDIATE, so the file has one writer at a time. PostgreSQL: with `node`,
    the node's row is locked first (SELECT … FOR UPDATE), so two receivers storing batches of
    one node take turns and the second reads the head the first committed (DESIGN invariant 2:
    each packet stored once); batches of different nodes are stored at once."""
    if isinstance(conn, sqlite3.Connection):
        return store.immediate(conn)
    from hq.store.postgres import PGConn

    assert isinstance(conn, PGConn), type(conn)
    return conn.writing(node)


@contextmanager
def snapshot(conn: Conn, *, patient: bool = False) -> Iterator[Conn]:
    """Reads that see one state of the store: a read transaction (SQLite WAL); on PostgreSQL
    REPEATABLE READ, since READ COMMITTED would give each statement its own snapshot and a
    batch committed in between by another receiver could show in one read and not the next.

    `patient`: the reader may work for minutes between two statements (a cut counts and
    compresses inside its snapshot); PostgreSQL's idle_in_transaction_session_timeout
    (postgres.SESSION) would end the session under it, so it is lifted for this transaction,
    which is read-only and holds no lock a receiver waits on."""
    if isinstance(conn, sqlite3.Connection):
        conn.execute("BEGIN")
    else:
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        if patient:
            conn.execute("SET LOCAL idle_in_transaction_session_timeout = 0")
    try:
        yield conn
    except BaseException:
        with suppress(Exception):  # on a broken connection there is nothing to roll back
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def relax(conn: Conn) -> None:
    """Commit without waiting for the disk, where that is safe: for blob rows on SQLite, which
    are re-derived from the durable files when HQ starts again after a power loss.

    Not on PostgreSQL: there a commit with synchronous_commit=off returns before its WAL
    reaches the synchronous standby, and a failover (the standby promoted, the receivers still
    running, nothing re-derived) loses rows whose upload HQ already acknowledged; the node then
    never sends those images again (issue 21: 3 of 50 images lost). A blob row is committed
    like a packet: flushed and on the standby before the 201 is sent."""
    if isinstance(conn, sqlite3.Connection):
        conn.execute("PRAGMA synchronous=NORMAL")


def is_broken(conn: Conn) -> bool:
    """True when the connection can no longer be used (the server went away)."""
    if isinstance(conn, sqlite3.Connection):
        return False
    from hq.store.postgres import PGConn

    return isinstance(conn, PGConn) and conn.broken


@contextmanager
def closing(conn: Conn) -> Iterator[Conn]:
    try:
        yield conn
    finally:
        conn.close()
