"""Watch events are hints: the service's own claim folders raise none, a new folder is walked
alone, and a lost-events overflow asks for one rescan (issue 14)."""

from __future__ import annotations

import logging
import queue
from pathlib import Path

from watchdog.events import DirCreatedEvent, DirMovedEvent, FileCreatedEvent, FileMovedEvent

from scanners import watch


def _hints(roots: list[Path]) -> tuple[watch._Hints, queue.SimpleQueue[watch.Hint]]:
    q: queue.SimpleQueue[watch.Hint] = queue.SimpleQueue()
    return watch._Hints(q, roots), q


def _all(q: queue.SimpleQueue[watch.Hint]) -> list[watch.Hint]:
    out = []
    while not q.empty():
        out.append(q.get_nowait())
    return out


def test_claim_folders_raise_no_hint_and_new_folders_no_full_rescan(tmp_path: Path) -> None:
    root = tmp_path / "inbox" / "scanner-1"
    handler, q = _hints([root, tmp_path / "inbox" / "uploads"])
    claimed = root / ".claimed" / "18c-ab"
    handler.dispatch(DirCreatedEvent(str(claimed)))
    handler.dispatch(FileMovedEvent(str(root / "a.jpg"), str(claimed / "a.jpg")))
    handler.dispatch(DirCreatedEvent(str(root / "lote" / ".stfolder")))
    assert _all(q) == []  # before: the claim's folder asked for a rescan of every folder
    handler.dispatch(DirCreatedEvent(str(root / "lote")))
    handler.dispatch(DirMovedEvent(str(tmp_path / "x"), str(root / "lote-2")))
    handler.dispatch(FileCreatedEvent(str(root / "lote" / "b.jpg")))
    handler.dispatch(FileMovedEvent(str(root / ".b.part"), str(root / "b.jpg")))
    assert _all(q) == [(str(root / "lote"), watch.FOLDER), (str(root / "lote-2"), watch.FOLDER),
                       (str(root / "lote" / "b.jpg"), watch.FILE), (str(root / "b.jpg"), watch.RENAMED)]


def test_a_hidden_parent_of_the_drop_folder_is_not_a_skipped_folder(tmp_path: Path) -> None:
    root = tmp_path / ".local" / "inbox"
    handler, q = _hints([root])
    handler.dispatch(FileCreatedEvent(str(root / "a.jpg")))
    assert _all(q) == [(str(root / "a.jpg"), watch.FILE)]


def test_an_inotify_overflow_asks_for_one_rescan(tmp_path: Path) -> None:
    q: queue.SimpleQueue[watch.Hint] = queue.SimpleQueue()
    watcher = watch.Watcher([tmp_path], False, q)
    watcher.start()
    try:
        logging.getLogger("watchdog.observers.inotify_c").warning(
            "Inotify queue overflowed; filesystem events were lost")
    finally:
        watcher.stop()
    assert (watch.RESCAN, watch.FOLDER) in _all(q)
    logging.getLogger("watchdog.observers.inotify_c").warning("Inotify queue overflowed; again")
    assert _all(q) == []  # a stopped watcher's filter is gone
