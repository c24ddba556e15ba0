"""HQ on a full disk (issue 21): a write that fails for lack of space — the store (SQLite's
"database or disk is full", PostgreSQL's disk_full 53100), an image, a cut being written — is
answered 507 with a JSON reason and a Retry-After, never a crash; the nodes keep their backlog
and retry. The state is kept in `run/disk.json` (written in place: it needs no free space) for
`catd-hq status`, and cleared by the next write that succeeds."""

from __future__ import annotations

import logging
import sqlite3
import time
from pathlib import Path
from typing import Any

from catd_node import diskfull
from hq.store import HQDir

log = logging.getLogger("catd.hq.disk")

PG_DISK_FULL = "53100"
RETRY_AFTER_S = 2
DISK_FULL = "disk_full"


def cause(exc: BaseException) -> BaseException | None:
    """The full-disk error in `exc`'s chain, or None."""
    return diskfull.in_chain(exc)


class DiskWatch:
    """The receiver's view: full since when, where; shared by its requests."""

    def __init__(self, hq: HQDir) -> None:
        self.hq = hq
        self.file = diskfull.StateFile(hq.root / "run")
        self.file.write({"state": "ok"})
        self.full: dict[str, Any] | None = None

    def hit(self, exc: BaseException, what: str) -> dict[str, Any]:
        """Record a write refused for lack of space; returns the answer's body fields."""
        default = self.hq.db_path if isinstance(exc, sqlite3.Error) else self.hq.blobs_dir
        if getattr(exc, "sqlstate", None) == PG_DISK_FULL:
            path = "postgresql"
            free = None
        else:
            where = diskfull.where(exc, default)
            path, free = str(where), diskfull.free_bytes(where)
        if self.full is None:
            self.full = {"path": path, "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                         "needed_bytes": diskfull.MARGIN_BYTES}
            log.error("disk_full path=%s free_bytes=%s needed_bytes=%d request=%s error=%s (answered 507; "
                      "nodes retry; resumes by itself when space returns)", path, free,
                      diskfull.MARGIN_BYTES, what, exc)
        self.file.write({"state": "full", **self.full})
        return {"path": path, "free_bytes": free, "retry_after_s": RETRY_AFTER_S}

    def wrote(self) -> None:
        """A write succeeded: space is back."""
        if self.full is None:
            return
        log.info("disk_ok path=%s free_bytes=%d (writes succeed again)", self.full["path"],
                 diskfull.free_bytes(Path(self.full["path"])) if self.full["path"] != "postgresql" else -1)
        self.full = None
        self.file.write({"state": "ok"})


def read(hq: HQDir) -> dict[str, Any]:
    """The `disk` object of `catd-hq status --json`."""
    places = {"db": hq.db_path.parent, "blobs": hq.blobs_dir, "uploads": hq.uploads_dir,
              "publicacion": hq.root}
    doc = diskfull.state(hq.root, places, [])
    doc.pop("claimed_waiting", None)
    return doc
