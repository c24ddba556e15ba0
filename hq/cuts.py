"""Which receiver writes a publication cut (corte), and that one only.

Every `catd-hq serve` may run the publication schedule and an operator may run `catd-hq publish`
on any receiver; they share one store and one publication folder (deploy/postgresql.md). Each
cut is claimed in the store by its number in the chain before it is written, so of two writers
of the same position one writes and the other is refused (`CutHeld`, exit 4), and no cut is
claimed while another is still being written: each manifest names the one before it, and the
chain stays linear (DESIGN invariant 7: each cut extends the last). The cut itself is read from
that same store (the count over the packets every receiver stored), so it does not matter
which receiver writes it.

A writer renews its claim while it writes (`Lease`): a national cut takes minutes under load,
and a slow writer must never be taken for a dead one. A claim not renewed for `stale_s` is a
dead writer's and is taken over; a finished cut is never claimed again.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from catd_node import packets
from catd_node.errors import CutHeld
from hq.store.base import Conn, writing

log = logging.getLogger("catd.hq.cuts")
STALE_S = 600.0
RENEWALS = 4        # a live writer renews its claim this many times per stale_s
CLAIM_LOCK = 0x6364_6375   # pg_advisory_xact_lock key held while claiming ("cdcu")


@dataclass(frozen=True)
class Held:
    """The claim that keeps a receiver from writing a cut: that cut's, or another unfinished."""
    cut: str
    receiver: str
    since: str
    done: bool

    def why(self) -> str:
        if self.done:
            return f"cut {int(self.cut)} was written by {self.receiver} at {self.since}"
        return f"cut {int(self.cut)} is being written by {self.receiver} (claim renewed {self.since})"


def key(number: int) -> str:
    """A cut's claim: its number in the chain (names sort by number)."""
    return f"{number:06d}"


def receiver_id() -> str:
    """This writer, as named in a claim: host, process, and a token (two writers in one process
    are two writers)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def _when(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def _stale(now: str, since: str, stale_s: float) -> bool:
    return _when(now) - _when(since) >= timedelta(seconds=stale_s)


def claim(conn: Conn, cut: str, receiver: str, *, now: str | None = None,
          stale_s: float = STALE_S) -> Held | None:
    """None when `receiver` now holds `cut` (a new claim, its own, or one taken over from a
    writer that stopped renewing it `stale_s` ago); else the claim in the way: this cut's
    holder or writer, or another cut still being written."""
    at = now or packets.now()
    with writing(conn):
        if not isinstance(conn, sqlite3.Connection):
            # claims taken one at a time (SQLite's BEGIN IMMEDIATE already is): the check for
            # other unfinished cuts below and the insert are then one step
            conn.execute("SELECT pg_advisory_xact_lock(?)", (CLAIM_LOCK,))
        others = conn.execute("SELECT cut, receiver, claimed_at FROM cut_claims"
                              " WHERE done_at IS NULL AND cut <> ? ORDER BY cut", (cut,)).fetchall()
        for other, holder, since in others:
            if not _stale(at, since, stale_s):
                return Held(other, holder, since, False)
        if conn.execute("INSERT INTO cut_claims (cut, receiver, claimed_at) VALUES (?, ?, ?)"
                        " ON CONFLICT DO NOTHING", (cut, receiver, at)).rowcount == 1:
            return None
        holder, since, done_at = conn.execute(
            "SELECT receiver, claimed_at, done_at FROM cut_claims WHERE cut = ?", (cut,)).fetchone()
        if done_at is not None:
            return Held(cut, holder, done_at, True)
        if holder == receiver:
            return None
        if not _stale(at, since, stale_s):
            return Held(cut, holder, since, False)
        log.warning("cut %d: taking over the claim of %s, not renewed since %s", int(cut), holder, since)
        conn.execute("UPDATE cut_claims SET receiver = ?, claimed_at = ? WHERE cut = ?", (receiver, at, cut))
        return None


def renew(conn: Conn, cut: str, receiver: str) -> bool:
    """Still writing `cut`: False when the claim is no longer `receiver`'s (taken over)."""
    with writing(conn):
        return conn.execute("UPDATE cut_claims SET claimed_at = ? WHERE cut = ? AND receiver = ?"
                            " AND done_at IS NULL", (packets.now(), cut, receiver)).rowcount == 1


def finish(conn: Conn, cut: str, receiver: str) -> bool:
    """Mark `cut` written by `receiver`; False if its claim was taken over meanwhile."""
    with writing(conn):
        return conn.execute("UPDATE cut_claims SET done_at = ? WHERE cut = ? AND receiver = ?"
                            " AND done_at IS NULL", (packets.now(), cut, receiver)).rowcount == 1


def release(conn: Conn, cut: str, receiver: str) -> None:
    """Give up an unfinished claim (the cut failed): the next writer need not wait `stale_s`."""
    with writing(conn):
        conn.execute("DELETE FROM cut_claims WHERE cut = ? AND receiver = ? AND done_at IS NULL",
                     (cut, receiver))


class Lease:
    """A claim held while its cut is written: renewed every stale_s / RENEWALS on a connection
    of its own (the writer's is busy reading the cut's snapshot)."""

    def __init__(self, connect: Callable[[], Conn], conn: Conn, cut: str, receiver: str,
                 stale_s: float) -> None:
        self.connect = connect
        self.conn = conn
        self.cut = cut
        self.receiver = receiver
        self.stale_s = stale_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._renew, name=f"claim-{cut}", daemon=True)
        self._thread.start()

    def _renew(self) -> None:
        conn: Conn | None = None
        try:
            while not self._stop.wait(self.stale_s / RENEWALS):
                try:
                    conn = conn or self.connect()
                    if not renew(conn, self.cut, self.receiver):
                        log.error("cut %d: the claim was taken over; this copy will not be published",
                                  int(self.cut))
                        return
                except Exception as exc:  # the store unreachable: try again; the claim may go stale
                    log.warning("cut %d: cannot renew the claim (%s)", int(self.cut), exc)
                    if conn is not None:
                        with suppress(Exception):
                            conn.close()
                    conn = None
        finally:
            if conn is not None:
                with suppress(Exception):
                    conn.close()

    def confirm(self, what: str) -> None:
        """Renew the claim now, before the cut is put in place: for stale_s after this no other
        writer can take it over. CutHeld if it is already another's."""
        if not renew(self.conn, self.cut, self.receiver):
            raise CutHeld(what, f"cut {int(self.cut)} was taken over by another receiver while"
                                " this one wrote it (it did not renew its claim in time)")

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


@contextmanager
def holding(connect: Callable[[], Conn], conn: Conn, cut: str, what: str, *,
            stale_s: float = STALE_S) -> Iterator[Lease]:
    """Claim `cut` (CutHeld naming `what` when another holds it or wrote it), renew the claim
    while the block writes it, and mark it finished when the block ends; a block that fails
    gives the claim up."""
    receiver = receiver_id()
    held = claim(conn, cut, receiver, stale_s=stale_s)
    if held is not None:
        raise CutHeld(what, f"not written here: {held.why()}")
    lease = Lease(connect, conn, cut, receiver, stale_s)
    try:
        yield lease
    except BaseException:
        lease.stop()
        with suppress(Exception):  # a claim left behind goes stale and is taken over
            release(conn, cut, receiver)
        raise
    lease.stop()
    if not finish(conn, cut, receiver):
        log.error("cut %d: written, but its claim had been taken over", int(cut))
