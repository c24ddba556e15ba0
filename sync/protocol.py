"""The node→HQ wire protocol, shared by both ends: paths, limits, NDJSON framing, receipts, errors.

See docs/contracts.md, "HQ HTTP API". Kept small and stable: the node's replay client and HQ's
receiver import the same constants so they cannot drift apart.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from catd_node import canonical, keys, packets
from catd_node.packets import Packet

# Paths (relative to each base URL in [hq].urls).
API = "/v1"
PACKETS_PATH = "/v1/packets"
HEAD_PATH = "/v1/nodes/{node}/head"
BLOB_PATH = "/v1/blobs/{sha256}"
MISSING_PATH = "/v1/nodes/{node}/blobs/missing"  # signed GET: the node's images HQ lacks
RESULTS_PATH = "/v1/results"
CONFLICTS_PATH = "/v1/conflicts"   # for HQ staff: reports HQ did not count, and why

NDJSON = "application/x-ndjson"
UPLOAD_LENGTH = "Upload-Length"
UPLOAD_OFFSET = "Upload-Offset"
# Blob requests (HEAD/PUT /v1/blobs/…) are signed by the node key (docs/uploads.md):
NODE_HEADER = "Catd-Node"            # the registered node id
DATE_HEADER = "Catd-Date"            # the node's clock, whole Unix seconds
SIGNATURE_HEADER = "Catd-Signature"  # base64 Ed25519 signature of `blob_request_message`

# Limits.
MAX_BATCH_BYTES = 8 * 1024 * 1024
MAX_BATCH_LINES = 1000
MAX_BLOB_BYTES = 32 * 1024 * 1024

# Error codes in {"error": CODE, "detail": text, "line"?: n, "seq"?: n, ...}.
UNKNOWN_NODE = "unknown_node"        # 403
FORK = "fork"                        # 409, with seq, held_hash, sent_hash
BAD_FORM = "bad_form"                # 422 (also: empty batch, wrong content)
BAD_HASH = "bad_hash"                # 422
BAD_SIGNATURE = "bad_signature"      # 422
BAD_PREV = "bad_prev"                # 422
GAP = "gap"                          # 422
MIXED_NODES = "mixed_nodes"          # 422
NOT_CONTIGUOUS = "not_contiguous"    # 422
TOO_LARGE = "too_large"              # 413
OFFSET_MISMATCH = "offset_mismatch"  # 409, with offset (what HQ holds)
UNREFERENCED = "unreferenced"        # 409
HASH_MISMATCH = "hash_mismatch"      # 422
BAD_NAME = "bad_name"                # 422 (blob name not 64 lowercase hex)
BAD_REQUEST = "bad_request"          # 400 (e.g. missing or bad Upload-Length)
ENCODED_BODY = "encoded_body"        # 415 (a Content-Encoding body: never inflated, never read)
UNSIGNED = "unsigned"                # 401 (blob request without Catd-Node/Date/Signature)
BAD_REQUEST_SIGNATURE = "bad_request_signature"  # 403 (does not verify against the node key)
STALE_DATE = "stale_date"            # 403, with hq_time (Catd-Date outside the skew window)
UPLOAD_IN_PROGRESS = "upload_in_progress"  # 409, with offset and Retry-After: one writer at a time
UPLOAD_DEADLINE = "upload_deadline"  # 408, with offset (kept for resumption); connection closed

RECEIPT_DOMAIN = b"catd/receipt/v1\n"
RECEIPT_FIELDS = ("node", "seq", "hash", "received_at")
BLOB_REQUEST_DOMAIN = b"catd/blob-request/v1\n"
_HEX64 = re.compile(r"[0-9a-f]{64}")


def head_path(node: str) -> str:
    return HEAD_PATH.format(node=node)


def missing_path(node: str) -> str:
    return MISSING_PATH.format(node=node)


def blob_path(sha256: str) -> str:
    return BLOB_PATH.format(sha256=sha256)


def frame(batch: Iterable[Packet]) -> bytes:
    """NDJSON body of a POST /v1/packets: one wire line per packet, each ending in a newline."""
    return b"".join(packets.to_wire(p).encode("utf-8") + b"\n" for p in batch)


def unframe(body: bytes) -> list[bytes]:
    """The lines of an NDJSON body (a final newline is optional; blank lines are kept so that
    line numbers stay those of the body and a blank line is reported as bad form)."""
    lines = body.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return lines


def receipt_message(receipt: dict[str, Any]) -> bytes:
    """The 32 bytes HQ signs: SHA-256 of the domain tag and the canonical receipt fields."""
    fields = {name: receipt[name] for name in RECEIPT_FIELDS}
    return hashlib.sha256(RECEIPT_DOMAIN + canonical.encode(fields)).digest()


def sign_receipt(
    key: Ed25519PrivateKey, node: str, seq: int, hash: str, received_at: str
) -> dict[str, Any]:
    """A signed receipt {node, seq, hash, received_at, sig}."""
    receipt: dict[str, Any] = {"node": node, "seq": seq, "hash": hash, "received_at": received_at}
    receipt["sig"] = base64.b64encode(key.sign(receipt_message(receipt))).decode("ascii")
    return receipt


def check_receipt(public_key: Ed25519PublicKey, receipt: Any) -> str | None:
    """Why `receipt` is not a well-formed receipt signed by `public_key`, or None when it is."""
    if not isinstance(receipt, dict):
        return "receipt is not a JSON object"
    if set(receipt) != {*RECEIPT_FIELDS, "sig"}:
        return "receipt fields must be exactly node, seq, hash, received_at, sig"
    node, seq, hash_hex, at, sig = (receipt[k] for k in (*RECEIPT_FIELDS, "sig"))
    if not isinstance(node, str) or not node:
        return "receipt node must be a non-empty string"
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
        return "receipt seq must be an integer ≥ 1"
    if not isinstance(hash_hex, str) or not _HEX64.fullmatch(hash_hex):
        return "receipt hash must be 64 lowercase hex digits"
    if not isinstance(at, str) or not at:
        return "receipt received_at must be a string"
    if not isinstance(sig, str):
        return "receipt sig must be base64 text"
    try:
        raw = base64.b64decode(sig, validate=True)
    except binascii.Error:
        return "receipt sig is not base64"
    try:
        message = receipt_message(receipt)
    except canonical.CanonicalError as exc:
        return f"receipt not encodable: {exc.why}"
    if not keys.verify(public_key, raw, message):
        return "receipt signature does not verify against the HQ key"
    return None


def blob_request_message(method: str, sha256: str, node: str, date: str, offset: str,
                         length: str) -> bytes:
    """The 32 bytes a node signs for a blob request: SHA-256 of the domain tag and the canonical
    fields. `date`, `offset` and `length` are the header values as sent ("" when absent), so
    HQ verifies before it parses anything."""
    fields = {"method": method, "sha256": sha256, "node": node, "date": date,
              "offset": offset, "length": length}
    return hashlib.sha256(BLOB_REQUEST_DOMAIN + canonical.encode(fields)).digest()


def sign_blob_request(key: Ed25519PrivateKey, method: str, sha256: str, node: str, now: float,
                      offset: int | None = None, length: int | None = None) -> dict[str, str]:
    """The headers of a signed HEAD/PUT of blob `sha256` by `node` at Unix time `now`
    (Upload-Offset and Upload-Length included when given)."""
    headers = {NODE_HEADER: node, DATE_HEADER: str(int(now))}
    if offset is not None:
        headers[UPLOAD_OFFSET] = str(offset)
    if length is not None:
        headers[UPLOAD_LENGTH] = str(length)
    message = blob_request_message(method, sha256, node, headers[DATE_HEADER],
                                   headers.get(UPLOAD_OFFSET, ""), headers.get(UPLOAD_LENGTH, ""))
    headers[SIGNATURE_HEADER] = base64.b64encode(key.sign(message)).decode("ascii")
    return headers


def error_body(code: str, detail: str, **extra: Any) -> dict[str, Any]:
    """An error answer: {"error": code, "detail": text, ...extra}."""
    return {"error": code, "detail": detail, **extra}
