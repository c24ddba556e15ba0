"""Nobody can hold or spoil another node's upload (issue 12): blob requests are signed by the
node key, a partial belongs to the node that started it, and a blob is taken only from a node
whose own packets reference it."""

from __future__ import annotations

import random
import time
from pathlib import Path

import aiohttp

from catd_node import keys
from catd_node.datadir import DataDir
from hq.store import HQDir
from sync import protocol
from tests.hq.rawput import head_is_truthful, signed_head, signed_put
from tests.hqkit import append_image, make_node, post_chain

SIZE = 16 * 1024
HALF = SIZE // 2


async def _unsigned(method: str, url: str, sha: str, data: bytes = b"",
                    headers: dict[str, str] | None = None) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as session:
        async with session.request(method, url + protocol.blob_path(sha), data=data or None,
                                   headers=headers or {}) as resp:
            body = await resp.json() if resp.content_type == "application/json" else {}
            return resp.status, body


async def _half_uploaded(url: str, node: DataDir, seed: int) -> tuple[str, bytes]:
    data = random.Random(seed).randbytes(SIZE)
    sha = append_image(node, data)
    await post_chain(url, node)
    assert (await signed_put(url, node, sha, data[:HALF], SIZE))[0] == 202
    return sha, data


def _partial_bytes(hq: HQDir, sha: str) -> list[bytes]:
    return [p.read_bytes() for p in hq.uploads_dir.rglob(f"{sha}.partial")]


async def test_anonymous_put_and_head_are_refused_and_touch_nothing(hq_node: DataDir, hq_dir: HQDir,
                                                                    hq_server) -> None:
    url = hq_server.url
    sha, data = await _half_uploaded(url, hq_node, 31)
    garbage = b"G" * (SIZE - HALF)
    length = {protocol.UPLOAD_LENGTH: str(SIZE), protocol.UPLOAD_OFFSET: str(HALF)}
    # spoil: finish the node's upload with garbage (the old code then discarded the partial)
    spoil = await _unsigned("PUT", url, sha, garbage, length)
    # delete: claim a total smaller than what HQ holds (the old code unlinked the partial)
    shorter = {protocol.UPLOAD_LENGTH: "1", protocol.UPLOAD_OFFSET: str(HALF)}
    delete = await _unsigned("PUT", url, sha, b"x", shorter)
    peek = await _unsigned("HEAD", url, sha)
    assert _partial_bytes(hq_dir, sha) == [data[:HALF]], "an anonymous PUT changed the node's partial"
    assert await signed_head(url, hq_node, sha) == (404, str(HALF))
    for status, body in (spoil, delete):
        assert (status, body.get("error")) == (401, protocol.UNSIGNED), (status, body)
    assert peek[0] == 401
    assert (await signed_put(url, hq_node, sha, data[HALF:], SIZE, HALF))[0] == 201
    assert await head_is_truthful(url, hq_node, hq_dir, sha) == 200


async def test_a_garbage_partial_left_by_anyone_else_is_never_resumed(hq_node: DataDir, hq_dir: HQDir,
                                                                      hq_server, tmp_path: Path) -> None:
    """An anonymous device, or another node whose packets reference the same image, uploads
    garbage first: the node's HEAD reports its own (empty) partial, never theirs."""
    url = hq_server.url
    data = random.Random(32).randbytes(SIZE)
    sha = append_image(hq_node, data)
    other = make_node(tmp_path / "other", hq_dir, "CATD-14-02")
    assert append_image(other, data) == sha  # the same image referenced by both nodes
    await post_chain(url, hq_node)
    await post_chain(url, other)
    await _unsigned("PUT", url, sha, b"A" * HALF, {protocol.UPLOAD_LENGTH: str(SIZE)})
    other_status = (await signed_put(url, other, sha, b"B" * HALF, SIZE))[0]
    assert await signed_head(url, hq_node, sha) == (404, "0"), "the node was offered someone else's bytes"
    assert other_status == 202  # the other node's garbage stays its own partial
    assert (await signed_put(url, hq_node, sha, data, SIZE))[0] == 201
    assert await head_is_truthful(url, hq_node, hq_dir, sha) == 200
    assert hq_dir.blobs().read(sha) == data


async def test_a_foreign_node_can_neither_see_resume_nor_delete_a_partial(hq_node: DataDir, hq_dir: HQDir,
                                                                          hq_server, tmp_path: Path) -> None:
    """A registered node whose packets do not reference the blob: refused, nothing touched."""
    url = hq_server.url
    sha, data = await _half_uploaded(url, hq_node, 33)
    foreign = make_node(tmp_path / "foreign", hq_dir, "CATD-14-02")
    await post_chain(url, foreign)
    delete = await signed_put(url, foreign, sha, b"x", 1, HALF)
    spoil = await signed_put(url, foreign, sha, b"F" * (SIZE - HALF), SIZE, HALF)
    peek = await signed_head(url, foreign, sha)
    assert _partial_bytes(hq_dir, sha) == [data[:HALF]], "a foreign node changed the node's partial"
    for status, body, _ in (delete, spoil):
        assert (status, body.get("error")) == (409, protocol.UNREFERENCED), (status, body)
    assert peek == (409, None)
    assert (await signed_put(url, hq_node, sha, data[HALF:], SIZE, HALF))[0] == 201


async def test_forged_stale_and_unknown_signatures_are_refused(hq_node: DataDir, hq_dir: HQDir,
                                                               hq_server) -> None:
    url = hq_server.url
    sha, data = await _half_uploaded(url, hq_node, 34)
    node_id = hq_node.config.node_id
    now = time.time()
    impostor = keys.generate()
    forged = protocol.sign_blob_request(impostor, "PUT", sha, node_id, now, HALF, 1)
    unknown = protocol.sign_blob_request(impostor, "PUT", sha, "CATD-99-99", now, HALF, 1)
    stale = protocol.sign_blob_request(hq_node.private_key(), "PUT", sha, node_id, now - 3600, HALF, 1)
    replayed = protocol.sign_blob_request(hq_node.private_key(), "HEAD", sha, node_id, now)  # for HEAD
    replayed.update({protocol.UPLOAD_OFFSET: str(HALF), protocol.UPLOAD_LENGTH: "1"})  # …used on a PUT
    answers = {name: await _unsigned("PUT", url, sha, b"x", headers)
               for name, headers in (("forged", forged), ("unknown", unknown), ("stale", stale),
                                     ("replayed", replayed))}
    assert _partial_bytes(hq_dir, sha) == [data[:HALF]]
    assert {name: (status, body.get("error")) for name, (status, body) in answers.items()} == {
        "forged": (403, protocol.BAD_REQUEST_SIGNATURE), "unknown": (403, protocol.UNKNOWN_NODE),
        "stale": (403, protocol.STALE_DATE), "replayed": (403, protocol.BAD_REQUEST_SIGNATURE)}
    assert abs(answers["stale"][1]["hq_time"] - now) < 60
    assert (await signed_put(url, hq_node, sha, data[HALF:], SIZE, HALF))[0] == 201


def test_the_signed_message_matches_the_documented_vector() -> None:
    """docs/uploads.md gives this digest so another implementation can check itself."""
    message = protocol.blob_request_message("PUT", "ab" * 32, "CATD-14-01", "1764000000", "0", "40000")
    assert message.hex() == "7f08e8a10abcf9f91e4230d38d5a46eaa21e2015b89683873956007854e795f8"
    assert "7f08e8a10abcf9f91e4230d38d5a46eaa21e2015b89683873956007854e795f8" in (
        Path(__file__).resolve().parents[2] / "docs" / "uploads.md").read_text(encoding="utf-8")
