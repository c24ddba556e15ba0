"""A full disk is a state, not a crash (issue 21): recognise it, record it, say when it ends.

The scan service pauses when a write fails for lack of space (ENOSPC, EDQUOT, SQLite's
"database or disk is full"), gives the claimed originals back to their drop folders, and
re-checks the free space every few seconds; it records the state in `run/disk.json` so
`catd-node status` and the dashboard can say so.

`run/disk.json` is written once at start while there is room, padded to a fixed size, and
later overwritten in place: overwriting blocks a file already owns needs no free space, so the
state can still be recorded when the disk is full.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any

log = logging.getLogger("catd.disk")

FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
SQLITE_FULL = 13
MARGIN_BYTES = 1 << 20  # room SQLite needs for one commit (WAL frames, journal) besides the image
STATE_FILE = "disk.json"
STATE_SIZE = 4096
CHECK_S = 1.0  # how often a paused service looks at the free space again


def is_full(exc: BaseException) -> bool:
    """True when `exc` means the disk (or quota) is full."""
    if isinstance(exc, OSError):
        return exc.errno in FULL_ERRNOS
    if isinstance(exc, sqlite3.Error):
        code = getattr(exc, "sqlite_errorcode", None)
        return code == SQLITE_FULL or "database or disk is full" in str(exc)
    return False


def in_chain(exc: BaseException) -> BaseException | None:
    """The full-disk error in `exc` or its causes (PostgreSQL's disk_full 53100 too), or None."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if is_full(current) or getattr(current, "sqlstate", None) == "53100":
            return current
        current = current.__cause__ or current.__context__
    return None


def free_bytes(path: Path) -> int:
    """Free bytes for an unprivileged writer on the file system holding `path` (or its parent)."""
    for candidate in (path, *path.parents):
        try:
            return shutil.disk_usage(candidate).free
        except FileNotFoundError:
            continue
    return 0


def where(exc: BaseException, default: Path) -> Path:
    """The path a full-disk error names, else `default`."""
    name = getattr(exc, "filename", None)
    if isinstance(name, str | bytes) and name:
        return Path(os.fsdecode(name))
    return default


class StateFile:
    """`run/disk.json`: {"state": "ok" | "full", "path", "needed_bytes", "since", "pid"}."""

    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / STATE_FILE
        self.fd: int | None = None
        try:
            run_dir.mkdir(exist_ok=True)
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            if os.fstat(self.fd).st_size < STATE_SIZE:
                os.ftruncate(self.fd, 0)
                os.write(self.fd, b" " * STATE_SIZE)  # allocates the blocks later writes reuse
                os.fsync(self.fd)
        except OSError as exc:
            log.error("disk_state_unwritable path=%s error=%s (the state is only logged)", self.path, exc)
            if self.fd is not None:
                os.close(self.fd)
                self.fd = None

    def write(self, doc: dict[str, Any]) -> None:
        if self.fd is None:
            return
        data = json.dumps({**doc, "pid": os.getpid()}).encode()[:STATE_SIZE]
        try:
            os.pwrite(self.fd, data.ljust(STATE_SIZE), 0)
        except OSError as exc:
            log.error("disk_state_unwritable path=%s error=%s", self.path, exc)

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def _recorded(root: Path) -> dict[str, Any]:
    try:
        doc = json.loads((root / "run" / STATE_FILE).read_bytes() or b"{}")
    except (OSError, ValueError):
        return {}
    if not isinstance(doc, dict):
        return {}
    pid = doc.get("pid")
    if isinstance(pid, int):  # a state left by a service that is gone says nothing now
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return {}
        except PermissionError:
            pass
    return doc


def claimed_waiting(drop_folders: Iterable[Path]) -> int:
    """Files sitting in `.claimed/` of the drop folders (taken, not yet ingested or returned)."""
    count = 0
    for folder in drop_folders:
        claimed = folder / ".claimed"
        if not claimed.is_dir() or claimed.is_symlink():
            continue
        for _dirpath, _dirs, files in os.walk(claimed):
            count += len(files)
    return count


def state(root: Path, watched: dict[str, Path], drop_folders: Iterable[Path]) -> dict[str, Any]:
    """The `disk` object of `catd-node status --json` and the dashboard.

    `watched` names the places ingest writes (blobs, catd.db); the lowest free space among them
    is reported. "full" when the scan service says it paused for space and has not resumed."""
    frees = {name: free_bytes(path) for name, path in watched.items()}
    recorded = _recorded(root)
    full = recorded.get("state") == "full"
    lowest = min(frees, key=lambda n: frees[n]) if frees else None
    path = str(recorded.get("path")) if full else (str(watched[lowest]) if lowest else None)
    return {
        "state": "full" if full else "ok",
        "path": path,
        "free_bytes": free_bytes(Path(path)) if full and path else (frees[lowest] if lowest else None),
        "needed_bytes": int(recorded.get("needed_bytes") or 0) if full else None,
        "since": recorded.get("since") if full else None,
        "free_by_place": frees,
        "claimed_waiting": claimed_waiting(drop_folders),
    }


def of_datadir(d: Any) -> dict[str, Any]:
    """`state` for a `DataDir`: blobs and catd.db watched, every drop folder counted."""
    folders = list(d.scanner_folders().values())
    uploads = d.inbox / "uploads"
    try:
        folders += [p for p in uploads.iterdir() if p.is_dir() and not p.is_symlink()]
    except OSError:
        pass
    return state(d.root, {"blobs": d.blobs_dir, "db": d.db_path.parent}, folders)


def cli_message(exc: BaseException, root: Path) -> str | None:
    """For the CLIs: the error line when `exc` means the disk under `root` is full, else None.
    SQLite opening a WAL database on a full disk says only "disk I/O error" (it cannot create
    the -shm file): that counts when `root` has less than MARGIN_BYTES free."""
    full = in_chain(exc)
    free = free_bytes(root)
    if full is None and not (isinstance(exc, sqlite3.Error) and "disk I/O error" in str(exc)
                             and free < MARGIN_BYTES):
        return None
    path = where(full, root) if full is not None else root
    return (f"error: {path}: disk full ({free} bytes free, at least {MARGIN_BYTES} needed); nothing "
            "half-written was left: free some space and run the command again")
