"""Node core tables: the packet ledger (append-only) and node metadata."""

from __future__ import annotations

MIGRATIONS: list[str] = [
    """
    CREATE TABLE packets (
        seq INTEGER PRIMARY KEY CHECK (seq >= 1),
        hash TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL,
        at TEXT NOT NULL,
        acta TEXT,
        canonical BLOB NOT NULL,
        sig BLOB NOT NULL
    );
    CREATE INDEX packets_kind ON packets (kind);
    CREATE INDEX packets_acta ON packets (acta) WHERE acta IS NOT NULL;
    CREATE TRIGGER packets_no_update BEFORE UPDATE ON packets
    BEGIN SELECT RAISE(ABORT, 'packets are append-only: UPDATE refused'); END;
    CREATE TRIGGER packets_no_delete BEFORE DELETE ON packets
    BEGIN SELECT RAISE(ABORT, 'packets are append-only: DELETE refused'); END;
    CREATE TABLE blob_refs (
        sha256 TEXT NOT NULL,
        seq INTEGER NOT NULL REFERENCES packets (seq),
        PRIMARY KEY (sha256, seq)
    );
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    """,
]
