"""Sync tables: receipts and HQ link state (owned by sync/).

Only the sync client writes them, in short transactions between network calls. HQ's head
stays the checkpoint; these rows are the node's proof (signed receipts) and a cache.
"""

from __future__ import annotations

MIGRATIONS: list[str] = [
    """
    CREATE TABLE sync_receipts (
        seq INTEGER PRIMARY KEY CHECK (seq >= 1),
        hash TEXT NOT NULL,
        node TEXT NOT NULL,
        received_at TEXT NOT NULL,
        sig TEXT NOT NULL,
        hq_url TEXT NOT NULL,
        stored_at TEXT NOT NULL
    );
    CREATE TABLE sync_link (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        acked_seq INTEGER NOT NULL DEFAULT 0,
        acked_hash TEXT,
        hq_url TEXT,
        last_receipt_at TEXT,
        last_error TEXT,
        last_error_at TEXT,
        updated_at TEXT
    );
    CREATE TABLE sync_blobs (
        sha256 TEXT PRIMARY KEY,
        bytes INTEGER NOT NULL,
        delivered_at TEXT NOT NULL,
        hq_url TEXT NOT NULL
    );
    """,
    """
    -- casilla photos pulled from HQ (sync/casilla.py): HQ's statement id, once each
    CREATE TABLE sync_casilla (
        hq_id INTEGER PRIMARY KEY,
        sha256 TEXT NOT NULL,
        acta TEXT NOT NULL,
        seq INTEGER NOT NULL,
        pulled_at TEXT NOT NULL
    );
    """,
    """
    -- the inclusion proof in HQ's transparency log that came with each receipt (docs/tlog.md)
    CREATE TABLE sync_log_proofs (
        seq INTEGER PRIMARY KEY CHECK (seq >= 1),
        idx INTEGER NOT NULL,
        size INTEGER NOT NULL,
        proof TEXT NOT NULL,
        checkpoint TEXT NOT NULL
    );
    """,
]
