"""Who is asking: a blob request (HEAD/PUT /v1/blobs/…) must be signed by a registered node's
key over the canonical request (`protocol.blob_request_message`, docs/uploads.md), so that a
partial upload can be bound to the node that started it and nobody else can hold, spoil,
read or delete it. Checked before anything is touched: one Ed25519 verify (~50 µs)."""

from __future__ import annotations

import base64
import binascii
import json
import time

from aiohttp import web

from catd_node import keys
from hq.state import HQState, error
from sync import protocol

SCHEME = "Catd-Ed25519"  # named in WWW-Authenticate


def _unsigned(detail: str) -> web.HTTPException:
    body = json.dumps(protocol.error_body(protocol.UNSIGNED, detail))
    return web.HTTPUnauthorized(text=body, content_type="application/json",
                                headers={"WWW-Authenticate": SCHEME})


async def signed_by(request: web.Request, state: HQState, sha: str) -> str:
    """The registered node that signed this blob request; else a 401/403 naming why."""
    headers = request.headers
    node = headers.get(protocol.NODE_HEADER)
    date = headers.get(protocol.DATE_HEADER)
    signature = headers.get(protocol.SIGNATURE_HEADER)
    if not node or not date or not signature:
        missing = [h for h, v in ((protocol.NODE_HEADER, node), (protocol.DATE_HEADER, date),
                                  (protocol.SIGNATURE_HEADER, signature)) if not v]
        raise _unsigned(f"blob requests must be signed by the node key; missing {', '.join(missing)}")
    key = await state.node_key(node)
    if key is None:
        raise error(403, protocol.UNKNOWN_NODE, f"node {node[:80]!r} is not registered at HQ", node=node[:80])
    if not date.isdecimal() or len(date) > 12:
        raise error(400, protocol.BAD_REQUEST, f"header {protocol.DATE_HEADER} must be whole Unix seconds")
    try:
        raw = base64.b64decode(signature, validate=True)
    except binascii.Error:
        raw = b""
    message = protocol.blob_request_message(
        request.method, sha, node, date, headers.get(protocol.UPLOAD_OFFSET, ""),
        headers.get(protocol.UPLOAD_LENGTH, ""))
    if len(raw) != 64 or not keys.verify(key, raw, message):
        raise error(403, protocol.BAD_REQUEST_SIGNATURE,
                    f"{protocol.SIGNATURE_HEADER} does not verify against the key of {node}")
    now = time.time()
    if abs(now - int(date)) > state.limits.skew_s:
        raise error(403, protocol.STALE_DATE,
                    f"{protocol.DATE_HEADER} {date} is more than {state.limits.skew_s:.0f} s from HQ's "
                    f"clock", hq_time=int(now))
    return node
