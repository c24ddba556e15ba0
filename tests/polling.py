"""Waiting for a condition in tests: poll it against a deadline, never sleep for a guess."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any


def wait_for(condition: Callable[[], Any], timeout: float = 20.0, what: str = "condition", *,
             every: float = 0.05, tolerate: tuple[type[Exception], ...] = ()) -> Any:
    """Poll `condition` until it returns something truthy and return that; fail naming `what`
    after `timeout` seconds. Exceptions in `tolerate` (a service still starting) count as
    "not yet" and the last one is reported at the deadline."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while True:
        try:
            value = condition()
        except tolerate as exc:
            last, value = exc, None
        if value:
            return value
        if time.monotonic() > deadline:
            detail = f" (last error: {last!r})" if last is not None else ""
            raise AssertionError(f"timed out after {timeout} s waiting for {what}{detail}")
        time.sleep(every)  # the polling interval, not a wait for the condition


async def until(condition: Callable[[], Any], what: str, timeout: float = 10.0, every: float = 0.01) -> Any:
    """`wait_for` for async tests: poll without blocking the event loop (an in-process server
    runs on it)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out after {timeout} s waiting for {what}"
        await asyncio.sleep(every)  # the polling interval, not a wait for the condition
