"""`catd-node verify`: walk the stored bytes of every packet and every referenced blob, and
hold the chain against the evidence kept beside it: the key its genesis names and HQ's
signed receipts (a chain can be re-signed or cut short and still link; see Finding)."""

from __future__ import annotations

import dataclasses
import hashlib
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from catd_node import keys, packets
from catd_node.blobs import BlobStore
from catd_node.errors import BadInput
from catd_node.packets import Packet

# The append-only triggers of catd_node/schema.py; their absence means someone with file
# access has been editing the ledger (DESIGN invariant 3).
TRIGGERS = ("packets_no_update", "packets_no_delete")


@dataclass(frozen=True)
class Report:
    ok: bool
    packets: int
    head_seq: int
    head_hash: str
    blobs: int
    bad_seq: int | None = None
    bad_blob: str | None = None
    reason: str | None = None
    problems: list[str] = field(default_factory=list)
    receipts: int = 0  # HQ receipts held against the chain
    bad_receipt: int | None = None  # the seq of the first receipt with a problem

    def as_json(self) -> dict[str, object]:
        return {
            "ok": self.ok, "packets": self.packets,
            "head": {"seq": self.head_seq, "hash": self.head_hash}, "blobs": self.blobs,
            "receipts": self.receipts, "bad_seq": self.bad_seq, "bad_blob": self.bad_blob,
            "bad_receipt": self.bad_receipt, "reason": self.reason, "problems": list(self.problems),
        }


@dataclass(frozen=True)
class Finding:
    """What a stored HQ receipt says is wrong: `receipt` is its seq, `packet` the seq of the
    packet it shows missing or changed (None when the receipt itself is bad)."""

    receipt: int
    packet: int | None
    why: str


def _raw(value: object) -> bytes:
    """Column bytes as stored; TEXT (e.g. after an SQL replace()) is taken as its UTF-8 bytes."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8", "surrogatepass")
    return b"" if value is None else str(value).encode("utf-8")


def stored_rows(conn: sqlite3.Connection, start: int = 1, end: int | None = None) -> Iterator[Packet]:
    """Stored packets `start`..`end` (inclusive; default all) as raw bytes, in seq order,
    not parsed (verify decodes them once)."""
    for seq, data, hash_hex, sig in conn.execute(
        "SELECT seq, canonical, hash, sig FROM packets WHERE seq BETWEEN ? AND ? ORDER BY seq",
        (start, end if end is not None else 2**63 - 1),
    ):
        yield Packet(seq=seq, canonical=_raw(data), hash=hash_hex if isinstance(hash_hex, str)
                     else _raw(hash_hex).hex(), sig=_raw(sig), envelope={})


def missing_triggers(conn: sqlite3.Connection) -> list[str]:
    """The append-only triggers that are not in the schema."""
    present = {row[0] for row in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'packets'")}
    return [name for name in TRIGGERS if name not in present]


def verify_chain(
    rows: Iterable[Packet], public_key: Ed25519PublicKey, node_id: str | None,
    blobs: BlobStore | None, progress: Callable[[int], None] = lambda n: None,
    after: tuple[int, str] = (0, packets.ZERO_HASH),
) -> Report:
    """Check contiguous seq from 1, genesis first, prev links, hashes and signatures on the
    stored bytes, then every referenced blob.

    Stops at the first bad packet and names it (DESIGN invariant 3). `after` = (seq, hash)
    of a packet already trusted checks only the rows that follow it.
    """
    prev = after[1]
    expected = after[0] + 1
    refs: dict[str, int] = {}
    examine = packets.examine
    for packet in rows:
        why: str | None
        if packet.seq != expected:
            if packet.seq > expected:
                why = f"missing (the next stored packet is seq {packet.seq})"
            else:
                why = f"stored twice or out of order (found seq {packet.seq})"
            return _bad(expected - 1, prev, expected, why)
        why, envelope = examine(packet, public_key, prev, node_id)
        if why is None and expected == 1:
            why = genesis_problem(envelope, public_key)
        if why is not None:
            return _bad(expected - 1, prev, expected, why)
        for sha in packets.blob_refs(envelope):
            refs.setdefault(sha, expected)
        prev = packet.hash
        expected += 1
        progress(1)
    count = expected - 1
    if count == 0:
        return _bad(0, prev, 1, "missing: the ledger is empty (no node.genesis)")
    if blobs is not None:
        bad = []
        for sha in sorted(refs, key=lambda s: (refs[s], s)):
            fault = blobs.problem(sha) if _is_sha(sha) else "not a SHA-256 name"
            if fault:
                bad.append((sha, f"blob {sha} (referenced by seq {refs[sha]}): {fault}"))
        if bad:
            return Report(False, count, count, prev, len(refs), bad_blob=bad[0][0],
                          reason=bad[0][1], problems=[text for _, text in bad])
    return Report(True, count, count, prev, len(refs))


def fingerprint(public_key: Ed25519PublicKey) -> str:
    """A short name for a key in messages: SHA-256 of its raw bytes, first 16 hex digits."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def genesis_problem(envelope: dict[str, Any], public_key: Ed25519PublicKey) -> str | None:
    """Why packet 1 is not this node's genesis: it must be node.genesis and name, in
    body.pubkey, the key that signed the chain. A root holding any key can re-sign every packet
    and replace node.pub; the genesis names the key HQ registered, so a re-signed chain must
    also rewrite it, and then every HQ receipt names other hashes (DESIGN invariant 3)."""
    if envelope["kind"] != "node.genesis":
        return f"the chain must start with node.genesis, not {envelope['kind']}"
    pem = envelope["body"].get("pubkey")
    if not isinstance(pem, str):
        return "node.genesis names no node key (body.pubkey)"
    try:
        named = keys.public_from_pem(pem.encode("utf-8"), "node.genesis pubkey")
    except BadInput as exc:
        return f"node.genesis pubkey unreadable: {exc.why}"
    if fingerprint(named) != fingerprint(public_key):
        return (f"node.genesis names a different node key ({fingerprint(named)}…) than node.pub "
                f"({fingerprint(public_key)}…): the chain was re-signed with another key")
    return None


def verify_store(conn: sqlite3.Connection, public_key: Ed25519PublicKey, node_id: str | None,
                 blobs: BlobStore | None, progress: Callable[[int], None] = lambda n: None,
                 acked_seq: int = 0, receipts: tuple[int, Sequence[Finding]] = (0, ())) -> Report:
    """verify_chain over every stored row, then the evidence beside it: `receipts` (how many
    HQ receipts were checked, and what they found wrong), `acked_seq` (the unsigned sync_link
    row) and the append-only triggers. A chain cut short at its end, or rewritten and
    re-signed in full, still links; only what HQ signed can show it."""
    report = verify_chain(stored_rows(conn), public_key, node_id, blobs, progress)
    checked, findings = receipts
    # (problem text, packet seq it names, receipt seq it names), after the chain's own.
    extra: list[tuple[str, int | None, int | None]] = [
        (f"receipt seq {f.receipt}: {f.why}", f.packet, f.receipt) for f in findings]
    if report.ok and acked_seq > report.head_seq:
        seq = report.head_seq + 1
        extra.append((f"seq {seq}: missing: HQ acknowledged packets up to seq {acked_seq}, "
                      f"the ledger ends at seq {report.head_seq}", seq, None))
    gone = missing_triggers(conn)
    if gone:
        extra.append((f"append-only trigger(s) {', '.join(gone)} missing: the ledger was opened "
                      "for editing", None, None))
    if not extra:
        return dataclasses.replace(report, receipts=checked)
    return dataclasses.replace(
        report, ok=False, receipts=checked,
        reason=report.reason if not report.ok else extra[0][0],
        bad_seq=report.bad_seq if report.bad_seq is not None
        else next((s for _, s, _ in extra if s is not None), None),
        bad_receipt=next((r for _, _, r in extra if r is not None), None),
        problems=[*report.problems, *(text for text, _, _ in extra)],
    )


def _is_sha(name: str) -> bool:
    return len(name) == 64 and all(c in "0123456789abcdef" for c in name)


def _bad(head_seq: int, head_hash: str, seq: int, why: str) -> Report:
    reason = f"seq {seq}: {why}"
    return Report(False, head_seq, head_seq, head_hash, 0, bad_seq=seq, reason=reason,
                  problems=[reason])
