"""Which folders are drop folders, what is in them now, and watchdog hints about changes.

Events are hints only (watchdog drops events on queue overflow and sees nothing on network
mounts): the service also sweeps at start, every `rescan_s`, and after an observer error.
"""

from __future__ import annotations

import logging
import os
import queue
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver
from watchdog.observers.polling import PollingObserverVFS

from catd_node.datadir import DataDir
from scanners import names
from scanners.claim import Source
from scanners.nofollow import Dir

log = logging.getLogger("catd.scan")


class _StopRace(logging.Filter):
    """Drop watchdog's "queue_events() called when the thread is inactive" ERROR: its inotify
    thread races our stop() (watchdog PR #963 logs it instead of raising). Harmless at
    shutdown, and an ERROR line on every clean stop would alarm the coordinator."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "called when the thread is inactive" not in record.getMessage()


logging.getLogger("watchdog.observers.inotify").addFilter(_StopRace())
# watchdog warns when a directory it already watches is registered again (a claimed file's
# folder under .claimed/ seen by two events): the callback is replaced, nothing is lost. The
# warning went to stderr as a line that is not a log line (tests/scanners/test_odd_names).
warnings.filterwarnings("ignore", message=r"Callback with id .* already exists", category=RuntimeWarning,
                        module=r"watchdog\.observers\.inotify")
_WATCHDOG_LOGGERS = ("watchdog.observers.inotify", "watchdog.observers.inotify_c")

UPLOADS = "uploads"
POLL_INTERVAL_S = 2.0
RESCAN = "<rescan>"  # hint: sweep every folder now (events were lost)
# Hint kinds: a file changed, a file was renamed into place, a folder appeared (walk it).
FILE, RENAMED, FOLDER = "file", "renamed", "folder"
MAX_DEPTH = 32  # sub-folders below a drop folder; scanners nest two or three at most
Hint = tuple[str, str]  # (path, kind)

@dataclass(frozen=True)
class Folder:
    root: Path
    source: Source


def uploads_root(d: DataDir) -> Path:
    """Phones upload into `inbox/uploads/<device-id>/` (the web app writes them)."""
    return d.inbox / UPLOADS


def folders(d: DataDir) -> list[Folder]:
    """Every drop folder now: the configured scanners, then each phone's upload folder."""
    found = []
    for sid, path in d.scanner_folders().items():
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:  # a dangling symlink, a file: named, the other folders go on
            log.error("folder_refused scanner=%s folder=%s error=%s", sid, names.printable(str(path)), exc)
            continue
        if path.is_symlink():
            # Every path under a drop folder is resolved without following links (issue 12),
            # its root too: a LAN user who can replace it must not turn it into the data dir.
            log.error("folder_refused scanner=%s folder=%s why=symlink (configure its real path)",
                      sid, names.printable(str(path)))
            continue
        found.append(Folder(path, Source("scanner", sid)))
    uploads = uploads_root(d)
    uploads.mkdir(parents=True, exist_ok=True)
    for entry in sorted(uploads.iterdir()):
        if entry.is_dir() and not entry.is_symlink() and not names.skip_dir(entry.name):
            found.append(Folder(entry, Source("upload", names.printable(entry.name))))
    return found


def walk(root: Path, exclude: frozenset[Path] = frozenset(), under: tuple[str, ...] = ()) -> Iterator[Path]:
    """Files under `root` (nested folders too), not entering hidden folders or other drop folders;
    with `under`, only below that sub-folder (a folder that just appeared).

    Each folder is opened from its parent's descriptor without following a link, so a sub-folder
    swapped for a symlink mid-walk is not entered (issue 12); a symlink — to a file or a folder —
    is yielded as itself, for settle to quarantine.
    """
    try:
        top = Dir.root(root)
    except OSError as exc:
        log.warning("walk_failed folder=%s error=%s", names.printable(str(root)), exc)
        return
    with top:
        if not under:
            yield from _walk(top, exclude, 0)
            return
        if any(names.skip_dir(part) for part in under) or root.joinpath(*under) in exclude:
            return
        try:
            here = top.child(under)
        except OSError as exc:  # gone again, or a link put in its place: not entered
            log.debug("walk_skipped folder=%s error=%s", names.printable(str(root.joinpath(*under))), exc)
            return
        with here:
            yield from _walk(here, exclude, len(under))


def _walk(directory: Dir, exclude: frozenset[Path], depth: int) -> Iterator[Path]:
    try:
        entries = directory.listdir()
    except OSError as exc:
        log.warning("walk_failed folder=%s error=%s", names.printable(str(directory.path)), exc)
        return
    for entry in entries:
        path = directory.path / entry.name
        if entry.is_dir(follow_symlinks=False):
            if names.skip_dir(entry.name) or path in exclude:
                continue
            if depth >= MAX_DEPTH:  # one descriptor per level is held: no descriptor exhaustion
                log.warning("walk_too_deep folder=%s depth=%d", names.printable(str(path)), depth + 1)
                continue
            try:
                sub = directory.child((entry.name,))
            except OSError as exc:
                log.warning("walk_failed folder=%s error=%s", names.printable(str(path)), exc)
                continue
            with sub:
                yield from _walk(sub, exclude, depth + 1)
        elif names.is_candidate(entry.name):
            yield path


class _Hints(FileSystemEventHandler):
    """Turns watchdog events into (path, kind) hints on a queue.

    Events under a folder no walk enters are dropped here: each claim makes a `.claimed/<token>/`
    folder, and treating that as "a folder appeared, rescan everything" made a flood of n files
    cost n full rescans (issue 14: 10,000 files stalled for minutes). A new folder is walked by
    itself, not the whole tree.
    """

    def __init__(self, hints: queue.SimpleQueue[Hint], roots: list[Path]) -> None:
        self.hints = hints
        self.roots = sorted((str(r) for r in roots), key=len, reverse=True)

    def skipped(self, path: str, is_dir: bool) -> bool:
        """True when `path` lies in a folder a walk never enters (or is one)."""
        for root in self.roots:
            if path.startswith(root + os.sep):
                parts = path[len(root) + 1:].split(os.sep)
                return any(names.skip_dir(p) for p in (parts if is_dir else parts[:-1]))
        return False

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in ("opened", "closed_no_write", "deleted"):
            return
        moved = event.event_type == "moved"
        path = os.fsdecode(event.dest_path if moved else event.src_path)
        if self.skipped(path, event.is_directory):
            return
        if event.is_directory:
            if event.event_type in ("created", "moved"):
                self.hints.put((path, FOLDER))
            return
        self.hints.put((path, RENAMED if moved else FILE))


class _Overflow(logging.Filter):
    """watchdog rebuilds its watches when the kernel's inotify queue overflows but tells only its
    log; the files whose events were lost would wait for the periodic rescan. Ask for one now."""

    def __init__(self, hints: queue.SimpleQueue[Hint]) -> None:
        super().__init__()
        self.hints = hints

    def filter(self, record: logging.LogRecord) -> bool:
        if "queue overflowed" in record.getMessage():
            self.hints.put((RESCAN, FOLDER))
        return True


class Watcher:
    """A watchdog observer over the drop folders (polling on network mounts)."""

    def __init__(self, roots: list[Path], poll: bool, hints: queue.SimpleQueue[Hint]) -> None:
        self.roots = roots
        self.poll = poll
        self.hints = hints
        self.observer: BaseObserver | None = None
        self.overflow = _Overflow(hints)

    def start(self) -> None:
        # Polling lstat()s, so it never walks into a symlinked folder (issue 12; a link to / or a
        # link loop would be walked every poll). inotify's recursive walk does not follow links.
        observer: BaseObserver = (PollingObserverVFS(os.lstat, os.scandir, polling_interval=POLL_INTERVAL_S)
                                  if self.poll else Observer())
        handler = _Hints(self.hints, self.roots)
        for name in _WATCHDOG_LOGGERS:
            logging.getLogger(name).addFilter(self.overflow)
        for root in self.roots:
            observer.schedule(handler, str(root), recursive=True)
        observer.daemon = True
        observer.start()
        self.observer = observer

    def alive(self) -> bool:
        return self.observer is not None and self.observer.is_alive()

    def stop(self) -> None:
        for name in _WATCHDOG_LOGGERS:
            logging.getLogger(name).removeFilter(self.overflow)
        if self.observer is not None:
            self.observer.stop()
            self.observer.join(timeout=5)
            self.observer = None

    def restart(self, roots: list[Path]) -> None:
        self.stop()
        self.roots = roots
        self.start()
