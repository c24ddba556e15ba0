"""Small acta images for the rehearsal: the key, a QR code with it, and each printed value.

`specimen.py` draws a realistic 300-dpi letter page (about half a second each); a simulacro
of a whole election needs hundreds per second, and what the node does with an image — decode,
compress, read the QR, store it under its SHA-256 — does not depend on its realism. So a
sheet is a small grey page at 100 dpi: text pasted from cached glyph runs, a QR code of fixed
mask (segno's mask search is most of its time), an illegible cell as an ink smudge and a
blank one (SIN DATO) left empty, saved as PNG. About 2 ms to make; the node's WebP encode of
it about 10 ms (a 300-dpi page: about 1 s).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import segno
from PIL import Image, ImageDraw, ImageFont

DPI = 100                     # 3 × 4 in: the scanner keeps it as is (its target is 200 dpi)
WIDTH = 300
ROW = 13
TOP = 92
MARGIN = 10
VALUE_X = 228
QR_SCALE = 3                  # pixels per module: read after the node's WebP at quality 60
QR_QUIET = 4                  # modules of white around the code (ISO/IEC 18004)
ILEGIBLE = "ILEGIBLE"
SIN_DATO = "SIN DATO"
FONT_FILES = {False: ("DejaVuSans.ttf", "LiberationSans-Regular.ttf"),
              True: ("DejaVuSans-Bold.ttf", "LiberationSans-Bold.ttf")}


@dataclass(frozen=True)
class Sheet:
    """What is printed and written on one acta."""

    key: str                                # CLAVE_ACTA, also in the QR code
    title: str                              # the election, as the acta heads it
    rows: tuple[tuple[str, str], ...]       # (field, what the clerk reads: digits, ILEGIBLE, SIN DATO)


@lru_cache(maxsize=4)
def _font(size: int, bold: bool) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    for name in FONT_FILES[bold]:
        try:
            return ImageFont.truetype(name, size)
        except OSError:
            continue
    return ImageFont.load_default(size=size)


@lru_cache(maxsize=8192)
def _ink(text: str, size: int, bold: bool) -> Image.Image:
    """A run of text as an ink mask (255 = ink), rendered once: labels and numbers repeat."""
    font = _font(size, bold)
    left, top, right, bottom = font.getbbox(text)
    mask = Image.new("L", (max(1, int(right - left)), max(1, int(bottom - top))), 0)
    ImageDraw.Draw(mask).text((-left, -top), text, font=font, fill=255)
    return mask


def _write(page: Image.Image, xy: tuple[int, int], text: str, size: int, bold: bool = False) -> None:
    mask = _ink(text, size, bold)
    page.paste(0, (xy[0], xy[1], xy[0] + mask.width, xy[1] + mask.height), mask)


@lru_cache(maxsize=1)
def _smudge() -> Image.Image:
    """Ink scribbled over a cell until nothing can be read in it."""
    mask = Image.new("L", (48, ROW - 3), 0)
    draw = ImageDraw.Draw(mask)
    for x in range(0, 48, 4):
        draw.line((x, ROW - 4, x + 8, 0), fill=200, width=2)
    return mask


def qr(key: str) -> Image.Image:
    """The QR code of `key` with its quiet zone, QR_SCALE pixels per module."""
    code = segno.make_qr(key, error="m", mask=0, boost_error=False)
    matrix = code.matrix
    side = len(matrix) + 2 * QR_QUIET
    blank = b"\xff" * side
    rows = [blank] * QR_QUIET
    pad = b"\xff" * QR_QUIET
    rows += [pad + bytes(0 if dark else 255 for dark in row) + pad for row in matrix]
    rows += [blank] * QR_QUIET
    image = Image.frombytes("L", (side, side), b"".join(rows))
    return image.resize((side * QR_SCALE, side * QR_SCALE), Image.Resampling.NEAREST)


def page(sheet: Sheet) -> Image.Image:
    """The acta as a grey image."""
    height = TOP + ROW * len(sheet.rows) + MARGIN
    image = Image.new("L", (WIDTH, height), 250)
    code = qr(sheet.key)
    image.paste(code, (WIDTH - code.width - 2, 2))
    _write(image, (MARGIN, 8), "ACTA DE ESCRUTINIO Y CÓMPUTO", 10, bold=True)
    _write(image, (MARGIN, 26), sheet.title[:36], 10)
    _write(image, (MARGIN, 46), sheet.key, 12, bold=True)
    draw = ImageDraw.Draw(image)
    y = TOP
    for field, value in sheet.rows:
        draw.line((MARGIN, y + ROW - 1, WIDTH - MARGIN, y + ROW - 1), fill=170)
        _write(image, (MARGIN + 2, y + 2), field[:30], 9)
        if value == ILEGIBLE:
            smudge = _smudge()
            image.paste(40, (VALUE_X, y + 1, VALUE_X + smudge.width, y + 1 + smudge.height), smudge)
        elif value != SIN_DATO:
            _write(image, (VALUE_X, y + 2), value, 11, bold=True)
        y += ROW
    return image


def render(sheet: Sheet) -> bytes:
    """The acta as a PNG file, as a scanner or a phone would hand it over."""
    buffer = io.BytesIO()
    page(sheet).save(buffer, "PNG", compress_level=1, dpi=(DPI, DPI))
    return buffer.getvalue()


def rows_of(fields: Sequence[str], typed: dict[str, str]) -> tuple[tuple[str, str], ...]:
    """The printed rows of an acta: each field on its ballot with what a clerk would type."""
    return tuple((field, typed[field]) for field in fields)
