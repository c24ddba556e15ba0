"""Handwriting for specimen actas: a clerk's pen (ink, slant, shaky digit strokes), amounts in
Spanish words, and the printed-form fonts. Deterministic for a given random.Random."""

from __future__ import annotations

import math
import random
import unicodedata
from collections.abc import Sequence
from functools import cache

from PIL import Image, ImageDraw, ImageFont

INKS = ((22, 45, 150), (30, 30, 36), (35, 60, 170), (15, 25, 95))

# Pen strokes per digit in a unit box (x right, y down), traced with a Catmull-Rom spline.
DIGIT_STROKES: dict[str, tuple[tuple[tuple[float, float], ...], ...]] = {
    "0": (tuple((0.5 + 0.42 * math.sin(t / 12 * 2 * math.pi), 0.5 - 0.5 * math.cos(t / 12 * 2 * math.pi))
                for t in range(14)),),
    "1": (((0.25, 0.22), (0.55, 0.0), (0.55, 1.0)),),
    "2": (((0.1, 0.25), (0.3, 0.03), (0.65, 0.0), (0.86, 0.2), (0.78, 0.45), (0.1, 1.0), (0.95, 0.98)),),
    "3": (((0.1, 0.1), (0.5, 0.0), (0.85, 0.15), (0.75, 0.4), (0.4, 0.5), (0.85, 0.62), (0.88, 0.88),
           (0.5, 1.0), (0.08, 0.9)),),
    "4": (((0.72, 1.0), (0.72, 0.0), (0.05, 0.68), (0.95, 0.68)),),
    "5": (((0.88, 0.0), (0.22, 0.0), (0.16, 0.45), (0.55, 0.37), (0.88, 0.6), (0.8, 0.9), (0.45, 1.0),
           (0.08, 0.9)),),
    "6": (((0.8, 0.04), (0.45, 0.0), (0.15, 0.35), (0.1, 0.75), (0.4, 1.0), (0.78, 0.9), (0.82, 0.6),
           (0.5, 0.48), (0.14, 0.66)),),
    "7": (((0.05, 0.02), (0.92, 0.0), (0.4, 1.0)), ((0.3, 0.52), (0.75, 0.5))),
    "8": (((0.5, 0.5), (0.16, 0.28), (0.3, 0.02), (0.7, 0.02), (0.84, 0.25), (0.5, 0.5), (0.1, 0.75),
           (0.35, 1.0), (0.7, 1.0), (0.9, 0.75), (0.5, 0.5)),),
    "9": (((0.85, 0.3), (0.55, 0.5), (0.2, 0.4), (0.2, 0.1), (0.55, 0.0), (0.86, 0.2), (0.8, 0.6),
           (0.62, 1.0)),),
}

_UNITS = ("cero uno dos tres cuatro cinco seis siete ocho nueve diez once doce trece catorce quince "
          "dieciséis diecisiete dieciocho diecinueve veinte veintiuno veintidós veintitrés veinticuatro "
          "veinticinco veintiséis veintisiete veintiocho veintinueve").split()
_TENS = "treinta cuarenta cincuenta sesenta setenta ochenta noventa".split()
_HUNDREDS = ("ciento doscientos trescientos cuatrocientos quinientos seiscientos setecientos "
             "ochocientos novecientos").split()


def in_words(n: int) -> str:
    """Spanish words for 0–99999, as clerks write them in the «CON LETRA» column."""
    if n < 30:
        return _UNITS[n]
    if n < 100:
        tens, unit = divmod(n, 10)
        return _TENS[tens - 3] + (f" y {_UNITS[unit]}" if unit else "")
    if n < 1000:
        hundreds, rest = divmod(n, 100)
        head = "cien" if n == 100 else _HUNDREDS[hundreds - 1]
        return head + (f" {in_words(rest)}" if rest else "")
    thousands, rest = divmod(n, 1000)
    head = "mil" if thousands == 1 else f"{in_words(thousands)} mil"
    return head + (f" {in_words(rest)}" if rest else "")


FONT_FILES = {"regular": "LiberationSans-Regular.ttf", "bold": "LiberationSans-Bold.ttf",
              "italic": "LiberationSans-Italic.ttf"}


@cache
def load_font(size: int, style: str = "regular") -> ImageFont.FreeTypeFont:
    """Liberation Sans (the metrics of printed forms) when installed, else Pillow's bundled font."""
    try:
        return ImageFont.truetype(FONT_FILES[style], size)
    except OSError:
        return ImageFont.load_default(size=size)  # type: ignore[return-value]


def glyphs(text: str, font: ImageFont.FreeTypeFont) -> str:
    """Pillow's bundled font has no accented capitals: fall back to plain letters there."""
    if font.getname()[0] == "Liberation Sans":
        return text
    return "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))


def _spline(points: Sequence[tuple[float, float]], steps: int = 6) -> list[tuple[float, float]]:
    """Catmull-Rom through `points`: a smooth pen path."""
    if len(points) < 3:
        return list(points)
    padded = [points[0], *points, points[-1]]
    out: list[tuple[float, float]] = []
    for i in range(1, len(padded) - 2):
        p0, p1, p2, p3 = padded[i - 1], padded[i], padded[i + 1], padded[i + 2]
        for s in range(steps):
            t = s / steps
            out.append(tuple(  # type: ignore[arg-type]
                0.5 * (2 * p1[k] + (-p0[k] + p2[k]) * t + (2 * p0[k] - 5 * p1[k] + 4 * p2[k] - p3[k]) * t * t
                       + (-p0[k] + 3 * p1[k] - 3 * p2[k] + p3[k]) * t ** 3) for k in (0, 1)))
    out.append(points[-1])
    return out


class Pen:
    """One clerk's pen: ink colour, stroke width, slant and a shaky hand."""

    def __init__(self, draw: ImageDraw.ImageDraw, rng: random.Random) -> None:
        self.draw, self.rng = draw, rng
        self.ink = tuple(max(0, min(255, c + rng.randint(-12, 12))) for c in rng.choice(INKS))
        self.width = rng.randint(5, 8)
        self.slant = rng.uniform(0.08, 0.28)

    def digits(self, text: str, x: float, baseline: float, height: float) -> None:
        rng = self.rng
        for ch in text:
            h = height * rng.uniform(0.88, 1.08)
            w = h * rng.uniform(0.5, 0.62)
            top = baseline - h + rng.uniform(-4, 4)
            for stroke in DIGIT_STROKES[ch]:
                shaky = [(px + rng.gauss(0, 0.03), py + rng.gauss(0, 0.025)) for px, py in stroke]
                path = [(x + px * w + (1 - py) * h * self.slant, top + py * h) for px, py in _spline(shaky)]
                self.draw.line(path, fill=self.ink, width=self.width + rng.randint(-1, 1), joint="curve")
            x += w + h * rng.uniform(0.18, 0.32)

    def words(self, page: Image.Image, text: str, x: int, baseline: int, size: int) -> None:
        font = load_font(size, "italic")
        text = glyphs(text, font)
        right, bottom = (round(v) for v in font.getbbox(text)[2:])
        mask = Image.new("L", (right + size, bottom + size // 2), 0)
        ImageDraw.Draw(mask).text((size // 4, 0), text, font=font, fill=255, stroke_width=1, stroke_fill=255)
        slant = self.slant + self.rng.uniform(-0.05, 0.05)
        mask = mask.transform(mask.size, Image.Transform.AFFINE, (1, slant, -slant * mask.height, 0, 1, 0),
                              resample=Image.Resampling.BILINEAR)
        mask = mask.rotate(self.rng.uniform(-1.5, 1.5), resample=Image.Resampling.BILINEAR, expand=True)
        page.paste(Image.new("RGB", mask.size, self.ink), (x, baseline - bottom), mask)

    def scribble(self, box: tuple[float, float, float, float], loops: int) -> None:
        x0, y0, x1, y1 = box
        points = [(self.rng.uniform(x0, x1), self.rng.uniform(y0, y1)) for _ in range(loops)]
        self.draw.line(_spline(points, 8), fill=self.ink, width=max(3, self.width - 3), joint="curve")
