"""Bar charts drawn on the server as inline SVG (templates/barras.svg, avance.svg): the site
needs no JavaScript, and a page that a CDN caches shows its chart as it was published.

This module computes the geometry; the templates write it, escaped by Jinja. Each chart has
a <title> and <desc> for screen readers and is followed on its page by a table of the same
figures.

No label or value may be clipped by the viewBox, whatever the font a reader's browser picks:
text widths are estimated generously per character (wider than DejaVu Sans and Arial, the
fonts a phone or a Debian desktop falls back to), names wrap onto a second line, a bar is
never longer than leaves its value room, and the viewBox grows to the widest line.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from hq.release.site.pages import Bar

WIDTH = 480
NAME_SIZE = 15        # the person or the party, bold
LABEL_SIZE = 13       # the party under a person's name
VALUE_SIZE = 14
LINE = 1.3            # line height, in font sizes
BAR = 22
GAP = 14
# Advance widths in em, rounded up from DejaVu Sans Bold (the widest common fallback).
_WIDE = set("MWÑ@%")
_CAPS = set("ABCDEFGHKNOPQRSTUVXYZÁÉÍÓÚÜ&#")
_NARROW = set("Iijlt.,:;'|!()[]fr ")
_DIGITS = set("0123456789")


def text_width(text: str, size: float, bold: bool = False) -> float:
    """A generous estimate of `text`'s width at `size` px: never less than a browser draws."""
    em = 0.0
    for ch in text:
        if ch in _WIDE:
            em += 1.05
        elif ch in _CAPS:
            em += 0.84
        elif ch in _DIGITS:
            em += 0.72
        elif ch in _NARROW:
            em += 0.42
        elif ch.isupper():
            em += 0.84
        elif ch in "–—":
            em += 0.72 if ch == "–" else 1.05
        else:
            em += 0.68
    return em * size * (1.08 if bold else 1.0)


def wrap(text: str, size: float, width: float, bold: bool = False) -> list[str]:
    """`text` in lines no wider than `width` (a word longer than that keeps a line of its own)."""
    lines: list[str] = []
    current = ""
    for word in text.split():
        candidate = f"{current} {word}" if current else word
        if current and text_width(candidate, size, bold) > width:
            lines.append(current)
            current = word
        else:
            current = candidate
    if current:
        lines.append(current)
    return lines or [""]


@dataclass(frozen=True)
class Line:
    text: str
    y: float
    size: int
    bold: bool


@dataclass(frozen=True)
class Drawn:
    bar: Bar
    lines: tuple[Line, ...]    # the name (and the party under it)
    bar_y: float
    length: float
    value: str
    value_x: float
    value_y: float


@dataclass(frozen=True)
class Chart:
    id: str
    title: str
    desc: str
    width: int
    height: int
    bars: tuple[Drawn, ...]
    bar_height: int = BAR
    value_size: int = VALUE_SIZE
    bar_x: float = 0.5    # where bars start: after the label column, or under the names


@dataclass(frozen=True)
class Progress:
    id: str
    title: str
    width: int
    length: int


def value_text(bar: Bar) -> str:
    return f"{bar.votes:,} ({bar.percent} %)"


def bars(chart_id: str, title: str, items: Sequence[Bar]) -> Chart:
    """A horizontal bar chart of `items`: each its name (wrapped) above its bar, the votes and
    share after the bar; bar lengths in proportion to the largest."""
    top = max((b.votes for b in items), default=0) or 1
    room = max((text_width(value_text(b), VALUE_SIZE) for b in items), default=0) + 10
    width = WIDTH
    for b in items:   # a single word wider than the chart widens the chart
        for word in b.title.split() + b.label.split():
            width = max(width, int(text_width(word, NAME_SIZE, True)) + 4)
    width = max(width, int(room) + 60)
    desc = [f"{f'{b.name} ({b.label})' if b.name else b.label}: {b.votes:,} votos ({b.percent} %)"
            for b in items]
    column = max((text_width(b.label, NAME_SIZE, True) for b in items), default=0) + 10
    if not any(b.name for b in items) and column <= width * 0.4:
        # short party names and no people: each label beside its bar, one row per field
        span = width - column - room
        rows = []
        for i, b in enumerate(items):
            top_y = 4 + i * (BAR + 10)
            length = max(1.0, round(span * b.votes / top, 1))
            rows.append(Drawn(b, (Line(b.label, top_y + BAR / 2 + NAME_SIZE * 0.35, NAME_SIZE, True),),
                              top_y, length, value_text(b), column + length + 6,
                              top_y + BAR / 2 + VALUE_SIZE * 0.35))
        height = 8 + len(items) * (BAR + 10)
        return Chart(chart_id, title, "; ".join(desc) or "sin votos aún", width, height, tuple(rows),
                     bar_x=column)
    span = width - room
    y = 4.0
    drawn = []
    for b in items:
        lines = []
        for text in wrap(b.title, NAME_SIZE, width - 2, bold=True):
            y += NAME_SIZE * LINE
            lines.append(Line(text, y - NAME_SIZE * 0.3, NAME_SIZE, True))
        if b.name:
            for text in wrap(b.label, LABEL_SIZE, width - 2):
                y += LABEL_SIZE * LINE
                lines.append(Line(text, y - LABEL_SIZE * 0.3, LABEL_SIZE, False))
        bar_y = y + 4
        length = max(1.0, round(span * b.votes / top, 1))
        drawn.append(Drawn(b, tuple(lines), bar_y, length, value_text(b), length + 6,
                           bar_y + BAR / 2 + VALUE_SIZE * 0.35))
        y = bar_y + BAR + GAP
    return Chart(chart_id, title, "; ".join(desc) or "sin votos aún", width, max(8, round(y)), tuple(drawn))


def progress(chart_id: str, title: str, done: int, whole: int, percent: str) -> Progress:
    """A single progress bar: `done` of `whole`."""
    length = round((WIDTH - 2) * done / whole) if whole else 0
    return Progress(chart_id, f"{title}: {done:,} de {whole:,} ({percent} %)", WIDTH, length)
