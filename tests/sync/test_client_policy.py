"""Retry policy, failover order and batch sizing: pure logic, injected clock, no real waits."""

from __future__ import annotations

import random

import pytest

from catd_node.errors import BadInput
from sync import protocol
from sync.client import BatchSizer, policy_for
from sync.policy import GaveUp, Policy, Retryable, parse_retry_after
from sync.transport import Endpoints

from .replay_helpers import FakeClock, configure


def _failing(times: int, **kwargs):
    calls = {"n": 0}

    async def fn():
        calls["n"] += 1
        if calls["n"] <= times:
            raise Retryable(f"http_503: try {calls['n']}", **kwargs)
        return "ok"

    return fn, calls


async def test_full_jitter_waits_stay_inside_the_growing_capped_window():
    random.seed(4)
    clock = FakeClock()
    fn, calls = _failing(12)
    policy = Policy(base=1.0, cap=8.0, budget=None, sleep=clock.sleep, clock=clock)
    assert await policy.call("t", fn) == "ok"
    assert calls["n"] == 13 and len(clock.sleeps) == 12
    for n, wait in enumerate(clock.sleeps, start=1):
        assert 0 <= wait <= min(8.0, 2 ** n)
    assert max(clock.sleeps) > 2  # the window did grow
    assert len(set(clock.sleeps)) == 12  # jittered, not a fixed schedule


async def test_retry_after_from_hq_wins_over_jitter():
    clock = FakeClock()
    fn, _ = _failing(2, retry_after=7.0)
    await Policy(base=0.1, cap=1.0, budget=None, sleep=clock.sleep, clock=clock).call("t", fn)
    assert clock.sleeps == [7.0, 7.0]


async def test_budget_spent_gives_up_with_the_last_reason():
    clock = FakeClock()
    fn, calls = _failing(10_000)
    failures = []

    async def on_failure(exc):
        failures.append(exc.reason)

    with pytest.raises(GaveUp) as info:
        await Policy(base=1.0, cap=4.0, budget=20.0, sleep=clock.sleep, clock=clock).call("t", fn, on_failure)
    assert clock.now == pytest.approx(20.0)  # the last wait is cut to the budget's end
    assert info.value.attempts == calls["n"] == len(failures)
    assert info.value.last.reason == failures[-1]


async def test_a_refusal_is_not_retried():
    clock = FakeClock()

    async def fn():
        raise BadInput("x", "refused")

    with pytest.raises(BadInput):
        await Policy(sleep=clock.sleep, clock=clock).call("t", fn)
    assert clock.sleeps == []


def test_retry_after_header_forms():
    assert parse_retry_after("5") == 5.0
    assert parse_retry_after(" 0 ") == 0.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") is None
    assert parse_retry_after("-3") is None


def test_failover_in_order_then_back_to_the_first_after_a_while():
    clock = FakeClock()
    ends = Endpoints(("http://a/", "http://b", "http://c"), failback_s=300, clock=clock)
    assert ends.current == "http://a"
    ends.failed("http://a")
    assert ends.current == "http://b"
    ends.failed("http://a")  # a late report about a URL already left changes nothing
    assert ends.current == "http://b"
    ends.failed("http://b")
    assert ends.current == "http://c"
    clock.now = 299
    assert ends.current == "http://c"
    clock.now = 300
    assert ends.current == "http://a"


def test_batches_shrink_on_failure_and_grow_within_hq_limits():
    sizer = BatchSizer()
    assert (sizer.count, sizer.bytes) == (200, 256 * 1024)
    for _ in range(20):
        sizer.shrink()
    assert sizer.count == 1 and sizer.bytes == 16 * 1024
    for _ in range(20):
        sizer.grow()
    assert sizer.count == protocol.MAX_BATCH_LINES and sizer.bytes <= protocol.MAX_BATCH_BYTES


def test_sync_settings_from_catd_toml(node_dir):
    node = configure(node_dir, ["http://127.0.0.1:9"], {"retry_budget_s": 2.5, "blob_workers": 3})
    settings = node.config.sync  # read by catd_node.config with the rest of catd.toml
    assert settings.retry_budget_s == 2.5 and settings.blob_workers == 3
    assert policy_for(settings, once=True).budget == 2.5 and policy_for(settings, once=False).budget is None
    node = configure(node, ["http://127.0.0.1:9"], {"retry_cap_s": '"soon"'})
    with pytest.raises(BadInput, match=r"sync\.retry_cap_s"):
        node.config  # noqa: B018
