"""Acta images from the blob store by SHA-256, with long-lived caching (the name is the content)."""

from __future__ import annotations

import asyncio

from aiohttp import web

from catd_node.errors import BadInput
from catd_node.web.state import DATADIR, require

MAGIC = ((b"\xff\xd8\xff", "image/jpeg"), (b"\x89PNG\r\n\x1a\n", "image/png"),
         (b"II*\x00", "image/tiff"), (b"MM\x00*", "image/tiff"))


def content_type(head: bytes) -> str:
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return next((kind for magic, kind in MAGIC if head.startswith(magic)), "application/octet-stream")


@require("capturista", "verificador")
async def image(request: web.Request) -> web.StreamResponse:
    blobs = request.app[DATADIR].blobs()
    try:
        path = blobs.path(request.match_info["sha"])  # check_name: 64 hex digits, no path tricks
    except BadInput as exc:
        raise web.HTTPNotFound(text="imagen no encontrada") from exc
    if not path.is_file():
        raise web.HTTPNotFound(text="imagen no encontrada")
    etag = f'"{path.name}"'
    headers = {"Cache-Control": "private, max-age=31536000, immutable", "ETag": etag}
    if request.headers.get("If-None-Match") == etag:
        return web.Response(status=304, headers=headers)
    data = await asyncio.get_running_loop().run_in_executor(None, path.read_bytes)
    return web.Response(body=data, content_type=content_type(data[:16]), headers=headers)
