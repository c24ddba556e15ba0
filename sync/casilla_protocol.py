"""The casilla phone path, shared by the phone page, HQ, the node and the verifiers: the
device-signed statement, HQ's signed receipt, the node-signed pull, paths and error codes.

A CAE's phone photographs the acta at the casilla and signs a *statement*
{acta, sha256, bytes, taken_at, device, node} — canonical JSON (catd_node/canonical.py) —
with its enrolled Ed25519 key over `STATEMENT_TAG + b"\\n" + statement` (raw bytes, so
WebCrypto can sign them as they are). `node` is the CATD whose chain enrolled the device
(`device.added` with `pubkey`); HQ learns the key from that chain. docs/casilla.md.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from catd_node import canonical, keys

STATEMENT_TAG = b"catd/casilla-statement/v1"
RECEIPT_TAG = b"catd/casilla-receipt/v1"
PULL_TAG = b"catd/casilla-pull/v1"
ENROL_TAG = b"catd/casilla-enrol/v1"

PHOTO_PATH = "/v1/casilla/photos/{sha256}"
PULL_PATH = "/v1/casilla/pull"
PAGE_PATH = "/casilla/"

STATEMENT_HEADER = "Casilla-Statement"   # base64 of the canonical statement bytes
SIGNATURE_HEADER = "Casilla-Signature"   # base64 Ed25519 signature of statement_message
STATEMENT_FIELDS = ("acta", "bytes", "device", "node", "sha256", "taken_at")
RECEIPT_FIELDS = ("acta", "codigo_integridad", "device", "flag", "node", "received_at", "sha256")
MAX_PHOTO_BYTES = 4 * 1024 * 1024
CHUNK_BYTES = 256 * 1024  # what the phone sends per PUT: a reduced photo (≤ 150 KB) in one

# Refusals ({"error": CODE, "detail": ...}); a flag is not a refusal: the photo is kept.
UNKNOWN_DEVICE = "unknown_device"                    # 403
DEVICE_REVOKED = "device_revoked"                    # 403
BAD_STATEMENT = "bad_statement"                      # 400 (missing, not canonical, wrong fields)
BAD_STATEMENT_SIGNATURE = "bad_statement_signature"  # 403
HASH_MISMATCH = "hash_mismatch"                      # 422 (bytes ≠ statement's sha256 / URL)
OFFSET_MISMATCH = "offset_mismatch"                  # 409, with offset
FUERA_DE_CATD = "fuera_de_catd"  # flag: acta not collected by the device's CATD; never counted

_HEX64 = re.compile(r"[0-9a-f]{64}")
_DEVICE = re.compile(r"[a-z0-9-]{1,32}")


def statement_message(statement: bytes) -> bytes:
    """The bytes the phone signs: the tag, a newline, the canonical statement."""
    return STATEMENT_TAG + b"\n" + statement


def make_statement(acta: str, sha256: str, size: int, taken_at: str, device: str, node: str) -> bytes:
    return canonical.encode({"acta": acta, "sha256": sha256, "bytes": size, "taken_at": taken_at,
                             "device": device, "node": node})


def parse_statement(raw: bytes) -> dict[str, Any]:
    """The statement fields; ValueError naming what is wrong (not canonical, a field)."""
    try:
        value = canonical.decode(raw)
    except canonical.CanonicalError as exc:
        raise ValueError(f"statement is not canonical JSON: {exc.why}") from exc
    if not isinstance(value, dict) or tuple(sorted(value)) != STATEMENT_FIELDS:
        raise ValueError(f"statement fields must be exactly {', '.join(STATEMENT_FIELDS)}")
    if canonical.encode(value) != raw:
        raise ValueError("statement bytes are not in canonical form")
    for name in ("acta", "device", "node", "taken_at"):
        if not isinstance(value[name], str) or not value[name] or len(value[name]) > 128:
            raise ValueError(f"statement.{name} must be non-empty text")
    if not _HEX64.fullmatch(value["sha256"]):
        raise ValueError("statement.sha256 must be 64 lowercase hex digits")
    size = value["bytes"]
    if not isinstance(size, int) or isinstance(size, bool) or not 0 < size <= MAX_PHOTO_BYTES:
        raise ValueError(f"statement.bytes must be 1..{MAX_PHOTO_BYTES}")
    if not _DEVICE.fullmatch(value["device"]):
        raise ValueError("statement.device must be 1–32 lowercase letters, digits or '-'")
    return value


def device_key(pubkey_b64: str) -> Ed25519PublicKey:
    """A device's public key from `device.added` `pubkey` (base64 of the 32 raw bytes)."""
    raw = base64.b64decode(pubkey_b64, validate=True)
    return Ed25519PublicKey.from_public_bytes(raw)


def check_statement_signature(pubkey_b64: str, statement: bytes, sig_b64: str) -> bool:
    try:
        key = device_key(pubkey_b64)
        sig = base64.b64decode(sig_b64, validate=True)
    except (binascii.Error, ValueError):
        return False
    return len(sig) == 64 and keys.verify(key, sig, statement_message(statement))


def sign_statement(key: Ed25519PrivateKey, statement: bytes) -> str:
    return base64.b64encode(key.sign(statement_message(statement))).decode("ascii")


def receipt_message(receipt: dict[str, Any]) -> bytes:
    fields = {name: receipt[name] for name in RECEIPT_FIELDS}
    return RECEIPT_TAG + b"\n" + canonical.encode(fields)


def sign_receipt(key: Ed25519PrivateKey, fields: dict[str, Any]) -> dict[str, Any]:
    """HQ's receipt: the fields and `sig` (base64). codigo_integridad is the photo's SHA-256."""
    receipt = {name: fields[name] for name in RECEIPT_FIELDS}
    receipt["sig"] = base64.b64encode(key.sign(receipt_message(receipt))).decode("ascii")
    return receipt


def check_receipt(public_key: Ed25519PublicKey, receipt: dict[str, Any]) -> bool:
    try:
        sig = base64.b64decode(receipt["sig"], validate=True)
        return keys.verify(public_key, sig, receipt_message(receipt))
    except (KeyError, binascii.Error, canonical.CanonicalError):
        return False


def pull_message(node: str, date: str, after: str) -> bytes:
    """What a node signs to pull the casilla photos of its actas after cursor `after`."""
    return hashlib.sha256(PULL_TAG + b"\n" + canonical.encode(
        {"node": node, "date": date, "after": after})).digest()


class ChainDevices:
    """The casilla devices one node's chain has enrolled so far, read packet by packet (the
    verifiers): `check` says why an `acta.digitized` body's phone statement does not hold."""

    def __init__(self, node: str) -> None:
        self.node = node
        self.keys: dict[str, str | None] = {}  # device → pubkey; None once revoked
        self.ever: dict[str, list[str]] = {}   # device → every key the chain enrolled for it

    def add(self, kind: str, body: dict[str, Any]) -> None:
        if kind == "device.added" and isinstance(body.get("pubkey"), str):
            self.keys[str(body.get("device"))] = body["pubkey"]
            self.ever.setdefault(str(body.get("device")), []).append(body["pubkey"])
        elif kind == "device.revoked" and body.get("device") in self.keys:
            self.keys[str(body["device"])] = None

    def check(self, body: dict[str, Any]) -> str | None:
        """Why the phone statement in an `acta.digitized` body of this chain does not hold
        (None: it holds, or there is none). A statement naming another node — a capture
        centre's photo — is checked by `check_ccv` once every chain is read."""
        held = body.get("casilla")
        if held is None:
            return None
        try:
            statement = base64.b64decode(held["statement"], validate=True)
            st = parse_statement(statement)
        except (KeyError, TypeError, binascii.Error, ValueError) as exc:
            return f"casilla statement unreadable: {exc}"
        image = body.get("image") or {}
        if st["acta"] != body.get("acta") or st["sha256"] != image.get("sha256") \
                or st["bytes"] != image.get("bytes"):
            return "casilla statement does not name this node, acta and image"
        if st["node"] != self.node:
            return None
        if st["device"] not in self.keys:
            return f"casilla device {st['device']!r} was never enrolled in this chain"
        pubkey = self.keys[st["device"]]
        if pubkey is None:
            return f"casilla device {st['device']!r} was revoked before this photo was recorded"
        if not check_statement_signature(pubkey, statement, str(held.get("sig"))):
            return f"casilla statement signature does not verify against device {st['device']!r}"
        return None


def statement_node(body: dict[str, Any]) -> str | None:
    """The node an `acta.digitized` body's phone statement names (None: none, or unreadable)."""
    held = body.get("casilla")
    if not isinstance(held, dict):
        return None
    try:
        return str(parse_statement(base64.b64decode(held["statement"], validate=True))["node"])
    except (KeyError, TypeError, binascii.Error, ValueError):
        return None


def check_ccv(body: dict[str, Any], recorder: str, ccv: str | None, owner: str | None,
              enrolled: ChainDevices | None) -> str | None:
    """Why a photo `recorder` recorded with a statement naming another node — its CATD's
    phone — does not hold: `recorder` must be the capture centre (`ccv`) the catalog names for
    the acta's district, the statement's node the acta's CATD (`owner`; None: any), and the
    signature must verify against a key that node's chain (`enrolled`) gave the device. Chains
    have no common order, so a revocation in the CATD's chain is not weighed here (HQ refused
    the device's uploads from the moment it held the revocation)."""
    held = body["casilla"]
    statement = base64.b64decode(held["statement"], validate=True)
    st = parse_statement(statement)
    acta = st["acta"]
    if ccv != recorder:
        return f"casilla statement names {st['node']}, and the catalog does not name {recorder} " \
               f"capture centre of the district of {acta}"
    if owner not in (st["node"], None):
        return f"casilla statement names {st['node']}, not {owner}, the CATD of {acta}"
    keys = enrolled.ever.get(st["device"], []) if enrolled is not None else []
    if not keys:
        return f"casilla device {st['device']!r} was never enrolled in the chain of {st['node']}"
    if not any(check_statement_signature(key, statement, str(held.get("sig"))) for key in keys):
        return (f"casilla statement signature does not verify against a key {st['node']}'s chain enrolled "
                f"for {st['device']!r}")
    return None
