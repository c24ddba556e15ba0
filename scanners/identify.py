"""Which acta an image shows: QR code on the page, then sidecar JSON, then file name (CONTRACTS)."""

from __future__ import annotations

import json
import logging
import time
from pathlib import PurePath

import zxingcpp
from PIL import Image

log = logging.getLogger("catd.scan.identify")

QR_BUDGET_S = 1.5          # time for the fallback passes; the first pass always runs
QR_FALLBACK_LONG_SIDE = 1200


def _decode(image: Image.Image) -> list[str]:
    found = zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)
    return [barcode.text.strip() for barcode in found if barcode.valid and barcode.text.strip()]


def read_qrs(image: Image.Image, budget_s: float = QR_BUDGET_S) -> list[str]:
    """Texts of every QR code on the page: the full image, then a smaller grayscale copy."""
    started = time.monotonic()
    gray = image if image.mode == "L" else image.convert("L")
    texts = _decode(gray)
    if texts:
        return texts
    long_side = max(gray.size)
    if long_side > QR_FALLBACK_LONG_SIDE and time.monotonic() - started < budget_s:
        # Noise and JPEG blocks can hide finder patterns at full size; a box-filtered copy smooths them.
        scale = QR_FALLBACK_LONG_SIDE / long_side
        small = gray.resize((max(1, round(gray.width * scale)), max(1, round(gray.height * scale))),
                            Image.Resampling.BOX)
        texts = _decode(small)
    return texts


def read_qr(image: Image.Image) -> str | None:
    """The text of the first QR code found on the page, or None."""
    texts = read_qrs(image)
    return texts[0] if texts else None


def _sidecar_key(sidecar_text: str, file_name: str) -> str | None:
    try:
        data = json.loads(sidecar_text)
    except (json.JSONDecodeError, ValueError) as exc:
        log.warning("sidecar_ignored file=%s why=not_json error=%s", file_name, exc)
        return None
    key = data.get("acta") if isinstance(data, dict) else None
    if not isinstance(key, str):
        log.warning("sidecar_ignored file=%s why=no_acta_string", file_name)
        return None
    return key.strip()


def identify(qr_text: str | None, sidecar_text: str | None, file_name: str,
             catalog_keys: frozenset[str]) -> tuple[str | None, str | None]:
    """(acta key, how) — "qr", "sidecar", "filename" — or (None, None) for a clerk to assign."""
    if qr_text is not None and qr_text.strip() in catalog_keys:
        return qr_text.strip(), "qr"
    if qr_text is not None:
        log.info("qr_not_in_catalog file=%s text=%r", file_name, qr_text[:80])
    if sidecar_text is not None:
        key = _sidecar_key(sidecar_text, file_name)
        if key is not None and key in catalog_keys:
            return key, "sidecar"
        if key is not None:
            log.warning("sidecar_ignored file=%s why=not_in_catalog acta=%r", file_name, key[:80])
    stem = PurePath(file_name).stem.strip()
    if stem in catalog_keys:
        return stem, "filename"
    return None, None
