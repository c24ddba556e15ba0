"""HQ receipts and link state on the node: check, store, summarise for `catd-node status`.

A receipt for seq S, signed by the HQ key, proves HQ holds the node's chain up to S (HQ
refuses gaps). The node keeps every receipt it got; HQ's head stays the checkpoint.
Every write here is one short transaction, never open across network I/O.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from catd_node import packets, store, tlog, tlog_note
from catd_node.verify import Finding
from sync import protocol


@dataclass(frozen=True)
class Receipt:
    node: str
    seq: int
    hash: str
    received_at: str
    sig: str
    log: dict[str, Any] | None = field(default=None, compare=False)

    def as_dict(self) -> dict[str, Any]:
        return {"node": self.node, "seq": self.seq, "hash": self.hash,
                "received_at": self.received_at, "sig": self.sig}


def check(public_key: Ed25519PublicKey, receipt: Any, node: str, seq: int, hash_hex: str) -> Receipt:
    """The receipt, if signed by `public_key` and naming exactly (node, seq, hash) we sent.

    Raises ValueError naming what is wrong otherwise.
    """
    why = protocol.check_receipt(public_key, receipt)
    if why is not None:
        raise ValueError(why)
    if receipt["node"] != node or receipt["seq"] != seq or receipt["hash"] != hash_hex:
        raise ValueError(
            f"receipt names {receipt['node']} seq {receipt['seq']} {receipt['hash'][:12]}…, "
            f"not the packet sent ({node} seq {seq} {hash_hex[:12]}…)"
        )
    return Receipt(node, seq, hash_hex, receipt["received_at"], receipt["sig"])


def check_log(public_key: Ed25519PublicKey, doc: Any, leaf: bytes) -> dict[str, Any]:
    """The receipt's `log` part, if it proves `leaf` (the packet's wire line) is in HQ's log
    under a checkpoint signed by HQ's key; raises ValueError naming what is wrong."""
    if not isinstance(doc, dict) or not isinstance(doc.get("checkpoint"), str):
        raise ValueError("the receipt's log proof is missing or not an object with a checkpoint")
    try:
        note = tlog_note.parse_note(doc["checkpoint"])
        tlog_note.verify_by(note, tlog_note.log_verifier(public_key))
        cp = tlog_note.parse_checkpoint_text(note.text)
        index, size, proof = doc["index"], doc["size"], [bytes.fromhex(h) for h in doc["proof"]]
        if not isinstance(index, int) or size != cp.size:
            raise ValueError(f"proof of size {size!r} for a checkpoint of size {cp.size}")
        tlog.verify_inclusion(index, size, tlog.leaf_hash(leaf), proof, cp.root)
    except (tlog_note.NoteError, tlog.ProofError, KeyError, TypeError) as exc:
        raise ValueError(f"log proof: {exc}") from exc
    return {"index": index, "size": size, "proof": doc["proof"], "checkpoint": doc["checkpoint"]}


def _ensure_link(conn: sqlite3.Connection) -> None:
    conn.execute("INSERT OR IGNORE INTO sync_link (id, acked_seq) VALUES (1, 0)")


def store_receipt(conn: sqlite3.Connection, receipt: Receipt, url: str) -> None:
    """Keep `receipt` and advance acked_seq; clears last_error (HQ answered well)."""
    at = packets.now()
    with store.immediate(conn):
        _ensure_link(conn)
        conn.execute(
            "INSERT OR IGNORE INTO sync_receipts (seq, hash, node, received_at, sig, hq_url, stored_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (receipt.seq, receipt.hash, receipt.node, receipt.received_at, receipt.sig, url, at),
        )
        if receipt.log is not None:
            conn.execute(
                "INSERT OR IGNORE INTO sync_log_proofs (seq, idx, size, proof, checkpoint)"
                " VALUES (?, ?, ?, ?, ?)",
                (receipt.seq, receipt.log["index"], receipt.log["size"], json.dumps(receipt.log["proof"]),
                 receipt.log["checkpoint"]),
            )
        conn.execute(
            "UPDATE sync_link SET acked_seq = ?, acked_hash = ?, last_receipt_at = ?"
            " WHERE id = 1 AND acked_seq <= ?",
            (receipt.seq, receipt.hash, receipt.received_at, receipt.seq),
        )
        conn.execute(
            "UPDATE sync_link SET hq_url = ?, last_error = NULL, last_error_at = NULL, updated_at = ?"
            " WHERE id = 1",
            (url, at),
        )


def record_error(conn: sqlite3.Connection, reason: str, url: str | None = None) -> None:
    """Remember the latest failure for `status` (a named reason, no secrets)."""
    at = packets.now()
    with store.immediate(conn):
        _ensure_link(conn)
        conn.execute(
            "UPDATE sync_link SET last_error = ?, last_error_at = ?, hq_url = COALESCE(?, hq_url),"
            " updated_at = ? WHERE id = 1",
            (reason[:500], at, url, at),
        )


def clear_error(conn: sqlite3.Connection) -> None:
    with store.immediate(conn):
        conn.execute("UPDATE sync_link SET last_error = NULL, last_error_at = NULL WHERE id = 1")


def acked_seq(conn: sqlite3.Connection) -> int:
    """The seq up to which HQ confirmed the chain with a verified receipt (0 when none)."""
    row = conn.execute("SELECT acked_seq FROM sync_link WHERE id = 1").fetchone()
    return int(row[0]) if row else 0


def receipts(conn: sqlite3.Connection) -> list[Receipt]:
    rows = conn.execute(
        "SELECT node, seq, hash, received_at, sig FROM sync_receipts ORDER BY seq"
    ).fetchall()
    return [Receipt(*row) for row in rows]


_HELD = """
SELECT r.node, r.seq, r.hash, r.received_at, r.sig, p.hash
FROM sync_receipts r LEFT JOIN packets p ON p.seq = r.seq ORDER BY r.seq
"""


def audit(conn: sqlite3.Connection, public_key: Ed25519PublicKey | None,
          node: str) -> tuple[int, list[Finding]]:
    """(receipts held, what they show wrong), for `catd-node verify`.

    Each receipt must verify against `public_key` (hq.pub), name this node, and name the hash
    the ledger holds at its seq; one beyond the ledger's end means packets were removed from
    the end (acked_seq is an unsigned row a root can lower; a receipt needs HQ's key). The
    node stored each one only after checking it against hq.pub, so receipts held without a
    configured HQ key are a finding too, not a reason to skip the signatures.
    """
    rows = conn.execute(_HELD).fetchall()
    end = int(conn.execute("SELECT COALESCE(MAX(seq), 0) FROM packets").fetchone()[0])
    found: list[Finding] = []
    if rows and public_key is None:
        found.append(Finding(rows[0][1], None, f"{len(rows)} HQ receipt(s) held but catd.toml names "
                                               "no hq.pubkey to check their signatures against"))
    matched = 0  # the last receipt that still names the ledger's hash
    for node_named, seq, hash_hex, received_at, sig, ours in rows:
        receipt = {"node": node_named, "seq": seq, "hash": hash_hex, "received_at": received_at, "sig": sig}
        why = protocol.check_receipt(public_key, receipt) if public_key is not None else None
        if why is not None:
            found.append(Finding(seq, None, why))
        elif node_named != node:
            found.append(Finding(seq, None, f"receipt names node {node_named!r}, not {node!r}"))
        elif seq > end:
            found.append(Finding(seq, end + 1, f"HQ acknowledged packets up to seq {seq} "
                                 f"({str(hash_hex)[:12]}…), the ledger ends at seq {end}: packets "
                                 "were removed from its end"))
        elif ours != hash_hex:
            found.append(Finding(seq, seq, f"HQ acknowledged {str(hash_hex)[:12]}… at seq {seq}, the "
                                 f"ledger holds {str(ours)[:12]}…: a packet from seq {matched + 1} to "
                                 f"{seq} changed after HQ received it"))
        else:
            matched = seq
    if public_key is not None:
        # One finding per receipt: a log proof that fails where the receipt's own hash check
        # already failed says nothing new. Where the hash still matches (a packet re-signed
        # with another key keeps its hash, not its wire line), the log proof is what shows it.
        named = {f.receipt for f in found}
        found.extend(f for f in _audit_log(conn, public_key) if f.receipt not in named)
        found.sort(key=lambda f: f.receipt)
    return len(rows), found


def _audit_log(conn: sqlite3.Connection, public_key: Ed25519PublicKey) -> list[Finding]:
    """Re-check every kept log proof against the packet the ledger holds at its seq."""
    found = []
    rows = conn.execute(
        "SELECT l.seq, l.idx, l.size, l.proof, l.checkpoint, p.canonical, p.hash, p.sig"
        " FROM sync_log_proofs l LEFT JOIN packets p ON p.seq = l.seq ORDER BY l.seq").fetchall()
    for seq, idx, size, proof, checkpoint, canonical, hash_hex, sig in rows:
        if canonical is None:
            found.append(Finding(seq, seq, f"a log proof for seq {seq}, which the ledger no longer holds"))
            continue
        leaf = packets.to_wire(packets.Packet(seq=seq, canonical=bytes(canonical), hash=hash_hex,
                                              sig=bytes(sig), envelope={})).encode("utf-8")
        try:
            check_log(public_key, {"index": idx, "size": size, "proof": json.loads(proof),
                                   "checkpoint": checkpoint}, leaf)
        except ValueError as exc:
            found.append(Finding(seq, seq, f"HQ's log proof for seq {seq} no longer holds ({exc})"))
    return found


def mark_blob(conn: sqlite3.Connection, sha: str, size: int, url: str) -> None:
    """HQ answered 200/201 for blob `sha`: it holds those bytes (and the link works again)."""
    with store.immediate(conn):
        conn.execute(
            "INSERT OR IGNORE INTO sync_blobs (sha256, bytes, delivered_at, hq_url) VALUES (?, ?, ?, ?)",
            (sha, size, packets.now(), url),
        )
        conn.execute("UPDATE sync_link SET last_error = NULL, last_error_at = NULL WHERE id = 1")


def mark_blobs(conn: sqlite3.Connection, rows: list[tuple[str, int, str]]) -> None:
    """Several (sha, size, url) answered 200/201 at once, in one transaction."""
    at = packets.now()
    with store.immediate(conn):
        conn.executemany(
            "INSERT OR IGNORE INTO sync_blobs (sha256, bytes, delivered_at, hq_url) VALUES (?, ?, ?, ?)",
            [(sha, size, at, url) for sha, size, url in rows],
        )
        conn.execute("UPDATE sync_link SET last_error = NULL, last_error_at = NULL WHERE id = 1")


def forget_blobs(conn: sqlite3.Connection, shas: list[str]) -> int:
    """HQ says it lacks these images (lost after it acknowledged them: hq/blobcheck.py):
    drop them from the delivered cache so that the images lane sends them again; returns how
    many the cache held. The images themselves were never removed: the node keeps every one."""
    if not shas:
        return 0
    with store.immediate(conn):
        return sum(conn.execute("DELETE FROM sync_blobs WHERE sha256 = ?", (sha,)).rowcount for sha in shas)


def rewind(conn: sqlite3.Connection, hq_seq: int, hq_hash: str) -> None:
    """HQ's head went back (HQ restored from an older copy): what it holds is the truth now.

    The receipts stay (they prove what HQ once acknowledged); acked_seq follows HQ and the
    delivered-blob cache is dropped so every image is offered again.
    """
    with store.immediate(conn):
        _ensure_link(conn)
        conn.execute("UPDATE sync_link SET acked_seq = ?, acked_hash = ? WHERE id = 1", (hq_seq, hq_hash))
        conn.execute("DELETE FROM sync_blobs")


_PENDING_BLOBS = """
SELECT r.sha256, MIN(r.seq) AS first_seq,
       MAX(COALESCE(json_extract(CAST(p.canonical AS TEXT), '$.body.image.bytes'), 0)) AS size
FROM blob_refs r JOIN packets p ON p.seq = r.seq
WHERE r.seq <= ? AND r.sha256 NOT IN (SELECT sha256 FROM sync_blobs)
GROUP BY r.sha256 ORDER BY first_seq
"""


def pending_blobs(conn: sqlite3.Connection, up_to_seq: int, limit: int | None = None) -> list[str]:
    """Blobs referenced by packets ≤ `up_to_seq` that HQ has not confirmed, oldest first."""
    sql = _PENDING_BLOBS + (f" LIMIT {int(limit)}" if limit else "")
    return [row[0] for row in conn.execute(sql, (up_to_seq,))]


def hq_summary(conn: sqlite3.Connection) -> dict[str, Any]:
    """The `hq` part of `catd-node status`: acked seq, lag, last receipt, last error, URL."""
    link = conn.execute(
        "SELECT acked_seq, last_receipt_at, last_error, last_error_at, hq_url FROM sync_link WHERE id = 1"
    ).fetchone()
    acked, last_at, last_error, error_at, url = link if link else (0, None, None, None, None)
    head_seq = int(conn.execute("SELECT COALESCE(MAX(seq), 0) FROM packets").fetchone()[0])
    lag_packet_bytes = int(conn.execute(
        "SELECT COALESCE(SUM(LENGTH(canonical)), 0) FROM packets WHERE seq > ?", (acked,)
    ).fetchone()[0])
    blob_rows = conn.execute(_PENDING_BLOBS, (head_seq,)).fetchall()
    lag_blob_bytes = sum(int(row[2] or 0) for row in blob_rows)
    return {
        "acked_seq": int(acked),
        "last_receipt_at": last_at,
        "last_error": last_error,
        "last_error_at": error_at,
        "lag_packets": max(0, head_seq - int(acked)),
        "lag_blobs": len(blob_rows),
        "lag_bytes": lag_packet_bytes + lag_blob_bytes,
        "url": url,
    }
