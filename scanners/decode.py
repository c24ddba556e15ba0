"""Safe decoding of a dropped file into upright RGB/L pages, or a named rejection.

Defences (docs/design.md, Images): a format allow-list passed to `Image.open`, a pixel limit with Pillow's
bomb warning raised as an error, `verify()` then a fresh `load()`, no LOAD_TRUNCATED_IMAGES,
EXIF orientation applied defensively, and a page cap for multi-page TIFFs.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from io import BytesIO

from PIL import Image, ImageOps, UnidentifiedImageError

log = logging.getLogger("catd.scan.decode")

ACCEPTED_FORMATS = ("JPEG", "PNG", "TIFF", "WEBP")
MAX_PIXELS = 40_000_000       # a letter page at 600 dpi is 33.7 MP
MAX_PAGES = 20
PLAUSIBLE_DPI = (50, 2400)
MAX_PAGE_INCHES = 20          # dpi metadata implying a larger page is wrong (e.g. 72 on a 300-dpi scan)

REJECTION_CODES = (
    "empty", "truncated", "not_an_image", "unsupported_format", "decompression_bomb", "corrupt",
    "too_many_pages",
)

# Image formats we recognise but do not accept: a clear reason beats "not an image".
_OTHER_MAGIC: tuple[tuple[bytes, int, str], ...] = (
    (b"GIF87a", 0, "GIF"), (b"GIF89a", 0, "GIF"), (b"BM", 0, "BMP"), (b"%PDF", 0, "PDF"),
    (b"\x00\x00\x00\x0cjP  ", 0, "JPEG 2000"), (b"\xff\x4f\xff\x51", 0, "JPEG 2000"),
    (b"\x00\x00\x01\x00", 0, "ICO"), (b"8BPS", 0, "PSD"), (b"SIMPLE  =", 0, "FITS"),
    (b"DDS ", 0, "DDS"), (b"\xff\x0a", 0, "JPEG XL"), (b"\x00\x00\x00\x0cJXL ", 0, "JPEG XL"),
    (b"P1", 0, "PNM"), (b"P2", 0, "PNM"), (b"P3", 0, "PNM"), (b"P4", 0, "PNM"), (b"P5", 0, "PNM"),
    (b"P6", 0, "PNM"), (b"\x0a\x05\x01", 0, "PCX"), (b"\x59\xa6\x6a\x95", 0, "Sun raster"),
    (b"\x76\x2f\x31\x01", 0, "OpenEXR"), (b"icns", 0, "ICNS"),
)
_FTYP_BRANDS = {b"heic": "HEIC", b"heix": "HEIC", b"mif1": "HEIF", b"msf1": "HEIF", b"avif": "AVIF",
                b"avis": "AVIF", b"hevc": "HEIC"}


class Rejected(Exception):
    """A file that cannot become an acta image; `code` is the quarantine reason."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail

    def __reduce__(self) -> tuple[type, tuple[str, str]]:  # survives the process pool
        return (Rejected, (self.code, self.detail))


@dataclass(frozen=True)
class Page:
    image: Image.Image        # mode RGB or L, upright
    index: int                # 1-based page number
    source_dpi: int | None    # from the file's metadata, when plausible
    format: str               # JPEG, PNG, TIFF or WEBP


def _accepted_magic(data: bytes) -> str | None:
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if data[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "TIFF"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return None


def _other_magic(data: bytes) -> str | None:
    for magic, offset, name in _OTHER_MAGIC:
        if data[offset:offset + len(magic)] == magic:
            return name
    if data[4:8] == b"ftyp":
        return _FTYP_BRANDS.get(data[8:12], "ISO media")
    return None


def _looks_truncated(data: bytes, fmt: str | None) -> bool:
    """Structural hint that the file ends early (a scanner still writing, a cut copy)."""
    if fmt == "PNG":
        return b"IEND" not in data[-64:]
    if fmt == "JPEG":
        return b"\xff\xd9" not in data[-4096:]
    if fmt == "WEBP" and len(data) >= 8:
        return int.from_bytes(data[4:8], "little") + 8 > len(data)
    return False


def _failure(exc: BaseException, data: bytes, name: str, where: str) -> Rejected:
    """Name the reason for a decoder exception."""
    if isinstance(exc, Rejected):
        return exc
    if isinstance(exc, Image.DecompressionBombError | Image.DecompressionBombWarning):
        return Rejected("decompression_bomb", f"{name}{where}: {exc}")
    text = str(exc)
    fmt = _accepted_magic(data)
    if isinstance(exc, EOFError) or "truncated" in text.lower() or _looks_truncated(data, fmt):
        why = text or type(exc).__name__
        return Rejected("truncated", f"{name}{where}: {fmt or 'image'} ends early ({why})")
    why = f"{type(exc).__name__}: {text}"
    return Rejected("corrupt", f"{name}{where}: {fmt or 'image'} cannot be decoded ({why})")


@contextmanager
def _guarded() -> Iterator[None]:
    """Pillow warnings silenced (bad EXIF, odd TIFF tags) except the bomb warning, which raises."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        yield


def _open(data: bytes, name: str) -> Image.Image:
    try:
        return Image.open(BytesIO(data), formats=ACCEPTED_FORMATS)
    except UnidentifiedImageError as exc:
        fmt = _accepted_magic(data)
        if fmt is not None:
            if _looks_truncated(data, fmt) or len(data) < 64:
                raise Rejected("truncated", f"{name}: {fmt} header ends early") from exc
            raise Rejected("corrupt", f"{name}: {fmt} header cannot be read") from exc
        other = _other_magic(data)
        if other is not None:
            accepted = ", ".join(ACCEPTED_FORMATS)
            raise Rejected("unsupported_format", f"{name}: {other} is not accepted ({accepted})") from exc
        raise Rejected("not_an_image", f"{name}: not a JPEG, PNG, TIFF or WebP image") from exc


def _check_size(image: Image.Image, name: str, where: str) -> None:
    width, height = image.size
    if width <= 0 or height <= 0:
        raise Rejected("corrupt", f"{name}{where}: image has no pixels ({width}×{height})")
    if width * height > MAX_PIXELS:
        raise Rejected("decompression_bomb",
                       f"{name}{where}: {width}×{height} = {width * height} pixels exceeds {MAX_PIXELS}")


def _source_dpi(image: Image.Image) -> int | None:
    raw = image.info.get("dpi")
    try:
        dpi = round(float(raw[0])) if raw else 0
    except (TypeError, ValueError, IndexError):
        return None
    if not PLAUSIBLE_DPI[0] <= dpi <= PLAUSIBLE_DPI[1]:
        return None
    if max(image.size) / dpi > MAX_PAGE_INCHES:
        return None
    return dpi


def _on_white(image: Image.Image, mode: str) -> Image.Image:
    """Flatten transparency onto white paper."""
    rgba = image.convert("RGBA")
    paper = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    paper.alpha_composite(rgba)
    return paper.convert(mode)


def normalise(image: Image.Image) -> Image.Image:
    """RGB or L, 8 bits per channel, transparency flattened onto white."""
    mode = image.mode
    if mode in ("RGB", "L"):
        return image
    if mode == "1":
        return image.convert("L")
    if mode.startswith("I;16") or mode in ("I", "F"):
        # 16-bit (or wider) gray: scale to 8 bits instead of clipping everything above 255 to white.
        wide = image.convert("I") if mode.startswith("I;16") else image
        extrema = wide.getextrema()
        top = float(extrema[1]) if isinstance(extrema[1], int | float) else 255.0
        scale = 255.0 / 65535.0 if top > 255 else 1.0
        return wide.point(lambda v: v * scale).convert("L")
    if mode in ("LA", "La"):
        return _on_white(image, "L")
    if mode in ("RGBA", "RGBa", "PA") or (mode == "P" and "transparency" in image.info):
        return _on_white(image, "RGB")
    return image.convert("RGB")  # P, CMYK, YCbCr, LAB, HSV, RGBX


ORIENTATION = 0x0112


def _upright(image: Image.Image, name: str, where: str) -> Image.Image:
    """The image as it should be viewed; the same object when EXIF asks for no turn."""
    try:
        if image.getexif().get(ORIENTATION, 1) in (1, None):
            return image  # exif_transpose would copy 25 MB for nothing (≈15 % of a page's CPU)
        turned = ImageOps.exif_transpose(image)
    except Exception as exc:  # malformed EXIF has crashed exif_transpose before (Pillow#4215)
        log.warning("exif_ignored file=%s%s error=%s", name, where, exc)
        return image
    return turned if turned is not None else image


def decode(data: bytes, name: str) -> list[Page]:
    """Every page of `data` as an upright RGB/L image, or `Rejected` with the reason."""
    if not data:
        raise Rejected("empty", f"{name}: 0 bytes")
    with _guarded():
        try:
            probe = _open(data, name)
            _check_size(probe, name, "")
            probe.verify()
        except Exception as exc:
            raise _failure(exc, data, name, "") from exc
        try:
            image = _open(data, name)
        except Exception as exc:
            raise _failure(exc, data, name, "") from exc
        fmt = "JPEG" if image.format == "MPO" else str(image.format)
        multi = fmt == "TIFF"
        pages: list[Page] = []
        index = 0
        while True:
            where = f" page {index + 1}" if multi else ""
            if index:
                try:
                    image.seek(index)
                except EOFError:
                    break
                except Exception as exc:
                    raise _failure(exc, data, name, where) from exc
            try:
                _check_size(image, name, where)
                image.load()
                dpi = _source_dpi(image)
                upright = normalise(_upright(image, name, where))
                if multi and upright is image:
                    upright = image.copy()  # the next seek() would replace this frame's pixels
            except Exception as exc:
                raise _failure(exc, data, name, where) from exc
            pages.append(Page(image=upright, index=index + 1, source_dpi=dpi, format=fmt))
            if not multi:
                break
            index += 1
            if index >= MAX_PAGES:
                if _has_frame(image, index):
                    raise Rejected("too_many_pages", f"{name}: more than {MAX_PAGES} pages")
                break
    return pages


def _has_frame(image: Image.Image, index: int) -> bool:
    try:
        image.seek(index)
    except EOFError:
        return False
    except Exception:
        return True  # a broken extra IFD still means the file claims too many pages
    return True
