"""Which acta an image shows: QR code on the page, then sidecar JSON, then file name (CONTRACTS)."""

from __future__ import annotations

import json
import logging
import time
from pathlib import PurePath

import zxingcpp
from PIL import Image

from catd_node import keys_format

log = logging.getLogger("catd.scan.identify")

QR_BUDGET_S = 1.5          # time for the fallback passes; the first pass always runs
QR_FALLBACK_LONG_SIDE = 1200
QR_ONLY = zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)


def _decode(image: Image.Image) -> list[str]:
    # try_invert off: actas are dark print on light paper, and the inverted pass doubles a miss.
    found = zxingcpp.read_barcodes(image, formats=QR_ONLY, try_invert=False)
    return [barcode.text.strip() for barcode in found if barcode.valid and barcode.text.strip()]


def _gray(image: Image.Image) -> Image.Image:
    return image if image.mode == "L" else image.convert("L")


def _smaller(image: Image.Image) -> Image.Image | None:
    long_side = max(image.size)
    if long_side <= QR_FALLBACK_LONG_SIDE:
        return None
    scale = QR_FALLBACK_LONG_SIDE / long_side
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.BOX)


def read_qrs(image: Image.Image, *, full: Image.Image | None = None,
             budget_s: float = QR_BUDGET_S) -> list[str]:
    """Texts of every QR code on the page.

    Tries `image` (e.g. the page at the target dpi), then `full` (the page as scanned) if given,
    then a small box-filtered copy, in which noise and JPEG blocks no longer hide finder
    patterns. The first pass always runs; later passes only while within `budget_s`.
    """
    started = time.monotonic()
    gray = _gray(image)
    texts = _decode(gray)
    fallbacks = [lambda: _gray(full) if full is not None and full.size != image.size else None,
                 lambda: _smaller(gray)]
    for fallback in fallbacks:
        if texts or time.monotonic() - started > budget_s:
            break
        candidate = fallback()
        if candidate is not None:
            texts = _decode(candidate)
    return texts


def read_qr(image: Image.Image) -> str | None:
    """The text of the first QR code found on the page, or None."""
    texts = read_qrs(image)
    return texts[0] if texts else None


def _sidecar_key(sidecar_text: str, file_name: str) -> str | None:
    try:
        data = json.loads(sidecar_text.lstrip("\ufeff"))  # Windows editors prepend a BOM
    except (json.JSONDecodeError, ValueError) as exc:
        log.warning("sidecar_ignored file=%s why=not_json error=%s", file_name, exc)
        return None
    key = data.get("acta") if isinstance(data, dict) else None
    if key is None and isinstance(data, dict) and "origen" in data:
        return None  # a phone upload's sidecar says where the photo was taken, not which acta
    if not isinstance(key, str):
        log.warning("sidecar_ignored file=%s why=no_acta_string", file_name)
        return None
    return key.strip()


def _catalog_key(text: str, how: str, file_name: str, catalog_keys: frozenset[str]) -> str | None:
    """`text` if it names a catalog acta; otherwise None, logged with why the image waits for a
    clerk. Text that does not look like an acta key is named as such (issue 12): it never
    becomes a key, whatever a QR code, a sidecar or a file name says."""
    if text in catalog_keys:
        return text
    if not keys_format.looks_like_acta_key(text):
        log.warning("%s_ignored file=%s why=not_an_acta_key text=%r waits_for_clerk",
                    how, file_name, text[:80])
    elif how != "filename":  # most file names are no acta key at all: only QR and sidecar are news
        log.log(logging.WARNING if how == "sidecar" else logging.INFO,
                "%s_ignored file=%s why=not_in_catalog acta=%r waits_for_clerk", how, file_name, text[:80])
    return None


def identify(qr_text: str | None, sidecar_text: str | None, file_name: str,
             catalog_keys: frozenset[str]) -> tuple[str | None, str | None]:
    """(acta key, how) — "qr", "sidecar", "filename" — or (None, None) for a clerk to assign."""
    if qr_text is not None and (key := _catalog_key(qr_text.strip(), "qr", file_name, catalog_keys)):
        return key, "qr"
    if sidecar_text is not None:
        sidecar_key = _sidecar_key(sidecar_text, file_name)
        if sidecar_key is not None and (key := _catalog_key(sidecar_key, "sidecar", file_name, catalog_keys)):
            return key, "sidecar"
    stem = PurePath(file_name).stem.strip()
    if key := _catalog_key(stem, "filename", file_name, catalog_keys):
        return key, "filename"
    return None, None
