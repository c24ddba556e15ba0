"""`catd-node verify`: walk the stored bytes of every packet and every referenced blob."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from catd_node import canonical, packets
from catd_node.blobs import BlobStore
from catd_node.errors import BadInput
from catd_node.packets import Packet


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
            "ok": self.ok, "packets": self.packets, "head": {"seq": self.head_seq,
            "hash": self.head_hash}, "blobs": self.blobs, "bad_seq": self.bad_seq,
            "bad_blob": self.bad_blob, "reason": self.reason,
        }


def stored_rows(conn: sqlite3.Connection) -> Iterator[Packet]:
    """Every stored packet as raw bytes, in seq order, even rows whose bytes do not parse."""
    for seq, data, hash_hex, sig in conn.execute(
        "SELECT seq, canonical, hash, sig FROM packets ORDER BY seq"
    ):
        data = bytes(data)
        try:
            envelope = canonical.decode(data)
        except BadInput:
            envelope = {}
        yield Packet(seq=seq, canonical=data, hash=hash_hex, sig=bytes(sig), envelope=envelope)


def verify_chain(
    rows: Iterator[Packet], public_key: Ed25519PublicKey, node_id: str | None,
    blobs: BlobStore | None, progress: Callable[[int], None] = lambda n: None,
) -> Report:
    """Check contiguous seq from 1, prev links, hashes and signatures, then referenced blobs.

    Stops at the first bad packet and names it (DESIGN invariant 3).
    """
    prev = packets.ZERO_HASH
    expected = 1
    count = 0
    refs: set[str] = set()
    for packet in rows:
        if packet.seq != expected:
            return _bad(count, expected - 1, prev, packet.seq if packet.seq > expected else expected,
                        f"seq {expected} expected, found seq {packet.seq} (gap or reorder)")
        why = packets.problem(packet, public_key, prev, node_id)
        if why:
            return _bad(count, expected - 1, prev, packet.seq, why)
        refs.update(packets.blob_refs(packet.envelope))
        prev = packet.hash
        expected += 1
        count += 1
        progress(1)
    if count == 0:
        return _bad(0, 0, prev, 1, "the ledger is empty (no node.genesis)")
    if blobs is not None:
        for sha in sorted(refs):
            why = blobs.problem(sha)
            if why:
                return Report(False, count, count, prev, len(refs), bad_blob=sha,
                              reason=f"blob {sha}: {why}")
    return Report(True, count, count, prev, len(refs))


def _bad(count: int, head_seq: int, head_hash: str, seq: int, why: str) -> Report:
    return Report(False, count, head_seq, head_hash, 0, bad_seq=seq, reason=f"seq {seq}: {why}")
