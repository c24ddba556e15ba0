"""Bar charts drawn on the server as inline SVG (templates/barras.svg, avance.svg): the site
needs no JavaScript, and a page that a CDN caches shows its chart as it was published.

This module computes the geometry; the templates write it, escaped by Jinja. Each chart has
a <title> and <desc> for screen readers and is followed on its page by a table of the same
figures.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from hq.release.site.pages import Bar

WIDTH = 480
ROW = 34
LABEL = 132
VALUE_ROOM = 128


@dataclass(frozen=True)
class Drawn:
    bar: Bar
    y: int
    length: int


@dataclass(frozen=True)
class Chart:
    id: str
    title: str
    desc: str
    width: int
    height: int
    label_x: int
    bars: tuple[Drawn, ...]


@dataclass(frozen=True)
class Progress:
    id: str
    title: str
    width: int
    length: int


def bars(chart_id: str, title: str, items: Sequence[Bar]) -> Chart:
    """A horizontal bar chart of `items`: bar lengths in proportion to the largest."""
    top = max((b.votes for b in items), default=0) or 1
    span = WIDTH - LABEL - VALUE_ROOM
    desc = "; ".join(f"{b.label}: {b.votes:,} votos ({b.percent} %)" for b in items) or "sin votos aún"
    drawn = tuple(Drawn(b, 4 + i * ROW, max(1, round(span * b.votes / top))) for i, b in enumerate(items))
    return Chart(chart_id, title, desc, WIDTH, max(1, len(items)) * ROW + 8, LABEL, drawn)


def progress(chart_id: str, title: str, done: int, whole: int, percent: str) -> Progress:
    """A single progress bar: `done` of `whole`."""
    length = round((WIDTH - 2) * done / whole) if whole else 0
    return Progress(chart_id, f"{title}: {done:,} de {whole:,} ({percent} %)", WIDTH, length)
