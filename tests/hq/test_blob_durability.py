"""HQ blob durability: the hash of a resumed upload comes from the bytes on disk, and a blob row
(committed without fsync) that is lost is re-derived from the store, or re-uploaded idempotently."""

from __future__ import annotations

import aiohttp
from aiohttp.test_utils import TestServer

from catd_node.datadir import DataDir
from hq import store as hq_store
from hq.app import create_app
from hq.store import HQDir
from sync import protocol
from tests.hqkit import VALUES_A, append_actas, blob_headers


async def _referenced_image(node: DataDir, url: str) -> tuple[str, bytes]:
    """Send a small chain to HQ; return the sha and bytes of the image it references."""
    sha = append_actas(node, {"DIP-14-01-0123-B01": VALUES_A})[0].body["image"]["sha256"]
    async with aiohttp.ClientSession() as session:
        body = protocol.frame(node.ledger().packets())
        async with session.post(url + protocol.PACKETS_PATH, data=body) as resp:
            assert resp.status == 200, await resp.text()
    return sha, node.blobs().read(sha)


async def _put(url: str, node: DataDir, sha: str, data: bytes, total: int,
               offset: int = 0) -> tuple[int, dict]:
    headers = blob_headers(node, "PUT", sha, offset, total)
    async with aiohttp.ClientSession() as session:
        async with session.put(url + protocol.blob_path(sha), data=data, headers=headers) as resp:
            return resp.status, await resp.json()


async def _head(url: str, node: DataDir, sha: str) -> tuple[int, str | None, str | None]:
    async with aiohttp.ClientSession() as session:
        headers = blob_headers(node, "HEAD", sha)
        async with session.head(url + protocol.blob_path(sha), headers=headers) as resp:
            return resp.status, resp.headers.get("Content-Length"), resp.headers.get(protocol.UPLOAD_OFFSET)


def _drop_blob_row(hq: HQDir, sha: str) -> None:
    """What power loss can do to a blob row committed with synchronous=NORMAL."""
    conn = hq.connect()
    try:
        conn.execute("DELETE FROM blobs WHERE sha256 = ?", (sha,))
        assert hq_store.blob_size(conn, sha) is None
    finally:
        conn.close()


async def test_resumed_upload_hashes_the_held_bytes_from_the_file(hq_node, hq_dir: HQDir, hq_server):
    sha, data = await _referenced_image(hq_node, hq_server.url)
    half = len(data) // 2
    assert (await _put(hq_server.url, hq_node, sha, data[:half], len(data)))[0] == 202
    partial = hq_dir.uploads_dir / "CATD-14-01" / f"{sha}.partial"
    held = partial.read_bytes()
    assert held == data[:half]
    # The held bytes change on disk (a torn write, a bad sector): the resume must notice.
    partial.write_bytes(bytes([held[0] ^ 0xFF]) + held[1:])
    status, body = await _put(hq_server.url, hq_node, sha, data[half:], len(data), offset=half)
    assert (status, body["error"]) == (422, protocol.HASH_MISMATCH)
    assert await _head(hq_server.url, hq_node, sha) == (404, "0", "0")  # the bad partial is gone
    assert not hq_dir.blobs().has(sha)
    # a clean resume of a good partial still completes
    assert (await _put(hq_server.url, hq_node, sha, data[:half], len(data)))[0] == 202
    assert (await _put(hq_server.url, hq_node, sha, data[half:], len(data), offset=half))[0] == 201
    assert hq_dir.blobs().read(sha) == data


async def test_lost_blob_row_is_rederived_from_the_store_at_start(hq_node, hq_dir: HQDir):
    server = TestServer(create_app(hq_dir), host="127.0.0.1", port=0)
    await server.start_server()
    url = str(server.make_url("")).rstrip("/")
    try:
        sha, data = await _referenced_image(hq_node, url)
        assert (await _put(url, hq_node, sha, data, len(data)))[0] == 201
    finally:
        await server.close()
    _drop_blob_row(hq_dir, sha)
    server = TestServer(create_app(hq_dir), host="127.0.0.1", port=0)
    await server.start_server()
    url = str(server.make_url("")).rstrip("/")
    try:
        assert await _head(url, hq_node, sha) == (200, str(len(data)), None)
        assert (await _put(url, hq_node, sha, data, len(data)))[0] == 200  # already stored
    finally:
        await server.close()
    conn = hq_dir.connect()
    try:
        assert hq_store.status(conn)["nodes"]["CATD-14-01"]["blobs_missing"] == 0
    finally:
        conn.close()


async def test_lost_blob_row_is_uploaded_again_idempotently(hq_node, hq_dir: HQDir, hq_server):
    sha, data = await _referenced_image(hq_node, hq_server.url)
    assert (await _put(hq_server.url, hq_node, sha, data, len(data)))[0] == 201
    _drop_blob_row(hq_dir, sha)
    assert await _head(hq_server.url, hq_node, sha) == (404, "0", "0")  # missing: the node sends it again
    assert (await _put(hq_server.url, hq_node, sha, data, len(data)))[0] == 201
    assert await _head(hq_server.url, hq_node, sha) == (200, str(len(data)), None)
    assert hq_dir.blobs().problem(sha) is None
    assert not [p for p in hq_dir.uploads_dir.rglob("*") if p.is_file()]


async def test_a_damaged_store_file_is_not_rederived(hq_node, hq_dir: HQDir):
    server = TestServer(create_app(hq_dir), host="127.0.0.1", port=0)
    await server.start_server()
    url = str(server.make_url("")).rstrip("/")
    try:
        sha, data = await _referenced_image(hq_node, url)
    finally:
        await server.close()
    target = hq_dir.blobs().path(sha)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(b"not the image")  # no row, wrong bytes
    server = TestServer(create_app(hq_dir), host="127.0.0.1", port=0)
    await server.start_server()
    url = str(server.make_url("")).rstrip("/")
    try:
        assert (await _head(url, hq_node, sha))[0] == 404
        assert (await _put(url, hq_node, sha, data, len(data)))[0] == 201  # the upload replaces it
    finally:
        await server.close()
    assert hq_dir.blobs().read(sha) == data


async def test_a_replayed_batch_does_not_make_a_stored_blob_look_missing(hq_node, hq_dir: HQDir, hq_server):
    """HQ remembers blobs referenced by packets it just stored (no look-up before their upload);
    a replay of those packets must not make a stored blob look awaited again."""
    sha, data = await _referenced_image(hq_node, hq_server.url)
    assert (await _put(hq_server.url, hq_node, sha, data, len(data)))[0] == 201
    async with aiohttp.ClientSession() as session:  # the node resends the batch (lost answer)
        body = protocol.frame(hq_node.ledger().packets())
        async with session.post(hq_server.url + protocol.PACKETS_PATH, data=body) as resp:
            assert resp.status == 200
    assert await _put(hq_server.url, hq_node, sha, data, len(data)) == (200, {"sha256": sha, "stored": True})
