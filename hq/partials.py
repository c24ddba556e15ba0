"""Partial blob uploads on disk: each belongs to one node, has one writer at a time across
every `catd-hq serve` process sharing the data directory, and is written through a fresh file.

Layout under `uploads/<node>/` (docs/uploads.md):
- `<sha>.partial`: the bytes the node has made durable, offered for resumption to that node only;
- `<sha>.lock`: `flock`ed by the one writer (the kernel drops the lock when its process dies);
- `<sha>.new.tmp`: the writer's own file, created fresh for each PUT (a copy of the
  partial, then the new bytes), renamed over the partial to keep a short body or into the blob
  store once it hashes to its name. No other writer ever holds it open, so the stored file is
  exactly the file that was hashed (the old design appended to the partial in place, and a
  second writer kept appending to it after it had been renamed into the store).

Every function here blocks (file I/O, fsync): call them on the file thread pool.
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import logging
import os
import re
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from catd_node.blobs import CHUNK, fsync_dir

log = logging.getLogger("catd.hq.blobs")
_SAFE_NODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_SHA_FILE = re.compile(r"([0-9a-f]{64})\.(partial|lock|[A-Za-z0-9_]+\.tmp)")


def node_dir_name(node: str) -> str:
    """The directory of `node`'s partials: its id when that is a plain name, else `_` and the
    hex of its UTF-8 (registered ids may be `..`; a plain name never starts with `_`)."""
    return node if _SAFE_NODE.fullmatch(node) else "_" + node.encode("utf-8").hex()


@dataclass(frozen=True)
class Slot:
    """Where one node's upload of one blob lives."""

    dir: Path
    sha: str

    @functools.cached_property
    def partial(self) -> Path:
        return self.dir / f"{self.sha}.partial"

    @functools.cached_property
    def lock_path(self) -> Path:
        return self.dir / f"{self.sha}.lock"

    @functools.cached_property
    def scratch(self) -> Path:
        """The lock holder's fresh file (only the holder of the lock creates or opens it)."""
        return self.dir / f"{self.sha}.new.tmp"

    def held(self) -> int:
        """Bytes of the partial (0 when there is none)."""
        try:
            return self.partial.stat().st_size
        except FileNotFoundError:
            return 0


def slot(uploads_dir: Path, node: str, sha: str) -> Slot:
    return Slot(uploads_dir / node_dir_name(node), sha)


def try_lock(path: Path) -> int | None:
    """The descriptor of `path` locked exclusively, or None when another writer holds it.

    The holder removes the lock file before it lets go, so a lock won on a file that is no
    longer at `path` (removed meanwhile) is dropped and tried again: two writers can never
    both hold "the" lock of one partial, whichever processes they run in."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        try:
            current = os.stat(path).st_ino
        except FileNotFoundError:
            current = -1
        if current == os.fstat(fd).st_ino:
            return fd
        os.close(fd)


def _create_fresh(path: Path) -> int:
    """A new, empty file at `path` (a new inode, never one opened before). One found there was
    left by a writer that died holding the lock (a live writer removes it before letting go)."""
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
    try:
        return os.open(path, flags, 0o600)
    except FileExistsError:
        path.unlink()
        return os.open(path, flags, 0o600)


def unlock(fd: int, path: Path) -> None:
    """Remove the lock file while still holding it, then let go (see `try_lock`)."""
    try:
        path.unlink(missing_ok=True)
    finally:
        os.close(fd)


class Writer:
    """One PUT's hold on a partial: the lock, and the fresh file its bytes go to.

    Methods run on the file pool and take `mutex`, so a handler cancelled while a flush is
    under way cannot overlap it with its ending (`end_keep`, `end_finish`, `end_discard`,
    each of which also lets go of the lock)."""

    def __init__(self, where: Slot, lock_fd: int) -> None:
        self.slot = where
        self.lock_fd: int | None = lock_fd
        self.held = where.held()
        self.buffer: list[bytes] = []
        self.buffered = 0
        self.tmp: Path | None = None
        self.out: BinaryIO | None = None
        self.mutex = threading.Lock()
        self.ended = False  # after the first ending, the others do nothing

    @classmethod
    def begin(cls, where: Slot) -> Writer | None:
        """Lock the slot for writing; None when another writer holds it."""
        try:
            fd = try_lock(where.lock_path)
        except FileNotFoundError:  # the node's first upload: make its directory
            where.dir.mkdir(parents=True, exist_ok=True)
            fd = try_lock(where.lock_path)
        return None if fd is None else cls(where, fd)

    def _open(self) -> BinaryIO:
        if self.out is None:
            self.tmp = self.slot.scratch
            self.out = os.fdopen(_create_fresh(self.tmp), "w+b")
            if self.held:  # a resume: start from a copy of what the node made durable
                with self.slot.partial.open("rb") as src:
                    shutil.copyfileobj(src, self.out, CHUNK)
                if self.out.tell() != self.held:
                    raise OSError(f"partial {self.slot.partial} changed size under its lock")
        return self.out

    def flush(self) -> None:
        """Write the buffered bytes to the writer's file (not fsynced: the ending does that)."""
        with self.mutex:
            self._flush()

    def _flush(self) -> None:
        out = self._open()
        for chunk in self.buffer:
            out.write(chunk)
        out.flush()
        self.buffer.clear()
        self.buffered = 0

    def end_keep(self) -> int:
        """The body ended short, the link dropped or the deadline passed: make what arrived
        the node's partial (fsync, rename over the old one); return the bytes it holds."""
        with self.mutex:
            if self.ended:
                return self.held
            try:
                if not self.buffer and self.out is None:
                    return self.held
                self._flush()
                assert self.out is not None and self.tmp is not None
                os.fsync(self.out.fileno())
                size = self.out.tell()
                self.out.close()
                self.out = None
                # uploads/ is not fsynced: after power loss the old or the new partial is
                # there, each a durable prefix the node can continue from.
                os.replace(self.tmp, self.slot.partial)
                self.tmp = None
                self.held = size
                return size
            finally:
                self._release()

    def end_finish(self, sha: str, target: Path) -> bool:
        """All bytes arrived: fsync the file, hash it as it is on disk, and only if it hashes
        to `sha` rename it to `target` and fsync that directory (True); else discard the file
        and the partial (False)."""
        with self.mutex:
            if self.ended:
                return False
            try:
                self._flush()
                out = self.out
                assert out is not None and self.tmp is not None
                os.fsync(out.fileno())
                out.seek(0)
                digest = hashlib.sha256()
                while chunk := out.read(CHUNK):
                    digest.update(chunk)
                if digest.hexdigest() != sha:
                    log.warning("blob rejected sha=%s got=%s", sha[:16], digest.hexdigest()[:16])
                    self._discard()
                    return False
                _make_dir(target.parent)
                os.replace(self.tmp, target)
                self.tmp = None
                fsync_dir(target.parent)
                if self.held:  # its bytes are in the blob now (none appears while we hold the lock)
                    self.slot.partial.unlink(missing_ok=True)
                return True
            finally:
                self._release()

    def end_discard(self) -> None:
        """Drop the writer's file and the node's partial (bytes that cannot be the blob)."""
        with self.mutex:
            if self.ended:
                return
            try:
                self._discard()
            finally:
                self._release()

    def _discard(self) -> None:
        self.slot.partial.unlink(missing_ok=True)
        self.held = 0

    def _release(self) -> None:
        """Close and remove the writer's file if still there, then let go of the lock."""
        self.ended = True
        self.buffer.clear()
        if self.out is not None:
            self.out.close()
            self.out = None
        if self.tmp is not None:
            self.tmp.unlink(missing_ok=True)
            self.tmp = None
        if self.lock_fd is not None:
            fd, self.lock_fd = self.lock_fd, None
            unlock(fd, self.slot.lock_path)


def sweep(uploads_dir: Path, max_age_s: float, now: float | None = None) -> int:
    """Expire partials with no progress for `max_age_s` (their mtime is the last write) and
    remove files left by writers that died (a scratch file or lock file nobody holds); a slot
    whose lock is held is left alone. Returns how many partials expired."""
    now = time.time() if now is None else now
    expired = 0
    if not uploads_dir.is_dir():
        return 0
    for entry in list(uploads_dir.iterdir()):
        if entry.is_file() and entry.name.endswith(".partial"):
            # written before partials were bound to nodes: no node can be shown to own it
            entry.unlink(missing_ok=True)
            expired += 1
        elif entry.is_dir():
            expired += _sweep_node(entry, max_age_s, now)
    if expired:
        log.info("partial uploads expired count=%d", expired)
    return expired


def _sweep_node(node_dir: Path, max_age_s: float, now: float) -> int:
    shas = {m.group(1) for m in map(_SHA_FILE.fullmatch, os.listdir(node_dir)) if m}
    expired = 0
    for sha in sorted(shas):
        where = Slot(node_dir, sha)
        fd = try_lock(where.lock_path)
        if fd is None:
            continue  # a writer is at work on it
        try:
            for scratch in node_dir.glob(f"{sha}.*.tmp"):
                scratch.unlink(missing_ok=True)  # its writer died: only a lock holder writes one
            try:
                idle = now - where.partial.stat().st_mtime
            except FileNotFoundError:
                continue
            if idle > max_age_s:
                where.partial.unlink(missing_ok=True)
                expired += 1
        finally:
            unlock(fd, where.lock_path)
    return expired


def _make_dir(path: Path) -> None:
    """Create a blob store subdirectory durably (its parent is fsynced once, when created);
    `prepare_store` normally made them all already."""
    try:
        path.mkdir(parents=True)
    except FileExistsError:
        return
    fsync_dir(path.parent)


def prepare_store(blobs_dir: Path) -> None:
    """Create the 256 subdirectories of the blob store (`aa/` for names starting `aa`) once,
    durably, so that storing a blob never has to create one and fsync its parent."""
    blobs_dir.mkdir(parents=True, exist_ok=True)
    created = False
    for n in range(256):
        try:
            (blobs_dir / f"{n:02x}").mkdir()
            created = True
        except FileExistsError:
            pass
    if created:
        fsync_dir(blobs_dir)
