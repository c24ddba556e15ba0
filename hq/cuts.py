"""Which receiver writes a publication cut (corte).

Every `catd-hq serve` process may run the publication schedule; each cut is written by exactly
one of them: the first to claim it in the shared store. The cut itself is read from that same
store (the count over the packets every receiver stored), so it does not matter which receiver
writes it. A claim whose receiver died before finishing is taken over once it is STALE_S old;
a finished cut is never written again (DESIGN invariant 7: each cut extends the last).
"""

from __future__ import annotations

import os
import socket
from datetime import UTC, datetime, timedelta

from catd_node import packets
from hq.store.base import Conn, writing

STALE_S = 600.0


def receiver_id() -> str:
    """This process, as named in a claim."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _when(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def claim(conn: Conn, cut: str, receiver: str, *, now: str | None = None, stale_s: float = STALE_S) -> bool:
    """True when `receiver` is now the one to write `cut` (a new claim, or one taken over from
    a receiver that has held it unfinished for `stale_s`); False when another writes or wrote it."""
    at = now or packets.now()
    with writing(conn):
        # ON CONFLICT DO NOTHING: of two receivers inserting at once, PostgreSQL makes the
        # second wait for the first to commit and then insert nothing; SQLite has one writer.
        taken = conn.execute("INSERT INTO cut_claims (cut, receiver, claimed_at) VALUES (?, ?, ?)"
                             " ON CONFLICT DO NOTHING", (cut, receiver, at)).rowcount == 1
        if taken:
            return True
        holder, claimed_at, done_at = conn.execute(
            "SELECT receiver, claimed_at, done_at FROM cut_claims WHERE cut = ?", (cut,)).fetchone()
        if done_at is not None or holder == receiver:
            return done_at is None
        if _when(at) - _when(claimed_at) < timedelta(seconds=stale_s):
            return False
        # the old claim is stale: only one receiver may replace it (the row must be unchanged)
        return conn.execute("UPDATE cut_claims SET receiver = ?, claimed_at = ? WHERE cut = ?"
                            " AND claimed_at = ? AND done_at IS NULL",
                            (receiver, at, cut, claimed_at)).rowcount == 1


def finish(conn: Conn, cut: str, receiver: str) -> bool:
    """Mark `cut` written by `receiver`; False if its claim was taken over meanwhile (the
    other receiver's copy is the one to keep)."""
    with writing(conn):
        return conn.execute("UPDATE cut_claims SET done_at = ? WHERE cut = ? AND receiver = ?"
                            " AND done_at IS NULL", (packets.now(), cut, receiver)).rowcount == 1
