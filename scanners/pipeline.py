"""One dropped file's bytes → compressed, identified pages. Pure: no database, no file writes.

The scan service runs `process` in a ProcessPoolExecutor (Pillow and zxing work must stay off
the event loop); everything here is picklable, including `Rejected`.
"""

from __future__ import annotations

import logging
import resource
from dataclasses import dataclass

from catd_node.config import ImageConfig
from scanners.compress import Compressed, derive
from scanners.decode import Rejected, decode
from scanners.identify import identify, read_qrs

log = logging.getLogger("catd.scan.pipeline")

WORKER_MEMORY_BYTES = 2 * 1024 ** 3   # a 40 MP RGB page and its copies fit well within this


@dataclass(frozen=True)
class ProcessedPage:
    compressed: Compressed
    page: int                  # 1-based (TIFF page)
    acta: str | None
    identified_by: str | None  # "qr" | "sidecar" | "filename" | None


def worker_init(memory_bytes: int = WORKER_MEMORY_BYTES) -> None:
    """ProcessPoolExecutor initializer: cap the worker's address space (docs/design.md, Images)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = memory_bytes if hard == resource.RLIM_INFINITY else min(memory_bytes, hard)
    if soft == resource.RLIM_INFINITY or soft > limit:
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def _qr_for(texts: list[str], catalog_keys: frozenset[str]) -> str | None:
    """Prefer a QR that names a catalog acta; otherwise the first one (logged by identify)."""
    for text in texts:
        if text in catalog_keys:
            return text
    return texts[0] if texts else None


def process(data: bytes, name: str, sidecar_text: str | None, cfg: ImageConfig,
            catalog_keys: frozenset[str]) -> list[ProcessedPage]:
    """Decode, compress and identify every page of one file; raises `Rejected`."""
    try:
        pages = decode(data, name)
    except MemoryError as exc:
        raise Rejected("decompression_bomb", f"{name}: decoding ran out of memory") from exc
    result: list[ProcessedPage] = []
    for page in pages:
        try:
            reference, compressed = derive(page, cfg)
            # The QR is read on the downscaled page first: 3–4× fewer pixels, same modules.
            qr_text = _qr_for(read_qrs(reference, full=page.image), catalog_keys)
        except MemoryError as exc:
            raise Rejected("decompression_bomb", f"{name} page {page.index}: out of memory") from exc
        acta, how = identify(qr_text, sidecar_text, name, catalog_keys)
        result.append(ProcessedPage(compressed=compressed, page=page.index, acta=acta, identified_by=how))
        log.debug("processed file=%s page=%d acta=%s by=%s bytes=%d", name, page.index, acta, how,
                  len(compressed.data))
    return result
