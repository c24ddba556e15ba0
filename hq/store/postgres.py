"""HQ on PostgreSQL (psycopg 3): connections that take HQ's `?` queries, and migrations.

Several `catd-hq serve` processes share one database; what keeps them consistent is in the
database, never in a process: a node's batches are stored under a lock on its row
(`PGConn.writing`), packets are append-only by trigger, and migrations run under an
advisory lock so receivers starting together apply each script once.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from catd_node.errors import BadInput

if TYPE_CHECKING:
    import psycopg

SCHEMA = "hq.store.pg_schema"
MIGRATE_LOCK = 0x6364_6871  # pg_advisory_xact_lock key held while migrating ("cdhq")
SCHEMES = ("postgresql://", "postgres://")


def is_url(text: str) -> bool:
    return text.startswith(SCHEMES)


_TOKENS = re.compile(r"'[^']*'|\?(\d*)|%")


@functools.lru_cache(maxsize=512)
def _pg(sql: str) -> tuple[str, bool]:
    """SQLite's placeholders in psycopg's style: `?` becomes `%s`, a numbered `?N` becomes
    `%(pN)s` (True: the parameters go by name); every literal `%` becomes `%%`; a `?` inside
    a quoted string is left alone."""
    numbered = False

    def one(m: re.Match[str]) -> str:
        nonlocal numbered
        text = m.group(0)
        if text == "%":
            return "%%"
        if text.startswith("?"):
            if m.group(1):
                numbered = True
                return f"%(p{m.group(1)})s"
            return "%s"
        return text.replace("%", "%%")  # a quoted string: psycopg reads `%` even there

    return _TOKENS.sub(one, sql), numbered


def _params(parameters: Any, numbered: bool) -> Any:
    values = tuple(parameters)
    return {f"p{i}": v for i, v in enumerate(values, start=1)} if numbered else values


class PGConn:
    """A psycopg connection in autocommit mode with sqlite3's calling convention, so the
    store's queries run unchanged; transactions only through `writing`."""

    def __init__(self, raw: psycopg.Connection[Any], url: str) -> None:
        self.raw = raw
        self.url = url

    def execute(self, sql: str, parameters: Any = None, /) -> Any:
        if parameters is None:
            return self.raw.execute(sql)
        query, numbered = _pg(sql)
        return self.raw.execute(query, _params(parameters, numbered))

    def executemany(self, sql: str, parameters: Any, /) -> Any:
        query, numbered = _pg(sql)
        cursor = self.raw.cursor()
        cursor.executemany(query, [_params(row, numbered) for row in parameters])  # pipelined: one trip
        return cursor

    @contextmanager
    def writing(self, node: str | None = None) -> Iterator[PGConn]:
        with self.raw.transaction():
            if node is not None:
                # READ COMMITTED: every statement after the lock sees what the previous
                # holder committed, so the head read next is the one to extend.
                self.raw.execute("SELECT 1 FROM nodes WHERE node = %s FOR UPDATE", (node,))
            yield self

    @property
    def broken(self) -> bool:
        return bool(self.raw.closed or self.raw.broken)

    def close(self) -> None:
        self.raw.close()


# libpq settings unless the URL gives its own: a primary that vanishes without closing its
# sockets (power, network) is noticed in ~25 s rather than the kernel's two hours.
CLIENT_DEFAULTS = {"application_name": "catd-hq", "connect_timeout": "10", "keepalives_idle": "10",
                   "keepalives_interval": "5", "keepalives_count": "3"}
# Server-side limits for each session: a receiver that dies silently inside a transaction
# must not keep its node's lock (the node's batches would wait at every other receiver).
SESSION = ("SET idle_in_transaction_session_timeout = '30s'", "SET lock_timeout = '30s'")


def connect(url: str) -> PGConn:
    """A connection to `url` (a libpq URL; several hosts with target_session_attrs=read-write
    find the primary after a failover)."""
    import psycopg
    from psycopg.conninfo import conninfo_to_dict

    try:
        params = {**CLIENT_DEFAULTS, **conninfo_to_dict(url)}
        raw = psycopg.connect(**params, autocommit=True)  # type: ignore[arg-type]
        for statement in SESSION:
            raw.execute(statement)
    except psycopg.Error as exc:
        raise BadInput(redact(url), f"cannot connect to PostgreSQL ({str(exc).strip()})") from exc
    return PGConn(raw, url)


def redact(url: str) -> str:
    """The URL without its password, for messages and logs."""
    return re.sub(r"(://[^:/@]+):[^@/]*@", r"\1:***@", url)


def migrate(conn: PGConn) -> None:
    """Apply every missing script of `pg_schema.MIGRATIONS` in one transaction."""
    from hq.store import pg_schema

    with conn.writing():
        conn.execute("SELECT pg_advisory_xact_lock(?)", (MIGRATE_LOCK,))
        conn.execute("CREATE TABLE IF NOT EXISTS schema_versions"
                     " (component TEXT PRIMARY KEY, version INTEGER NOT NULL)")
        row = conn.execute("SELECT version FROM schema_versions WHERE component = ?", (SCHEMA,)).fetchone()
        done = row[0] if row else 0
        for script in pg_schema.MIGRATIONS[done:]:
            conn.execute(script)
        if len(pg_schema.MIGRATIONS) > done:
            conn.execute(
                "INSERT INTO schema_versions (component, version) VALUES (?, ?)"
                " ON CONFLICT (component) DO UPDATE SET version = excluded.version",
                (SCHEMA, len(pg_schema.MIGRATIONS)))


def held_key(conn: PGConn) -> str | None:
    """The HQ public key this database belongs to, or None (a new database)."""
    if conn.execute("SELECT to_regclass('hq_meta')").fetchone()[0] is None:
        return None
    row = conn.execute("SELECT value FROM hq_meta WHERE name = 'hq_pub'").fetchone()
    return None if row is None else str(row[0])


IN_USE = ("this database belongs to an HQ with another key;"
          " use that HQ's data directory (hq.key) on every receiver")


def claim_key(conn: PGConn, pub_pem: str) -> None:
    """Bind the database to this HQ key: the first data dir to use it records its public key;
    any other key is refused (its receipts would not verify against the nodes' hq.pub)."""
    with conn.writing():
        conn.execute("INSERT INTO hq_meta (name, value) VALUES ('hq_pub', ?) ON CONFLICT DO NOTHING",
                     (pub_pem,))
        held = conn.execute("SELECT value FROM hq_meta WHERE name = 'hq_pub'").fetchone()[0]
    if held != pub_pem:
        raise BadInput(redact(conn.url), IN_USE)
