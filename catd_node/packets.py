"""Packets: the signed, hash-linked records of the ledger, and their wire form.

Shared by the node (append, verify, export) and HQ (receive), so both ends check the same
rules on the same stored bytes (DESIGN invariant 3).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from catd_node import bodies, canonical, keys
from catd_node.errors import BadInput

VERSION = 1
DOMAIN = b"catd/packet/v1\n"
ZERO_HASH = "0" * 64
ENVELOPE_KEYS = frozenset({"v", "node", "seq", "prev", "kind", "at", "body"})
KINDS = bodies.KINDS  # every kind and its body: catd_node/bodies.py, docs/packets.md
_HEX64 = re.compile(r"[0-9a-f]{64}")
_KIND = re.compile(r"[a-z]+(\.[a-z_]+)+")
_AT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


class PacketError(BadInput):
    """A packet that breaks a rule; `what` names the seq or wire line."""


def now() -> str:
    """The current UTC time as RFC 3339 with milliseconds, e.g. 2027-06-06T20:15:03.120Z."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def digest(canonical_bytes: bytes) -> bytes:
    """SHA-256 over the domain tag and the canonical envelope."""
    return hashlib.sha256(DOMAIN + canonical_bytes).digest()


@dataclass(frozen=True)
class Packet:
    """One stored packet: its canonical bytes are the truth; the rest is derived from them."""

    seq: int
    canonical: bytes
    hash: str
    sig: bytes
    envelope: dict[str, Any] = field(compare=False, repr=False)

    @property
    def kind(self) -> str:
        return str(self.envelope["kind"])

    @property
    def prev(self) -> str:
        return str(self.envelope["prev"])

    @property
    def node(self) -> str:
        return str(self.envelope["node"])

    @property
    def at(self) -> str:
        return str(self.envelope["at"])

    @property
    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = self.envelope["body"]
        return body


def seal(
    key: Ed25519PrivateKey, *, node: str, seq: int, prev: str, kind: str, body: dict[str, Any],
    at: str | None = None,
) -> Packet:
    """Build, encode, hash and sign the packet `seq` that follows `prev`."""
    envelope = {
        "v": VERSION, "node": node, "seq": seq, "prev": prev, "kind": kind,
        "at": at or now(), "body": body,
    }
    check_envelope(envelope, f"seq {seq}")
    data = canonical.encode(envelope)
    raw = digest(data)
    return Packet(seq=seq, canonical=data, hash=raw.hex(), sig=key.sign(raw), envelope=envelope)


def check_envelope(envelope: Any, what: str) -> None:
    """Raise PacketError unless `envelope` has exactly the promised fields and forms."""
    if not isinstance(envelope, dict):
        raise PacketError(what, "envelope is not a JSON object")
    if set(envelope) != ENVELOPE_KEYS:
        missing = sorted(ENVELOPE_KEYS - set(envelope))
        extra = sorted(set(envelope) - ENVELOPE_KEYS)
        raise PacketError(what, f"envelope fields wrong (missing {missing}, unexpected {extra})")
    if envelope["v"] != VERSION:
        raise PacketError(what, f"unsupported version {envelope['v']!r}")
    if not isinstance(envelope["node"], str) or not envelope["node"]:
        raise PacketError(what, "node must be a non-empty string")
    seq = envelope["seq"]
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
        raise PacketError(what, f"seq must be an integer ≥ 1, got {seq!r}")
    if not isinstance(envelope["prev"], str) or not _HEX64.fullmatch(envelope["prev"]):
        raise PacketError(what, "prev must be 64 lowercase hex digits")
    if not isinstance(envelope["kind"], str) or not _KIND.fullmatch(envelope["kind"]):
        raise PacketError(what, f"kind {envelope['kind']!r} is not of the form area.event")
    if not isinstance(envelope["at"], str) or not _AT.fullmatch(envelope["at"]):
        raise PacketError(what, f"at {envelope['at']!r} is not RFC 3339 UTC with milliseconds")
    if not isinstance(envelope["body"], dict):
        raise PacketError(what, "body must be a JSON object")


def from_stored(seq: int, data: bytes, hash_hex: str, sig: bytes) -> Packet:
    """A packet as read back from a store, parsed but not yet verified."""
    try:
        envelope = canonical.decode(data)
    except BadInput as exc:
        raise PacketError(f"seq {seq}", f"canonical bytes unreadable: {exc.why}") from exc
    return Packet(seq=seq, canonical=data, hash=hash_hex, sig=sig, envelope=envelope)


def problem(packet: Packet, public_key: Ed25519PublicKey, prev: str, node: str | None = None) -> str | None:
    """Why `packet` does not follow `prev` under `public_key`, or None when it is sound.

    Checks, on the stored bytes: canonical form, envelope, seq, prev link, hash, signature.
    """
    return examine(packet, public_key, prev, node)[0]


def examine(
    packet: Packet, public_key: Ed25519PublicKey, prev: str, node: str | None = None
) -> tuple[str | None, dict[str, Any]]:
    """(why `packet` is unsound or None, the envelope decoded from its stored bytes).

    The stored bytes are decoded exactly once here; callers reuse the envelope (e.g. for
    blob_refs) instead of decoding again. The hash and signature are checked before the
    bytes are parsed, so a forged body is named as such rather than as a parse error
    (sign bytes, verify bytes, then parse).
    """
    raw = digest(packet.canonical)
    if raw.hex() != packet.hash:
        return "hash does not match the canonical bytes", {}
    if not keys.verify(public_key, packet.sig, raw):
        return "signature does not verify against the node key", {}
    try:
        envelope = canonical.decode(packet.canonical)
        check_envelope(envelope, f"seq {packet.seq}")
    except BadInput as exc:
        return exc.why, {}
    if envelope["seq"] != packet.seq:
        return f"envelope seq {envelope['seq']} differs from stored seq {packet.seq}", envelope
    if node is not None and envelope["node"] != node:
        return f"node {envelope['node']!r} is not {node!r}", envelope
    if envelope["prev"] != prev:
        return f"prev {envelope['prev'][:12]}… does not link to {prev[:12]}…", envelope
    return None, envelope


def to_wire(packet: Packet) -> str:
    """The NDJSON wire/export line (no trailing newline)."""
    return json.dumps(
        {
            "seq": packet.seq,
            "canonical": packet.canonical.decode("utf-8"),
            "hash": packet.hash,
            "sig": base64.b64encode(packet.sig).decode("ascii"),
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )


def from_wire(line: str | bytes, what: str = "line") -> Packet:
    """Parse one wire line into a Packet; raise PacketError naming `what` on bad form."""
    try:
        obj = json.loads(line)
    except (ValueError, RecursionError) as exc:
        # ValueError: bad JSON or UTF-8, or an integer past Python's 4,300-digit limit for
        # int(); RecursionError: arrays nested deeper than the parser's stack
        raise PacketError(what, f"not JSON ({str(exc)[:120]})") from exc
    if not isinstance(obj, dict) or set(obj) != {"seq", "canonical", "hash", "sig"}:
        raise PacketError(what, "expected exactly the fields seq, canonical, hash, sig")
    seq, text, hash_hex, sig_b64 = obj["seq"], obj["canonical"], obj["hash"], obj["sig"]
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
        raise PacketError(what, f"seq must be an integer ≥ 1, got {seq!r}")
    if not isinstance(text, str) or not isinstance(hash_hex, str) or not isinstance(sig_b64, str):
        raise PacketError(what, "canonical, hash and sig must be strings")
    if not _HEX64.fullmatch(hash_hex):
        raise PacketError(what, "hash must be 64 lowercase hex digits")
    try:
        sig = base64.b64decode(sig_b64, validate=True)
    except binascii.Error as exc:
        raise PacketError(what, "sig is not base64") from exc
    if len(sig) != 64:
        raise PacketError(what, f"sig must be 64 bytes, got {len(sig)}")
    return from_stored(seq, text.encode("utf-8"), hash_hex, sig)


def blob_refs(envelope: dict[str, Any]) -> list[str]:
    """SHA-256 names of the blobs a packet references (images that must reach HQ)."""
    body = envelope.get("body")
    if envelope.get("kind") == "acta.digitized" and isinstance(body, dict):
        image = body.get("image")
        if isinstance(image, dict) and isinstance(image.get("sha256"), str):
            return [image["sha256"]]
    return []
