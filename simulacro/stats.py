"""A simulacro's progress on the terminal (a bar per stage) and its closing table."""

from __future__ import annotations

import shutil
import sys
import time
from dataclasses import dataclass, field
from typing import TextIO

from tqdm import tqdm

STAGES = (("acopio", "acopio"), ("imagen", "imagen"), ("captura", "captura"),
          ("verificacion", "verificación"), ("sin_acta", "sin acta"), ("hq", "en HQ"))


@dataclass
class Stage:
    label: str
    total: int
    count: int = 0
    first: float | None = None
    last: float | None = None
    bar: tqdm | None = None

    def add(self, n: int = 1, at: float | None = None) -> None:
        at = time.monotonic() if at is None else at
        self.first = at if self.first is None else self.first
        self.last = at
        self.count += n
        if self.bar is not None:
            self.bar.update(n)

    @property
    def rate(self) -> float | None:
        if self.first is None or self.last is None or self.count < 2 or self.last <= self.first:
            return None
        return (self.count - 1) / (self.last - self.first)


@dataclass
class Stats:
    totals: dict[str, int]
    show: bool = True
    out: TextIO = sys.stderr
    stages: dict[str, Stage] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)
    fed_at: float | None = None
    all_in_hq_at: float | None = None
    cut_s: float | None = None
    bytes_up: int = 0
    requests: int = 0              # HTTP requests the clerks and phones made to the web apps
    actas: int = 0
    notes: list[str] = field(default_factory=list)
    last_progress: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        show = self.show and self.out.isatty()
        width = shutil.get_terminal_size((100, 24)).columns or 100   # a pty may report 0 columns
        position = 0
        for name, label in STAGES:
            total = self.totals.get(name, 0)
            position += bool(show and total)
            bar = (tqdm(total=total, desc=f"{label:<13}", position=position - 1, leave=True, file=self.out,
                        unit="acta", mininterval=0.5, ncols=min(width, 120)) if show and total else None)
            self.stages[name] = Stage(label, total, bar=bar)
        self._last_line = 0.0

    def event(self, stage: str, _key: str = "") -> None:
        self.stages[stage].add()
        self.last_progress = time.monotonic()
        self._line()

    def set_count(self, stage: str, count: int) -> None:
        """For stages observed by polling (actas in HQ): move to `count`."""
        s = self.stages[stage]
        if count > s.count:
            s.add(count - s.count)
            self.last_progress = time.monotonic()
            self._line()

    def _line(self) -> None:
        """Without a terminal, a progress line every 10 s instead of bars."""
        if not self.show or self.out.isatty():
            return
        now = time.monotonic()
        if now - self._last_line < 10:
            return
        self._last_line = now
        parts = ", ".join(f"{s.label} {s.count}/{s.total}" for s in self.stages.values() if s.total)
        print(f"[{now - self.started:6.0f} s] {parts}", file=self.out, flush=True)

    def close(self) -> None:
        for s in self.stages.values():
            if s.bar is not None:
                s.bar.close()

    def table(self) -> str:
        """The closing table: actas/s per stage, end to end, cut time, bytes sent per acta."""
        rows = [f"{'stage':<16}{'actas':>8}{'seconds':>10}{'actas/s':>10}"]
        for s in self.stages.values():
            if not s.total:
                continue
            span = (s.last - s.first) if s.first is not None and s.last is not None else 0.0
            rate = f"{s.rate:.1f}" if s.rate is not None else "-"
            rows.append(f"{s.label:<16}{s.count:>8}{span:>10.1f}{rate:>10}")
        if self.fed_at is not None and self.all_in_hq_at is not None and self.actas:
            span = self.all_in_hq_at - self.fed_at
            rows.append(f"{'end to end':<16}{self.actas:>8}{span:>10.1f}{self.actas / span:>10.1f}")
        if self.cut_s is not None:
            rows.append(f"cut (publish --final): {self.cut_s:.1f} s")
        if self.actas:
            rows.append(f"bytes sent per acta: {self.bytes_up / self.actas:,.0f} "
                        f"(node → HQ through the link, {self.bytes_up / 1e6:,.2f} MB in all)")
            rows.append(f"web requests per acta: {self.requests / self.actas:.1f} (clerks and phones)")
        return "\n".join(rows)

    def end_to_end(self) -> float | None:
        if self.fed_at is None or self.all_in_hq_at is None or not self.actas:
            return None
        return self.actas / (self.all_in_hq_at - self.fed_at)
