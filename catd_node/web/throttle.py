"""Login throttling: growing delays and a per-address bucket — never a hard lockout.

A lockout would let anyone shut clerks out on election night by typing wrong passwords, so
failures only make the next attempt wait. Two schedules (DESIGN: a clerk is never locked out):

- per (user name, client): after PER_CLIENT.free failures in WINDOW_S, 1 s doubling up to
  60 s. The client is the device's known-device cookie when it signed in as this user before,
  else its address (behind a trusted proxy, the forwarded one). One guessing device slows
  only itself: the real clerk, at another device, is not kept out.
- per user name, all clients together: a slower ceiling (PER_ACCOUNT: from the 20th failure,
  1 s doubling up to 10 s) against guessing from many addresses. A device that signed in as
  this user before (KNOWN_COOKIE) is not held by it, so the clerk's usual PC always gets in.
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
from dataclasses import dataclass, field

WINDOW_S = 15 * 60
IP_CAPACITY = 20.0
IP_RATE = 10 / 60  # tokens per second: 10 failed attempts a minute per address
KNOWN_COOKIE = "catd_equipo"
KNOWN_DAYS = 30


@dataclass(frozen=True)
class Schedule:
    """Failures allowed in the window, then a delay from `first_s` doubling up to `cap_s`."""

    free: int
    cap_s: float
    first_s: float = 1.0

    def delay_after(self, failures: int) -> float:
        """Seconds to wait after the last failure, given failures in the window."""
        if failures < self.free:
            return 0.0
        return min(self.cap_s, self.first_s * 2 ** (failures - self.free))


PER_CLIENT = Schedule(free=5, cap_s=60.0)
PER_ACCOUNT = Schedule(free=20, cap_s=10.0)
FREE, MAX_DELAY_S = PER_CLIENT.free, PER_CLIENT.cap_s  # the per-client schedule, by its old names


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def account_key(name: str) -> str:
    """The throttling key of a typed user name (hashed: logs and rows never hold the name)."""
    return _hash(name.strip().casefold())


def client_key(name: str, client: str) -> str:
    """The key of a user name tried from one client (an address or a known device)."""
    return _hash(f"{name.strip().casefold()}\n{client}")


def delay_after(failures: int) -> float:
    return PER_CLIENT.delay_after(failures)


def wait_left(conn: sqlite3.Connection, key: str, now: float, schedule: Schedule = PER_CLIENT) -> float:
    """Seconds `key` must still wait before a password is checked again."""
    rows = conn.execute(
        "SELECT COUNT(*), MAX(at) FROM web_login_failures WHERE account = ? AND at > ?",
        (key, now - WINDOW_S),
    ).fetchone()
    count, last = int(rows[0]), rows[1]
    if not count:
        return 0.0
    return max(0.0, last + schedule.delay_after(count) - now)


def login_wait(conn: sqlite3.Connection, account: str, client: str, known: bool, now: float) -> float:
    """Seconds before this client may try this account: its own delay, and the account's
    ceiling unless the client is a known device."""
    own = wait_left(conn, client, now, PER_CLIENT)
    return own if known else max(own, wait_left(conn, account, now, PER_ACCOUNT))


def record_failure(conn: sqlite3.Connection, account: str, now: float, client: str | None = None) -> int:
    """Record one failure for the account (and the client); return the client's failures in
    the window (the account's when no client is given)."""
    conn.execute("DELETE FROM web_login_failures WHERE at <= ?", (now - WINDOW_S,))
    keys = (account,) if client is None else (account, client)
    conn.executemany("INSERT INTO web_login_failures (account, at) VALUES (?, ?)", [(k, now) for k in keys])
    row = conn.execute(
        "SELECT COUNT(*) FROM web_login_failures WHERE account = ? AND at > ?", (keys[-1], now - WINDOW_S)
    ).fetchone()
    return int(row[0])


def clear(conn: sqlite3.Connection, key: str) -> None:
    conn.execute("DELETE FROM web_login_failures WHERE account = ?", (key,))


def known_device(conn: sqlite3.Connection, token: str | None, account: str, now: float) -> str | None:
    """The client key part for a known-device cookie that signed in as `account` before, or None."""
    if not token or len(token) > 128:
        return None
    digest = _hash(token)
    row = conn.execute(
        "SELECT 1 FROM web_known_devices WHERE token_sha256 = ? AND account = ? AND seen_at > ?",
        (digest, account, now - KNOWN_DAYS * 86400)).fetchone()
    return f"equipo:{digest}" if row else None


def remember_device(conn: sqlite3.Connection, token: str | None, account: str, now: float) -> str:
    """Mark this browser as having signed in as `account`; returns its (new) cookie token."""
    conn.execute("DELETE FROM web_known_devices WHERE seen_at <= ?", (now - KNOWN_DAYS * 86400,))
    if not token or len(token) > 128:
        token = secrets.token_urlsafe(32)
    conn.execute("INSERT INTO web_known_devices (token_sha256, account, seen_at) VALUES (?, ?, ?)"
                 " ON CONFLICT (token_sha256, account) DO UPDATE SET seen_at = excluded.seen_at",
                 (_hash(token), account, now))
    return token


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
