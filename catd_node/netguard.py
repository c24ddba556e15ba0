"""Connection-level defences shared by the clerks' web app and the HQ receiver.

* Request bodies are never inflated: aiohttp's parser would decompress a `Content-Encoding`
  body on the event loop as the bytes arrive (a 4 MB deflate bomb is ~4 GB, seconds of CPU,
  every other clerk or node stalled), even when the handler answers 403 without reading it.
  No client of ours compresses bodies, so the parser is told not to (`auto_decompress=False`
  on the runner), and `refuse_encoded` answers 415 (RFC 7694: with `Accept-Encoding:
  identity`) before anything reads the body.
"""

from __future__ import annotations

import logging

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler

log = logging.getLogger("catd.netguard")
ENCODED_BODY = "request bodies must not be compressed: send it without Content-Encoding"


@web.middleware
async def refuse_encoded(request: web.Request, handler: Handler) -> web.StreamResponse:
    """415 for any request that declares a compressed body; the body is never read."""
    encoding = request.headers.get(hdrs.CONTENT_ENCODING, "").strip().lower()
    if encoding and encoding != "identity":
        refusal = web.HTTPUnsupportedMediaType(
            text=ENCODED_BODY,
            headers={hdrs.ACCEPT_ENCODING: "identity"})
        refusal.force_close()  # do not linger reading a body nobody wants
        raise refusal
    return await handler(request)
