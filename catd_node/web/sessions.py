"""Server-side sessions in SQLite: the cookie is a random token, the table holds only its SHA-256.

Rotated on login (a token set before login is never honoured), revoked on logout, expired
after 30 minutes idle or 12 hours in all.
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
from dataclasses import dataclass

COOKIE = "catd_session"
IDLE_S = 30 * 60
ABSOLUTE_S = 12 * 60 * 60
TOUCH_S = 60  # write seen_at at most once a minute per session


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Session:
    token_sha256: str
    username: str
    role: str
    created_at: float
    seen_at: float

    def stale(self, now: float) -> bool:
        return now - self.seen_at >= TOUCH_S


def create(conn: sqlite3.Connection, username: str, now: float) -> str:
    """A new session for `username`; returns the raw cookie token (never stored)."""
    token = secrets.token_urlsafe(32)
    conn.execute(
        "INSERT INTO web_sessions (token_sha256, username, created_at, seen_at) VALUES (?, ?, ?, ?)",
        (digest(token), username, now, now),
    )
    return token


def lookup(conn: sqlite3.Connection, token: str | None, now: float) -> Session | None:
    """The live session for a cookie token, or None (unknown, revoked, expired, user disabled)."""
    if not token or len(token) > 128:
        return None
    row = conn.execute(
        "SELECT s.token_sha256, s.username, u.role, s.created_at, s.seen_at FROM web_sessions s"
        " JOIN web_users u ON u.name = s.username"
        " WHERE s.token_sha256 = ? AND s.revoked = 0 AND u.active = 1",
        (digest(token),),
    ).fetchone()
    if row is None:
        return None
    session = Session(*row)
    if now - session.seen_at > IDLE_S or now - session.created_at > ABSOLUTE_S:
        return None
    return session


def touch(conn: sqlite3.Connection, token_sha256: str, now: float) -> None:
    conn.execute("UPDATE web_sessions SET seen_at = ? WHERE token_sha256 = ?", (now, token_sha256))


def revoke(conn: sqlite3.Connection, token_sha256: str) -> None:
    conn.execute("UPDATE web_sessions SET revoked = 1 WHERE token_sha256 = ?", (token_sha256,))


def prune(conn: sqlite3.Connection, now: float) -> None:
    """Drop sessions that can no longer be used."""
    conn.execute(
        "DELETE FROM web_sessions WHERE revoked = 1 OR seen_at < ? OR created_at < ?",
        (now - IDLE_S, now - ABSOLUTE_S),
    )
