"""A PUT cannot hold an upload for ever (overall deadline), and abandoned partials expire
(issue 12). Small limits make each test take well under a second on the fixed code."""

from __future__ import annotations

import asyncio
import os
import random
import time
from pathlib import Path

import pytest

from catd_node.datadir import DataDir
from catd_node.errors import BadInput
from hq.state import UploadLimits
from hq.store import HQDir
from sync import protocol
from tests.hq.rawput import RawPut, head_is_truthful, open_put, signed_head, signed_put
from tests.hqkit import append_image, post_chain, serve_hq
from tests.polling import until

SIZE = 16 * 1024
TRICKLE_CAP_S = 5.0  # the old code took a byte every 50 ms for as long as the test went on


async def test_a_trickled_put_hits_its_deadline_and_keeps_what_arrived(hq_node: DataDir,
                                                                      hq_dir: HQDir) -> None:
    """One byte every 50 ms, well inside the idle timeout: the overall deadline (grace + size
    at the minimum rate) ends the PUT with 408, keeps the bytes for the node and frees the
    partial for the node's next PUT."""
    limits = UploadLimits(grace_s=0.3, min_rate=1e9, idle_s=30.0)
    data = random.Random(21).randbytes(SIZE)
    sha = append_image(hq_node, data)
    async with serve_hq(hq_dir, limits) as url:
        await post_chain(url, hq_node)
        trickle = await open_put(url, hq_node, sha, 0, SIZE, SIZE)
        began = time.monotonic()
        sent = 0
        while not trickle.answer.done() and time.monotonic() - began < TRICKLE_CAP_S:
            if not await trickle.send(data[sent:sent + 1]):
                break
            sent += 1
            await asyncio.sleep(0.05)  # the attacker's pace
        assert trickle.answer.done() or await _answered(trickle), (
            f"HQ still took a byte every 50 ms after {TRICKLE_CAP_S} s ({sent} bytes): no deadline")
        status, headers, body = trickle.answer.result()
        assert (status, body["error"]) == (408, protocol.UPLOAD_DEADLINE), body
        assert headers.get("Connection", "").lower() == "close"
        kept = body["offset"]
        assert 1 <= kept <= sent
        assert await signed_head(url, hq_node, sha) == (404, str(kept))
        status, _, _ = await signed_put(url, hq_node, sha, data[kept:], SIZE, kept)
        assert status == 201
        assert await head_is_truthful(url, hq_node, hq_dir, sha) == 200
        trickle.close()


async def _answered(put: RawPut) -> bool:
    """The answer arrives after the connection was cut (the last send failed)."""
    try:
        await asyncio.wait_for(asyncio.shield(put.answer), 2.0)
    except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
        return False
    return True


def _partial_file(hq: HQDir, sha: str) -> Path:
    found = list(hq.uploads_dir.rglob(f"{sha}.partial"))
    assert len(found) == 1, found
    return found[0]


def _age(path: Path, seconds: float) -> None:
    """Make a partial look abandoned `seconds` ago (its mtime is its last progress)."""
    then = time.time() - seconds
    os.utime(path, (then, then))


async def test_abandoned_partials_expire_periodically(hq_node: DataDir, hq_dir: HQDir) -> None:
    limits = UploadLimits(partial_max_age_s=3600.0, sweep_every_s=0.05)
    rng = random.Random(22)
    old, fresh = rng.randbytes(SIZE), rng.randbytes(SIZE)
    old_sha, fresh_sha = append_image(hq_node, old), append_image(hq_node, fresh)
    async with serve_hq(hq_dir, limits) as url:
        await post_chain(url, hq_node)
        assert (await signed_put(url, hq_node, old_sha, old[:1000], SIZE))[0] == 202
        assert (await signed_put(url, hq_node, fresh_sha, fresh[:1000], SIZE))[0] == 202
        _age(_partial_file(hq_dir, old_sha), 2 * 3600)
        await until(lambda: not list(hq_dir.uploads_dir.rglob(f"{old_sha}.partial")),
                    "the abandoned partial to expire", timeout=5)
        assert await signed_head(url, hq_node, old_sha) == (404, "0")
        assert await signed_head(url, hq_node, fresh_sha) == (404, "1000")  # recent: kept
        assert (await signed_put(url, hq_node, old_sha, old, SIZE))[0] == 201


async def test_abandoned_partials_expire_at_start_up(hq_node: DataDir, hq_dir: HQDir) -> None:
    limits = UploadLimits(partial_max_age_s=3600.0, sweep_every_s=3600.0)
    data = random.Random(23).randbytes(SIZE)
    sha = append_image(hq_node, data)
    async with serve_hq(hq_dir, limits) as url:
        await post_chain(url, hq_node)
        assert (await signed_put(url, hq_node, sha, data[:1000], SIZE))[0] == 202
    _age(_partial_file(hq_dir, sha), 2 * 3600)
    async with serve_hq(hq_dir, limits) as url:
        assert await signed_head(url, hq_node, sha) == (404, "0")
        assert not list(hq_dir.uploads_dir.rglob(f"{sha}.partial"))


def test_upload_limits_come_from_the_environment() -> None:
    limits = UploadLimits.from_env({"CATD_HQ_UPLOAD_MIN_RATE": "4096", "CATD_HQ_UPLOAD_RETRY_AFTER_S": "2",
                                    "PATH": "/bin"})
    assert (limits.min_rate, limits.retry_after_s, limits.grace_s) == (4096.0, 2, UploadLimits().grace_s)
    assert limits.deadline_s(40_960) == limits.grace_s + 10
    for bad in ("0", "-1", "fast", "inf", "nan"):
        with pytest.raises(BadInput, match="CATD_HQ_UPLOAD_GRACE_S"):
            UploadLimits.from_env({"CATD_HQ_UPLOAD_GRACE_S": bad})
