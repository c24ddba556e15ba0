"""Receiving a packet batch: verify every line, then store the batch in one transaction.

Two stages so CPU work stays off the event loop and off the writer: `check_batch` (pure:
form, node key, hash, signature, links inside the batch) runs in a worker pool;
`store_batch` (the held chain: prev link to HQ's head, gap, replay, fork) runs on the
writer threads in one write transaction, serialised per node (`base.writing`: BEGIN
IMMEDIATE on SQLite, the node's row locked on PostgreSQL, where several receivers store at
once). The first bad line, in body order, is reported.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, NamedTuple

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from catd_node import keys, packets
from catd_node.errors import BadInput
from catd_node.packets import Packet
from hq import store as hq_store
from hq import tlog
from hq.store.base import Conn, writing
from sync import protocol

log = logging.getLogger("catd.hq.receive")


class Rejection(Exception):
    """A refused batch: HTTP status and the JSON error body (picklable: crosses the worker pool)."""

    def __init__(self, status: int, code: str, detail: str, **extra: Any) -> None:
        super().__init__(f"{code}: {detail}")
        self.status = status
        self.body = protocol.error_body(code, detail, **extra)

    def __reduce__(self) -> tuple[Any, ...]:
        return _rejection, (self.status, self.body)


def _rejection(status: int, body: dict[str, Any]) -> Rejection:
    extra = {k: v for k, v in body.items() if k not in ("error", "detail")}
    return Rejection(status, body["error"], body["detail"], **extra)


class Received(NamedTuple):
    """A verified packet as HQ stores it."""

    seq: int
    canonical: bytes
    hash: str
    sig: bytes
    prev: str
    kind: str
    at: str
    acta: str | None
    refs: tuple[str, ...]


@dataclass
class Checked:
    """The verified prefix of a batch, and the first problem after it (if any)."""

    node: str | None = None
    packets: list[Received] = field(default_factory=list)
    rejection: Rejection | None = None


@lru_cache(maxsize=1024)
def _public(node: str, pem: str) -> Ed25519PublicKey:
    return keys.public_from_pem(pem.encode("ascii"), node)


def check_batch(lines: list[bytes], node_pems: Mapping[str, str], first_line: int = 1) -> Checked:
    """Verify each line in order (form, node, contiguity, hash, signature, in-batch prev).

    `first_line` numbers the lines when these are a later part of a batch (`check_part`)."""
    checked = Checked()
    if not lines:
        checked.rejection = Rejection(422, protocol.BAD_FORM, "empty batch", line=1)
        return checked
    if len(lines) > protocol.MAX_BATCH_LINES:
        checked.rejection = Rejection(
            413, protocol.TOO_LARGE, f"{len(lines)} lines; at most {protocol.MAX_BATCH_LINES}"
        )
        return checked
    previous: Packet | None = None
    for number, line in enumerate(lines, start=first_line):
        packet = _line_problem(line, number, previous, checked, node_pems)
        if isinstance(packet, Rejection):
            checked.rejection = packet
            return checked
        assert checked.node is not None
        acta = packet.body.get("acta")
        checked.packets.append(Received(
            packet.seq, packet.canonical, packet.hash, packet.sig, packet.prev, packet.kind, packet.at,
            acta if isinstance(acta, str) else None, tuple(packets.blob_refs(packet.envelope)),
        ))
        previous = packet
    return checked


def split(lines: list[bytes], parts: int) -> list[tuple[list[bytes], int]]:
    """A batch cut into `parts` runs of consecutive lines, each with its first line number,
    so the runs can be verified at once on several workers (see `join`)."""
    size = -(-len(lines) // parts)
    return [(lines[i:i + size], i + 1) for i in range(0, len(lines), size)]


def join(parts: list[Checked]) -> Checked | None:
    """The batch's result from its runs checked apart, or None when it must be checked in one
    piece to name its first bad line as a check in order would.

    Every line was fully checked inside its run; a run's first line was checked against no
    previous line, so each seam is checked here: the same node, the next seq, prev = the hash
    of the line before. A clean first run with clean seams and runs is then exactly what one
    pass in order finds; the first run's own problem is too (it holds the batch's first lines).
    """
    first = parts[0]
    if first.rejection is not None:
        return first
    joined = Checked(node=first.node, packets=list(first.packets))
    for part in parts[1:]:
        if part.rejection is not None or not part.packets:
            return None
        last, head = joined.packets[-1], part.packets[0]
        if part.node != joined.node or head.seq != last.seq + 1 or head.prev != last.hash:
            return None
        joined.packets.extend(part.packets)
    return joined


def _line_problem(
    line: bytes, number: int, previous: Packet | None, checked: Checked, node_pems: Mapping[str, str],
) -> Packet | Rejection:
    try:
        packet = packets.from_wire(line, f"line {number}")
        packets.check_envelope(packet.envelope, f"line {number}")
    except BadInput as exc:
        return Rejection(422, protocol.BAD_FORM, exc.why, line=number)
    seq = packet.seq
    if packet.envelope["seq"] != seq:
        return Rejection(422, protocol.BAD_FORM,
                         f"envelope seq {packet.envelope['seq']} is not wire seq {seq}", line=number, seq=seq)
    if checked.node is None:
        if packet.node not in node_pems:
            return Rejection(403, protocol.UNKNOWN_NODE, f"node {packet.node!r} is not registered at HQ",
                             line=number, node=packet.node)
        checked.node = packet.node
    elif packet.node != checked.node:
        return Rejection(422, protocol.MIXED_NODES, f"node {packet.node!r} in a batch of {checked.node!r}",
                         line=number, seq=seq)
    if previous is not None and seq != previous.seq + 1:
        return Rejection(422, protocol.NOT_CONTIGUOUS, f"seq {seq} after seq {previous.seq}",
                         line=number, seq=seq)
    raw = packets.digest(packet.canonical)
    if raw.hex() != packet.hash:
        return Rejection(422, protocol.BAD_HASH, "hash does not match the canonical bytes",
                         line=number, seq=seq)
    if not keys.verify(_public(checked.node, node_pems[checked.node]), packet.sig, raw):
        return Rejection(422, protocol.BAD_SIGNATURE,
                         f"signature does not verify against the key of {checked.node}", line=number, seq=seq)
    expected_prev = previous.hash if previous is not None else (packets.ZERO_HASH if seq == 1 else None)
    if expected_prev is not None and packet.prev != expected_prev:
        return Rejection(422, protocol.BAD_PREV, f"prev does not link to seq {seq - 1}", line=number, seq=seq)
    return packet


def store_batch(
    conn: Conn, checked: Checked, hq_key: Ed25519PrivateKey
) -> tuple[dict[str, Any], set[str]]:
    """Store the verified packets in one transaction; the answer (the last line's receipt) and
    the blobs referenced by the packets stored now (not by replays).

    Every stored packet gets its received_at; only the receipt answered now is signed and kept
    (one signature per batch). Another packet's receipt is signed when first asked for, by
    `store.receipt`: Ed25519 signatures are deterministic, so it is the same receipt.

    Raises Rejection (nothing stored) on a held-chain problem or on `checked.rejection`;
    a fork's evidence (both signed packets) is kept in its own transaction and the node flagged.
    """
    if not checked.packets:
        assert checked.rejection is not None
        raise checked.rejection
    node = checked.node
    assert node is not None
    fork: tuple[Received, str] | None = None
    last_receipt: dict[str, Any] | None = None
    received_at = packets.now()
    rows: list[tuple[Received, str | None]] = []
    refs: set[str] = set()
    try:
        with writing(conn, node):
            head_seq, head_hash = hq_store.head(conn, node)
            held = _held_hashes(conn, node, checked.packets[0].seq, min(checked.packets[-1].seq, head_seq))
            replayed = 0
            for number, packet in enumerate(checked.packets, start=1):
                if packet.seq <= head_seq:
                    if held[packet.seq] != packet.hash:
                        fork = (packet, held[packet.seq])
                        raise Rejection(
                            409, protocol.FORK, f"seq {packet.seq} differs from the packet HQ holds",
                            line=number, seq=packet.seq, held_hash=held[packet.seq], sent_hash=packet.hash,
                        )
                    replayed = packet.seq
                    continue
                if packet.seq > head_seq + 1:
                    raise Rejection(422, protocol.GAP, f"seq {packet.seq} but HQ holds up to {head_seq}",
                                    line=number, seq=packet.seq, held_seq=head_seq)
                if packet.prev != head_hash:
                    raise Rejection(422, protocol.BAD_PREV, f"prev does not link to HQ's seq {head_seq}",
                                    line=number, seq=packet.seq)
                sig = None
                if number == len(checked.packets) and checked.rejection is None:
                    last_receipt = protocol.sign_receipt(hq_key, node, packet.seq, packet.hash, received_at)
                    sig = last_receipt["sig"]
                rows.append((packet, sig))
                refs.update(packet.refs)
                head_seq, head_hash = packet.seq, packet.hash
            if checked.rejection is not None:
                raise checked.rejection
            if last_receipt is None:  # every packet was already held: answer the last one's receipt
                last_receipt = hq_store.receipt(conn, node, replayed, hq_key)
            _insert(conn, node, rows, received_at)
    except Rejection:
        if fork is not None:
            _keep_fork(conn, node, *fork)
        raise
    assert last_receipt is not None
    log.info("received node=%s seq=%d..%d stored=%d", node, checked.packets[0].seq,
             checked.packets[-1].seq, len(rows))
    acked = {"seq": last_receipt["seq"], "hash": last_receipt["hash"]}
    answer: dict[str, Any] = {"acked": acked, "receipt": last_receipt}
    index = tlog.packet_index(conn, node, last_receipt["seq"])
    if index is not None:  # None only for packets stored before the log existed
        # after the commit: the tree up to the head read now is immutable, so the proof needs
        # no lock (a later batch only adds leaves)
        answer["log"] = tlog.receipt_log(conn, hq_key, index)
    return answer, refs


def _held_hashes(conn: Conn, node: str, first: int, last: int) -> dict[int, str]:
    """seq → hash of the packets HQ holds for `node` in first..last (one read, not one per line)."""
    if last < first:
        return {}
    return dict(conn.execute("SELECT seq, hash FROM packets WHERE node = ? AND seq BETWEEN ? AND ?",
                             (node, first, last)).fetchall())


def _insert(conn: Conn, node: str, rows: list[tuple[Received, str | None]], received_at: str) -> None:
    """The batch's new packets, their leaves in the transparency log (hq/tlog.py) and their blob
    references, in a few statements (the rows go to PostgreSQL in one pipelined trip rather
    than one round trip per packet)."""
    if not rows:
        return
    first = tlog.append(conn, [tlog.wire_entry(p.seq, p.canonical, p.hash, p.sig) for p, _ in rows])
    conn.executemany(
        "INSERT INTO packets (node, seq, hash, kind, at, acta, canonical, sig, received_at, receipt_sig,"
        " log_idx) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(node, p.seq, p.hash, p.kind, p.at, p.acta, p.canonical, p.sig, received_at, sig, first + i)
         for i, (p, sig) in enumerate(rows)],
    )
    refs = [(sha, node, p.seq) for p, _ in rows for sha in p.refs]
    if refs:
        conn.executemany("INSERT INTO blob_refs (sha256, node, seq) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                         refs)


def _keep_fork(conn: Conn, node: str, packet: Received, held_hash: str) -> None:
    """Keep the signed conflicting packet beside the held one (equivocation evidence)."""
    with writing(conn, node):
        conn.execute(
            "INSERT INTO forks"
            " (node, seq, held_hash, sent_hash, sent_canonical, sent_sig, detected_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (node, packet.seq, held_hash, packet.hash, packet.canonical, packet.sig, packets.now()),
        )
        conn.execute("UPDATE nodes SET forked = 1 WHERE node = ?", (node,))
    log.error("fork node=%s seq=%d held=%s sent=%s", node, packet.seq, held_hash[:16], packet.hash[:16])
