"""A clean stop logs no ERROR; real watchdog errors still reach the log."""

from __future__ import annotations

import logging

import scanners.watch  # noqa: F401 - installs the filter on watchdog's inotify logger


def test_the_stop_race_line_is_dropped_and_other_errors_kept(caplog):
    inotify = logging.getLogger("watchdog.observers.inotify")
    with caplog.at_level(logging.ERROR, logger="watchdog.observers.inotify"):
        inotify.error("InotifyEmitter.queue_events() called when the thread is inactive")
        inotify.error("inotify watch limit reached")
    assert [r.getMessage() for r in caplog.records] == ["inotify watch limit reached"]
