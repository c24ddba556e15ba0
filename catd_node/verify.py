"""`catd-node verify`: walk the stored bytes of every packet and every referenced blob."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from catd_node import packets
from catd_node.blobs import BlobStore
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

    def as_json(self) -> dict[str, object]:
        return {
            "ok": self.ok, "packets": self.packets,
            "head": {"seq": self.head_seq, "hash": self.head_hash}, "blobs": self.blobs,
            "bad_seq": self.bad_seq, "bad_blob": self.bad_blob, "reason": self.reason,
            "problems": list(self.problems),
        }


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
        if why is None and expected == 1 and envelope["kind"] != "node.genesis":
            why = f"the chain must start with node.genesis, not {envelope['kind']}"
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


def verify_store(conn: sqlite3.Connection, public_key: Ed25519PublicKey, node_id: str | None,
                 blobs: BlobStore | None, progress: Callable[[int], None] = lambda n: None,
                 acked_seq: int = 0) -> Report:
    """verify_chain over every stored row, then the append-only triggers; `acked_seq` (what
    HQ's receipts acknowledge) catches a ledger cut short at its end, which the chain alone
    cannot show."""
    report = verify_chain(stored_rows(conn), public_key, node_id, blobs, progress)
    if report.ok and acked_seq > report.head_seq:
        seq = report.head_seq + 1
        reason = (f"seq {seq}: missing: HQ acknowledged packets up to seq {acked_seq}, "
                  f"the ledger ends at seq {report.head_seq}")
        return Report(False, report.packets, report.head_seq, report.head_hash, report.blobs,
                      bad_seq=seq, reason=reason, problems=[reason])
    gone = missing_triggers(conn)
    if gone and report.ok:
        return Report(False, report.packets, report.head_seq, report.head_hash, report.blobs,
                      reason=f"append-only trigger(s) {', '.join(gone)} missing: the ledger "
                             "was opened for editing", problems=[f"trigger {g} missing" for g in gone])
    return report


def _is_sha(name: str) -> bool:
    return len(name) == 64 and all(c in "0123456789abcdef" for c in name)


def _bad(head_seq: int, head_hash: str, seq: int, why: str) -> Report:
    reason = f"seq {seq}: {why}"
    return Report(False, head_seq, head_seq, head_hash, 0, bad_seq=seq, reason=reason,
                  problems=[reason])
