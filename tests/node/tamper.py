"""An attacker with file access: open the ledger for editing the way a person with the
sqlite3 shell would (drop the append-only triggers, edit, put the triggers back)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from catd_node.datadir import DataDir


@contextmanager
def opened(db_path: Path) -> Iterator[sqlite3.Connection]:
    """A raw connection with the packets triggers dropped; they are recreated on exit."""
    conn = sqlite3.connect(str(db_path), isolation_level=None)
    try:
        triggers = [sql for (sql,) in conn.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'packets'")]
        assert len(triggers) == 2
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("DROP TRIGGER packets_no_update")
        conn.execute("DROP TRIGGER packets_no_delete")
        yield conn
        for sql in triggers:
            conn.execute(sql)
        conn.execute("COMMIT")
    finally:
        conn.close()


def row(db_path: Path, seq: int) -> tuple[bytes, str, bytes]:
    """(canonical, hash, sig) as stored for `seq`."""
    conn = sqlite3.connect(str(db_path))
    try:
        data, hash_hex, sig = conn.execute(
            "SELECT canonical, hash, sig FROM packets WHERE seq = ?", (seq,)).fetchone()
    finally:
        conn.close()
    return bytes(data), hash_hex, bytes(sig)


def digitized_body(sha: str, size: int, name: str, acta: str | None) -> dict[str, Any]:
    return {
        "image": {"sha256": sha, "bytes": size, "format": "webp", "width": 1700,
                  "height": 2200, "dpi": 200},
        "original": {"sha256": sha, "bytes": size, "name": name},
        "source": {"kind": "scanner", "id": "scanner-1"},
        "acta": acta,
        "identified_by": "filename" if acta else None,
    }


def populate(node: DataDir, actas: int = 3) -> list[str]:
    """Give a fresh node a few acopio/digitized/captured packets and their image blobs.

    Returns the blob names, in the order their packets were appended (seq 2 is the first
    acopio, seq 3 the first acta.digitized).
    """
    blobs = node.blobs()
    keys = list(node.election.actas)[:actas]
    names = []
    ledger = node.ledger()
    try:
        for i, key in enumerate(keys):
            image = f"imagen del acta {key} — ñ {i}".encode() * 50
            sha = blobs.put(image)
            names.append(sha)
            ledger.append("acta.acopio", {"acta": key, "by": "ana", "in_catalog": True})
            ledger.append("acta.digitized", digitized_body(sha, len(image), f"{key}.jpg", key))
            ledger.append("acta.captured", {"acta": key, "image_sha256": sha, "by": "josé",
                                            "round": 1, "values": {"PAN": 10 + i, "PRI": "ILEGIBLE"}})
    finally:
        ledger.close()
    return names
