"""Is a file in a drop folder finished? Pure rules over stats and an injected clock.

A file is finished when its (size, mtime_ns) has not changed for `settle`, it is non-empty and
a regular file — or at once when it was renamed into the folder and one stat shows it whole.
Scanners write slowly and close/reopen files between pages (paperless-ngx PR #43, #4626), so
watch events are only hints; this module decides.
"""

from __future__ import annotations

import os
import stat as stat_mod
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from scanners import names

MAX_SETTLE_S = 600  # a file still changing after 10 minutes is not a scan being written


@dataclass(frozen=True)
class FileStat:
    size: int
    mtime_ns: int
    regular: bool
    link: bool = False

    @classmethod
    def of(cls, st: os.stat_result) -> FileStat:
        """From an `lstat`: a symlink is reported as a link, never followed."""
        return cls(st.st_size, st.st_mtime_ns, stat_mod.S_ISREG(st.st_mode), stat_mod.S_ISLNK(st.st_mode))


class Action(Enum):
    WAIT = "wait"
    TAKE = "take"
    QUARANTINE = "quarantine"
    IGNORE = "ignore"  # a temporary name: wait for the rename, track nothing
    GONE = "gone"


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: str | None = None
    detail: str = ""


@dataclass(frozen=True)
class Rules:
    settle_ns: int
    max_settle_ns: int = MAX_SETTLE_S * 1_000_000_000
    empty_ns: int = MAX_SETTLE_S * 1_000_000_000  # a 0-byte file may still fill (FTP scanners)

    @classmethod
    def from_ms(cls, settle_ms: int, max_settle_s: float = MAX_SETTLE_S,
                empty_s: float = MAX_SETTLE_S) -> Rules:
        return cls(settle_ms * 1_000_000, int(max_settle_s * 1e9), int(empty_s * 1e9))


@dataclass
class _Seen:
    first_ns: int
    changed_ns: int
    last: FileStat | None = None
    renamed: bool = False


class Settler:
    """Per-path memory of stats; `decide` says whether a path is finished."""

    def __init__(self, rules: Rules, clock: Callable[[], int] = time.monotonic_ns) -> None:
        self.rules = rules
        self.clock = clock
        self._seen: dict[str, _Seen] = {}

    def hint(self, key: str, *, renamed: bool = False) -> None:
        """Note that `key` exists (an event or a folder walk); `renamed` for a moved-in file."""
        now = self.clock()
        seen = self._seen.get(key)
        if seen is None:
            self._seen[key] = _Seen(now, now, None, renamed)
        elif renamed:
            seen.renamed = True

    def forget(self, key: str) -> None:
        self._seen.pop(key, None)

    def pending(self) -> list[str]:
        return list(self._seen)

    def decide(self, key: str, name: str, st: FileStat | None) -> Decision:
        """What to do with `key` now, given a fresh stat (None when the file is gone)."""
        if not names.is_candidate(name):
            self.forget(key)
            return Decision(Action.IGNORE)
        if st is None:
            self.forget(key)
            return Decision(Action.GONE)
        if st.link:
            # Never follow a link out of the folder; the link itself goes to quarantine.
            self.forget(key)
            return Decision(Action.QUARANTINE, "path_outside_folder", "enlace simbólico: no se sigue")
        if not st.regular:
            self.forget(key)
            return Decision(Action.QUARANTINE, "not_a_regular_file", "no es un archivo regular")
        now = self.clock()
        seen = self._seen.setdefault(key, _Seen(now, now))
        if seen.renamed and st.size > 0 and (seen.last is None or seen.last == st):
            return self._done(key, Decision(Action.TAKE))
        if seen.last != st:
            if seen.last is not None:
                seen.renamed = False  # changed after the rename: back to the quiet rule
            seen.last = st
            seen.changed_ns = now
        if st.size == 0:
            if now - seen.first_ns >= self.rules.empty_ns:
                return self._done(key, Decision(
                    Action.QUARANTINE, "empty",
                    f"0 bytes after {self.rules.empty_ns // 1_000_000_000} s"))
            return Decision(Action.WAIT)
        if now - seen.changed_ns >= self.rules.settle_ns:
            return self._done(key, Decision(Action.TAKE))
        if now - seen.first_ns >= self.rules.max_settle_ns:
            return self._done(key, Decision(
                Action.QUARANTINE, "never_settled",
                f"still changing after {self.rules.max_settle_ns // 1_000_000_000} s"))
        return Decision(Action.WAIT)

    def _done(self, key: str, decision: Decision) -> Decision:
        self.forget(key)
        return decision
