"""HQ tables (hq.db): registered nodes, received packets with their receipts, blob references,
stored blobs, and fork evidence. Append new scripts at the end; never edit an applied one."""

from __future__ import annotations

MIGRATIONS: list[str] = [
    """
    CREATE TABLE nodes (
        node TEXT PRIMARY KEY,
        pubkey TEXT NOT NULL,
        added_at TEXT NOT NULL,
        forked INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE packets (
        node TEXT NOT NULL REFERENCES nodes (node),
        seq INTEGER NOT NULL CHECK (seq >= 1),
        hash TEXT NOT NULL,
        kind TEXT NOT NULL,
        at TEXT NOT NULL,
        acta TEXT,
        canonical BLOB NOT NULL,
        sig BLOB NOT NULL,
        received_at TEXT NOT NULL,
        -- NULL until first issued: Ed25519 is deterministic, so signing later gives the same sig
        receipt_sig TEXT,
        PRIMARY KEY (node, seq)
    ) WITHOUT ROWID;
    CREATE INDEX packets_kind_acta ON packets (kind, node, acta, seq);
    CREATE TRIGGER packets_no_update BEFORE UPDATE ON packets
    BEGIN SELECT RAISE(ABORT, 'received packets are append-only: UPDATE refused'); END;
    CREATE TRIGGER packets_no_delete BEFORE DELETE ON packets
    BEGIN SELECT RAISE(ABORT, 'received packets are append-only: DELETE refused'); END;
    CREATE TABLE blob_refs (
        sha256 TEXT NOT NULL,
        node TEXT NOT NULL,
        seq INTEGER NOT NULL,
        PRIMARY KEY (sha256, node, seq)
    ) WITHOUT ROWID;
    CREATE INDEX blob_refs_node ON blob_refs (node, sha256);
    CREATE TABLE blobs (
        sha256 TEXT PRIMARY KEY,
        bytes INTEGER NOT NULL,
        stored_at TEXT NOT NULL
    );
    CREATE TABLE forks (
        id INTEGER PRIMARY KEY,
        node TEXT NOT NULL,
        seq INTEGER NOT NULL,
        held_hash TEXT NOT NULL,
        sent_hash TEXT NOT NULL,
        sent_canonical BLOB NOT NULL,
        sent_sig BLOB NOT NULL,
        detected_at TEXT NOT NULL,
        UNIQUE (node, seq, sent_hash)
    );
    """,
    """
    -- which receiver writes each publication cut (hq/cuts.py): one row per cut, claimed once
    CREATE TABLE cut_claims (
        cut TEXT PRIMARY KEY,
        receiver TEXT NOT NULL,
        claimed_at TEXT NOT NULL,
        done_at TEXT
    );
    """,
    """
    -- the transparency log (hq/tlog.py, docs/tlog.md): one leaf per accepted packet and per
    -- published cut manifest, appended in the packet's own transaction, never rewritten
    ALTER TABLE packets ADD COLUMN log_idx INTEGER;  -- its leaf in tlog_leaves
    CREATE TABLE tlog_head (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        size INTEGER NOT NULL,
        frontier BLOB NOT NULL
    );
    INSERT INTO tlog_head (id, size, frontier) VALUES (1, 0, x'');
    CREATE TABLE tlog_leaves (
        idx INTEGER PRIMARY KEY,
        hash BLOB NOT NULL,
        entry BLOB NOT NULL
    );
    CREATE TABLE tlog_nodes (
        level INTEGER NOT NULL,
        idx INTEGER NOT NULL,
        hash BLOB NOT NULL,
        PRIMARY KEY (level, idx)
    ) WITHOUT ROWID;
    CREATE TABLE tlog_cosigs (
        size INTEGER NOT NULL,
        witness TEXT NOT NULL,
        sig TEXT NOT NULL,
        at TEXT NOT NULL,
        PRIMARY KEY (size, witness)
    ) WITHOUT ROWID;
    CREATE TRIGGER tlog_leaves_no_update BEFORE UPDATE ON tlog_leaves
    BEGIN SELECT RAISE(ABORT, 'the log is append-only: UPDATE refused'); END;
    CREATE TRIGGER tlog_leaves_no_delete BEFORE DELETE ON tlog_leaves
    BEGIN SELECT RAISE(ABORT, 'the log is append-only: DELETE refused'); END;
    CREATE TRIGGER tlog_nodes_no_update BEFORE UPDATE ON tlog_nodes
    BEGIN SELECT RAISE(ABORT, 'the log is append-only: UPDATE refused'); END;
    CREATE TRIGGER tlog_nodes_no_delete BEFORE DELETE ON tlog_nodes
    BEGIN SELECT RAISE(ABORT, 'the log is append-only: DELETE refused'); END;
    """,
    """
    -- images HQ held and then found missing or damaged (hq/blobcheck.py): the blob row is
    -- deleted so the node that sent the image sends it again; restored_at is set when it does
    CREATE TABLE blob_losses (
        sha256 TEXT PRIMARY KEY,
        bytes INTEGER NOT NULL,
        why TEXT NOT NULL,
        found_at TEXT NOT NULL,
        moved_to TEXT,  -- where a damaged file was put aside (NULL: the file was gone)
        restored_at TEXT
    );
    """,
]
