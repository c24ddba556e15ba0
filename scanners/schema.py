"""Scanner ingest tables (owned by scanners/).

`scan_originals` makes the SHA-256 of an original file UNIQUE (DESIGN invariant 2: the same
image dropped twice makes one packet). `scan_claims` records the outcome of each claimed file
in the same transaction as its packet, so a restart after a crash finishes the file instead
of ingesting it again (invariant 1).
"""

from __future__ import annotations

MIGRATIONS: list[str] = [
    """
    CREATE TABLE scan_originals (
        original_sha256 TEXT PRIMARY KEY,
        seq INTEGER NOT NULL,
        claim TEXT NOT NULL,
        name TEXT NOT NULL,
        source TEXT NOT NULL,
        pages INTEGER NOT NULL,
        bytes INTEGER NOT NULL
    );
    CREATE TABLE scan_claims (
        claim TEXT PRIMARY KEY,
        outcome TEXT NOT NULL CHECK (outcome IN ('digitized', 'duplicate', 'quarantined')),
        original_sha256 TEXT,
        seq INTEGER NOT NULL,
        name TEXT NOT NULL
    );
    """,
]
