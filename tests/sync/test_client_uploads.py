"""The node's signed image uploads against a real HQ (issue 12): a node clock off by an hour,
and an earlier upload of its own still holding the partial at HQ."""

from __future__ import annotations

import time

from catd_node.datadir import DataDir
from hq.state import UploadLimits
from hq.store import HQDir
from sync import client
from tests.hq.rawput import files_of_size, open_put
from tests.hqkit import post_chain, serve_hq
from tests.polling import until

from .replay_helpers import (
    FakeClock,
    add_chain,
    assert_hq_holds_exactly,
    configure,
    fast_policy,
    fast_settings,
)


async def test_images_drain_with_the_node_clock_an_hour_slow(hq_node: DataDir, hq_dir: HQDir,
                                                             hq_server) -> None:
    """HQ refuses the first signed request as stale_date with its own time; the client signs
    with HQ's time from then on."""
    add_chain(hq_node, images=3)
    node = configure(hq_node, [hq_server.url])
    clock = FakeClock()
    async with client.replay_for(node, fast_policy(clock), fast_settings()) as replay:
        replay.hq.wall_clock = lambda: time.time() - 3600
        await replay.drain()
        assert 3590 < replay.hq.clock_offset < 3610
    assert_hq_holds_exactly(hq_dir, node)


async def test_an_upload_in_progress_is_waited_for_then_resumed(hq_node: DataDir, hq_dir: HQDir) -> None:
    """An earlier PUT of the node's (a stalled link) holds the partial: the client is told
    upload_in_progress with Retry-After, waits, and finishes once HQ's deadline cuts the
    stalled PUT — from the bytes HQ kept."""
    limits = UploadLimits(grace_s=0.5, min_rate=1e9, retry_after_s=1)
    sha = add_chain(hq_node, images=1, image_size=40_000)[0]
    data = hq_node.blobs().read(sha)
    async with serve_hq(hq_dir, limits) as url:
        await post_chain(url, hq_node)
        stalled = await open_put(url, hq_node, sha, 0, len(data), len(data))
        await stalled.send(data[:1000])
        await until(lambda: files_of_size(hq_dir, 1000), "the stalled PUT holding the partial")
        node = configure(hq_node, [url])
        clock = FakeClock()
        await client.once(node, fast_policy(clock, budget=10_000), fast_settings())
        assert (await stalled.answer)[2].get("offset") == 1000
        stalled.close()
    assert 1.0 in clock.sleeps  # HQ's Retry-After, not the jittered backoff
    assert_hq_holds_exactly(hq_dir, node)
