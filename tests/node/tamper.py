"""An attacker with file access: open the ledger for editing the way a person with the
sqlite3 shell would (drop the append-only triggers, edit, put the triggers back)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from catd_node import canonical, keys, packets
from catd_node.datadir import DataDir
from sync import protocol


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


def populate(node: DataDir, actas: int = 3, first: int = 0) -> list[str]:
    """Give a node acopio/digitized/captured packets and image blobs for `actas` catalog actas
    from the `first`-th on.

    Returns the blob names, in the order their packets were appended (on a fresh node seq 2
    is the first acopio, seq 3 the first acta.digitized).
    """
    blobs = node.blobs()
    chosen = list(node.election.actas)[first:first + actas]
    names = []
    ledger = node.ledger()
    try:
        for i, key in enumerate(chosen):
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


def reseal(db_path: Path, key: Ed25519PrivateKey, start: int = 1,
           edit: Callable[[int, dict[str, Any]], None] = lambda seq, envelope: None) -> None:
    """Re-seal every packet from `start` on with `key`, relinking each to the one before, after
    `edit(seq, envelope)` had its way with it: what a root who holds a key can do to the rows."""
    with opened(db_path) as conn:
        rows = conn.execute("SELECT seq, canonical FROM packets WHERE seq >= ? ORDER BY seq",
                            (start,)).fetchall()
        before = conn.execute("SELECT hash FROM packets WHERE seq = ?", (start - 1,)).fetchone()
        prev = before[0] if before else packets.ZERO_HASH
        for seq, data in rows:
            envelope = canonical.decode(bytes(data))
            edit(seq, envelope)
            p = packets.seal(key, node=envelope["node"], seq=seq, prev=prev, kind=envelope["kind"],
                             body=envelope["body"], at=envelope["at"])
            conn.execute("UPDATE packets SET canonical = ?, hash = ?, sig = ? WHERE seq = ?",
                         (p.canonical, p.hash, p.sig, seq))
            prev = p.hash


def replace_node_key(node: DataDir, key: Ed25519PrivateKey) -> None:
    """Put `key` in node.key and its public half in node.pub, as root can."""
    node.key_path.unlink()
    keys.write_private(node.key_path, key)
    keys.write_public(node.pub_path, key.public_key())


def cut_short(node: DataDir, keep: int) -> None:
    """Drop every packet after `keep` and lower the (unsigned) acked_seq row to match."""
    with opened(node.db_path) as conn:
        conn.execute("DELETE FROM blob_refs WHERE seq > ?", (keep,))
        conn.execute("DELETE FROM packets WHERE seq > ?", (keep,))
        (hash_hex,) = conn.execute("SELECT hash FROM packets WHERE seq = ?", (keep,)).fetchone()
        conn.execute("UPDATE sync_link SET acked_seq = ?, acked_hash = ? WHERE id = 1", (keep, hash_hex))


def forge_receipts(node: DataDir, key: Ed25519PrivateKey, start: int = 1) -> list[int]:
    """Make every stored receipt from seq `start` on name the hash the ledger now holds at its
    seq, signed by `key` (not HQ's); return the forged receipts' seqs."""
    conn = sqlite3.connect(str(node.db_path), isolation_level=None)
    try:
        rows = conn.execute("SELECT r.seq, r.node, r.received_at, p.hash FROM sync_receipts r"
                            " JOIN packets p ON p.seq = r.seq WHERE r.seq >= ? ORDER BY r.seq",
                            (start,)).fetchall()
        for seq, node_id, received_at, hash_hex in rows:
            forged = protocol.sign_receipt(key, node_id, seq, hash_hex, received_at)
            conn.execute("UPDATE sync_receipts SET hash = ?, sig = ? WHERE seq = ?",
                         (hash_hex, forged["sig"], seq))
    finally:
        conn.close()
    return [row[0] for row in rows]
