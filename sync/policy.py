"""The retry policy of the sync client: exponential backoff with full jitter, capped.

Full jitter (AWS "Exponential Backoff and Jitter") is tenacity's `wait_random_exponential`:
each wait is U(0, min(cap, base·2^n)), so CATDs coming back online at once do not stampede
HQ. A `Retry-After` from HQ (429/503) wins over the jitter. Sleep and clock are injected so
tests never wait (STYLE: tenacity habit).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type
from tenacity.wait import wait_base, wait_random_exponential

log = logging.getLogger("catd.sync")
T = TypeVar("T")
RETRY_AFTER_MAX = 600.0  # a hostile or buggy Retry-After must not park a CATD for a day


class Retryable(Exception):
    """A failure worth retrying: connection refused or dropped, timeout, 5xx, 408/429, a body
    that is not a well-formed answer (captive portal, truncated JSON), an untrusted receipt.

    `reason` is a short named code plus detail for `last_error`; `connect` marks failures to
    reach the URL at all (the client then fails over to the next `[hq].urls` entry);
    `untrusted` marks answers HQ gave that cannot be accepted (bad receipt signature), which
    end `sync --once` with exit 1 instead of 3.
    """

    def __init__(self, reason: str, *, retry_after: float | None = None, connect: bool = False,
                 untrusted: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after
        self.connect = connect
        self.untrusted = untrusted


class GaveUp(Exception):
    """The retry budget ran out; `last` is the final failure."""

    def __init__(self, last: Retryable, attempts: int) -> None:
        super().__init__(f"gave up after {attempts} attempts: {last.reason}")
        self.last = last
        self.attempts = attempts


async def _real_sleep(seconds: float) -> None:
    await asyncio.sleep(seconds)


@dataclass(frozen=True)
class Policy:
    """How hard to retry. `budget` None = forever (the service); a number = `sync --once`."""

    base: float = 1.0
    cap: float = 30.0
    budget: float | None = 25.0
    sleep: Callable[[float], Awaitable[None]] = field(default=_real_sleep, compare=False)
    clock: Callable[[], float] = field(default=time.monotonic, compare=False)

    def waits(self, budget: _Budget | None = None) -> wait_base:
        return _WaitRetryAfter(wait_random_exponential(multiplier=self.base, max=self.cap), budget)

    async def call(self, what: str, fn: Callable[[], Awaitable[T]],
                   on_failure: Callable[[Retryable], Awaitable[None]] | None = None) -> T:
        """Run `fn` until it succeeds; raise GaveUp when the budget is spent.

        `on_failure` runs after each failed attempt (record last_error, shrink the batch,
        fail over) before the wait.
        """
        budget = _Budget(self.budget, self.clock(), self.clock)

        async def before_sleep(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            if isinstance(exc, Retryable):
                log.warning("retry what=%s attempt=%d wait_s=%.2f reason=%s", what,
                            state.attempt_number, state.upcoming_sleep, exc.reason)

        async def after(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            if isinstance(exc, Retryable) and on_failure is not None:
                await on_failure(exc)

        retrying = AsyncRetrying(
            sleep=self.sleep,
            stop=budget.spent,
            wait=self.waits(budget),
            retry=retry_if_exception_type(Retryable),
            after=after,
            before_sleep=before_sleep,
            retry_error_callback=_give_up,
        )
        result: T = await retrying(fn)
        return result


def _give_up(state: RetryCallState) -> None:
    exc = state.outcome.exception() if state.outcome else None
    assert isinstance(exc, Retryable)
    raise GaveUp(exc, state.attempt_number)


@dataclass
class _Budget:
    """Time left for one call, on the injected clock (None = unlimited)."""

    seconds: float | None
    started: float
    clock: Callable[[], float]

    def remaining(self) -> float | None:
        if self.seconds is None:
            return None
        return max(0.0, self.seconds - (self.clock() - self.started))

    def spent(self, retry_state: RetryCallState) -> bool:
        left = self.remaining()
        return left is not None and left <= 0.0


class _WaitRetryAfter(wait_base):
    """HQ's Retry-After when it sent one, else full jitter; never past the budget's end."""

    def __init__(self, jitter: wait_base, budget: _Budget | None) -> None:
        self.jitter = jitter
        self.budget = budget

    def __call__(self, retry_state: RetryCallState) -> float:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        if isinstance(exc, Retryable) and exc.retry_after is not None:
            wait = min(max(exc.retry_after, 0.0), RETRY_AFTER_MAX)
        else:
            wait = float(self.jitter(retry_state))
        left = self.budget.remaining() if self.budget else None
        return wait if left is None else min(wait, left)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds form; HTTP dates are ignored)."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return seconds if seconds >= 0 else None
