"""HQ blobs: referenced-only, hashed to the name, size-limited, resumable with Upload-Offset."""

from __future__ import annotations

import hashlib

import aiohttp

from hq.store import HQDir
from sync import protocol
from tests.hq.rawput import files_of_size
from tests.hqkit import VALUES_A, append_actas, blob_headers
from tests.polling import until


async def _send_chain(session, url, node):
    chain = node.ledger().packets()
    async with session.post(url + protocol.PACKETS_PATH, data=protocol.frame(chain)) as resp:
        assert resp.status == 200, await resp.text()
    return chain


def _put(session, url, node, sha, data, total, offset=None):
    headers = blob_headers(node, "PUT", sha, offset, total)
    return session.put(url + protocol.blob_path(sha), data=data, headers=headers)


def _head(session, url, node, sha):
    return session.head(url + protocol.blob_path(sha), headers=blob_headers(node, "HEAD", sha))


async def test_referenced_blob_stored_and_head_reports_size(hq_node, hq_dir: HQDir, hq_server):
    digitized = append_actas(hq_node, {"DIP-14-01-0123-B01": VALUES_A})[0]
    sha = digitized.body["image"]["sha256"]
    data = hq_node.blobs().read(sha)
    async with aiohttp.ClientSession() as session:
        await _send_chain(session, hq_server.url, hq_node)
        async with _head(session, hq_server.url, hq_node, sha) as resp:
            assert resp.status == 404
            assert resp.headers[protocol.UPLOAD_OFFSET] == "0"
        async with _put(session, hq_server.url, hq_node, sha, data, len(data)) as resp:
            assert resp.status == 201, await resp.text()
        async with _put(session, hq_server.url, hq_node, sha, data, len(data)) as resp:
            assert resp.status == 200
        async with _head(session, hq_server.url, hq_node, sha) as resp:
            assert resp.status == 200
            assert int(resp.headers["Content-Length"]) == len(data)
    assert hq_dir.blobs().read(sha) == data


async def _error(resp):
    body = await resp.json()
    return resp.status, body["error"], body


async def test_wrong_bytes_unreferenced_and_oversize_are_refused(hq_node, hq_dir: HQDir, hq_server):
    digitized = append_actas(hq_node, {"DIP-14-01-0123-B01": VALUES_A})[0]
    sha = digitized.body["image"]["sha256"]
    data = hq_node.blobs().read(sha)
    stranger = b"an image no packet mentions"
    stranger_sha = hashlib.sha256(stranger).hexdigest()
    async with aiohttp.ClientSession() as session:
        # Before the packet that references it has arrived, the image is refused.
        async with _put(session, hq_server.url, hq_node, sha, data, len(data)) as resp:
            assert (await _error(resp))[:2] == (409, protocol.UNREFERENCED)
        await _send_chain(session, hq_server.url, hq_node)
        async with _put(session, hq_server.url, hq_node, stranger_sha, stranger, len(stranger)) as resp:
            assert (await _error(resp))[:2] == (409, protocol.UNREFERENCED)
        wrong = b"X" * len(data)
        async with _put(session, hq_server.url, hq_node, sha, wrong, len(wrong)) as resp:
            assert (await _error(resp))[:2] == (422, protocol.HASH_MISMATCH)
        async with _head(session, hq_server.url, hq_node, sha) as resp:
            assert resp.status == 404 and resp.headers[protocol.UPLOAD_OFFSET] == "0"  # partial discarded
        async with _put(session, hq_server.url, hq_node, sha, b"", protocol.MAX_BLOB_BYTES + 1) as resp:
            assert (await _error(resp))[:2] == (413, protocol.TOO_LARGE)
        async with _put(session, hq_server.url, hq_node, sha, data + b"extra", len(data)) as resp:
            assert (await _error(resp))[:2] == (413, protocol.TOO_LARGE)
        async with session.head(hq_server.url + protocol.blob_path("NOT-A-SHA")) as resp:
            assert resp.status == 422
        async with _put(session, hq_server.url, hq_node, "ab" * 31, data, len(data)) as resp:
            assert (await _error(resp))[:2] == (422, protocol.BAD_NAME)
    assert not hq_dir.blobs().has(sha)


async def test_resumable_upload_continues_from_the_held_offset(hq_node, hq_dir: HQDir, hq_server):
    digitized = append_actas(hq_node, {"DIP-14-01-0123-B01": VALUES_A})[0]
    sha = digitized.body["image"]["sha256"]
    data = hq_node.blobs().read(sha)
    half = len(data) // 2
    async with aiohttp.ClientSession() as session:
        await _send_chain(session, hq_server.url, hq_node)
        async with _put(session, hq_server.url, hq_node, sha, data[:half], len(data)) as resp:
            assert resp.status == 202
            assert resp.headers[protocol.UPLOAD_OFFSET] == str(half)
        async with _head(session, hq_server.url, hq_node, sha) as resp:
            assert resp.status == 404 and resp.headers[protocol.UPLOAD_OFFSET] == str(half)
        # Restarting from 0 while HQ holds `half` bytes: 409 with the held offset.
        async with _put(session, hq_server.url, hq_node, sha, data, len(data), offset=0) as resp:
            status, code, body = await _error(resp)
            assert (status, code, body["offset"]) == (409, protocol.OFFSET_MISMATCH, half)
        async with _put(session, hq_server.url, hq_node, sha, data[half:], len(data), offset=half) as resp:
            assert resp.status == 201, await resp.text()
    assert hq_dir.blobs().read(sha) == data
    assert not [p for p in hq_dir.uploads_dir.rglob("*") if p.is_file()]


async def test_dropped_connection_keeps_the_partial(hq_node, hq_dir: HQDir, hq_server):
    import asyncio
    import time

    big = bytes(range(256)) * 4096  # 1 MiB, referenced by a hand-appended packet
    sha = hq_node.blobs().put(big)
    ledger = hq_node.ledger()
    ledger.append("acta.digitized", {
        "image": {"sha256": sha, "bytes": len(big), "format": "webp", "width": 1, "height": 1, "dpi": 200},
        "original": {"sha256": sha, "bytes": len(big), "name": "x.jpg"},
        "source": {"kind": "scanner", "id": "scanner-1"}, "acta": None, "identified_by": None})
    ledger.close()
    async with aiohttp.ClientSession() as session:
        await _send_chain(session, hq_server.url, hq_node)
    host, port = hq_server.url.removeprefix("http://").split(":")
    _reader, writer = await asyncio.open_connection(host, int(port))
    sent = 600_000
    signed = "".join(f"{k}: {v}\r\n" for k, v in blob_headers(hq_node, "PUT", sha, None, len(big)).items())
    writer.write(
        f"PUT {protocol.blob_path(sha)} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(big)}\r\n"
        f"{signed}\r\n".encode() + big[:sent])
    await writer.drain()
    deadline = time.monotonic() + 10
    await until(lambda: files_of_size(hq_dir, sent), "the bytes sent written by HQ")
    writer.transport.abort()  # the link drops mid-body
    async with aiohttp.ClientSession() as session:
        offset = -1
        while time.monotonic() < deadline:
            async with _head(session, hq_server.url, hq_node, sha) as resp:
                assert resp.status == 404
                offset = int(resp.headers[protocol.UPLOAD_OFFSET])
            if offset == sent:
                break
            await asyncio.sleep(0.02)
        assert offset == sent
        async with _put(session, hq_server.url, hq_node, sha, big[offset:], len(big), offset=offset) as resp:
            assert resp.status == 201, await resp.text()
    assert hq_dir.blobs().problem(sha) is None
