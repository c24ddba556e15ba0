"""HQ blobs: referenced-only, hashed to the name, size-limited, resumable with Upload-Offset."""

from __future__ import annotations

import hashlib

import aiohttp

from sync import protocol
from sync.hq.store import HQDir

from .conftest import VALUES_A, append_actas


async def _send_chain(session, url, node):
    chain = node.ledger().packets()
    async with session.post(url + protocol.PACKETS_PATH, data=protocol.frame(chain)) as resp:
        assert resp.status == 200, await resp.text()
    return chain


def _put(session, url, sha, data, total, offset=None):
    headers = {protocol.UPLOAD_LENGTH: str(total)}
    if offset is not None:
        headers[protocol.UPLOAD_OFFSET] = str(offset)
    return session.put(url + protocol.blob_path(sha), data=data, headers=headers)


async def test_referenced_blob_stored_and_head_reports_size(hq_node, hq_dir: HQDir, hq_server):
    digitized = append_actas(hq_node, {"DIP-14-01-0123-B01": VALUES_A})[0]
    sha = digitized.body["image"]["sha256"]
    data = hq_node.blobs().read(sha)
    async with aiohttp.ClientSession() as session:
        await _send_chain(session, hq_server.url, hq_node)
        async with session.head(hq_server.url + protocol.blob_path(sha)) as resp:
            assert resp.status == 404
            assert resp.headers[protocol.UPLOAD_OFFSET] == "0"
        async with _put(session, hq_server.url, sha, data, len(data)) as resp:
            assert resp.status == 201, await resp.text()
        async with _put(session, hq_server.url, sha, data, len(data)) as resp:
            assert resp.status == 200
        async with session.head(hq_server.url + protocol.blob_path(sha)) as resp:
            assert resp.status == 200
            assert int(resp.headers["Content-Length"]) == len(data)
    assert hq_dir.blobs().read(sha) == data
