"""Login throttling: growing per-account delays and a per-IP bucket — never a hard lockout.

A lockout would let anyone shut clerks out on election night by typing wrong passwords, so
after FREE failures in WINDOW_S an account only has to wait (1 s, doubling, up to 60 s)
between attempts; the right password works again once the wait is over.
"""

from __future__ import annotations

import hashlib
import sqlite3
from dataclasses import dataclass, field

WINDOW_S = 15 * 60
FREE = 5
FIRST_DELAY_S = 1.0
MAX_DELAY_S = 60.0
IP_CAPACITY = 20.0
IP_RATE = 10 / 60  # tokens per second: 10 failed attempts a minute per address


def account_key(name: str) -> str:
    """The throttling key of a typed user name (hashed: logs and rows never hold the name)."""
    return hashlib.sha256(name.strip().casefold().encode("utf-8")).hexdigest()


def delay_after(failures: int) -> float:
    """Seconds to wait after the last failure, given failures in the window."""
    if failures < FREE:
        return 0.0
    return min(MAX_DELAY_S, FIRST_DELAY_S * 2 ** (failures - FREE))


def wait_left(conn: sqlite3.Connection, account: str, now: float) -> float:
    """Seconds this account must still wait before a password is checked again."""
    rows = conn.execute(
        "SELECT COUNT(*), MAX(at) FROM web_login_failures WHERE account = ? AND at > ?",
        (account, now - WINDOW_S),
    ).fetchone()
    count, last = int(rows[0]), rows[1]
    if not count:
        return 0.0
    return max(0.0, last + delay_after(count) - now)


def record_failure(conn: sqlite3.Connection, account: str, now: float) -> int:
    """Record one failure; return the failures in the window."""
    conn.execute("DELETE FROM web_login_failures WHERE at <= ?", (now - WINDOW_S,))
    conn.execute("INSERT INTO web_login_failures (account, at) VALUES (?, ?)", (account, now))
    row = conn.execute(
        "SELECT COUNT(*) FROM web_login_failures WHERE account = ? AND at > ?", (account, now - WINDOW_S)
    ).fetchone()
    return int(row[0])


def clear(conn: sqlite3.Connection, account: str) -> None:
    conn.execute("DELETE FROM web_login_failures WHERE account = ?", (account,))


@dataclass
class IPBuckets:
    """Token buckets per client address; a failed or refused login takes a token."""

    capacity: float = IP_CAPACITY
    rate: float = IP_RATE
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)

    def _level(self, ip: str, now: float) -> float:
        tokens, at = self._buckets.get(ip, (self.capacity, now))
        return min(self.capacity, tokens + (now - at) * self.rate)

    def allows(self, ip: str, now: float) -> bool:
        return self._level(ip, now) >= 1.0

    def take(self, ip: str, now: float) -> None:
        self._buckets[ip] = (max(0.0, self._level(ip, now) - 1.0), now)
        if len(self._buckets) > 10_000:  # bounded memory against address spraying
            self._buckets.pop(next(iter(self._buckets)))
