"""The derivative image sent over weak links: downscaled to the configured dpi, WebP or JPEG.

Handwritten digits must stay legible, so only continuous-tone codecs are used: never a lossy
symbol-substitution codec (JBIG2-style), which has swapped digits (6→8) on real copiers.
"""

from __future__ import annotations

from dataclasses import dataclass
from io import BytesIO

from PIL import Image

from catd_node.config import ImageConfig
from scanners.decode import Page

ASSUMED_SOURCE_DPI = 300   # what office scanners default to when the file carries no dpi
WEBP_METHOD = 4            # 4–6; 4 is the fastest with good size (docs/design.md, Images: ~70 KB at 200 dpi)


@dataclass(frozen=True)
class Compressed:
    data: bytes
    format: str        # "webp" | "jpeg"
    width: int
    height: int
    dpi: int


def target_size(size: tuple[int, int], source_dpi: int | None, dpi: int) -> tuple[tuple[int, int], int]:
    """The pixel size and dpi of the derivative; never upscales."""
    source = source_dpi or ASSUMED_SOURCE_DPI
    if source <= dpi:
        return size, source
    scale = dpi / source
    width, height = size
    return (max(1, round(width * scale)), max(1, round(height * scale))), dpi


def reference(page: Page, cfg: ImageConfig) -> Image.Image:
    """The page at the target dpi and colour mode, before lossy encoding (the SSIM reference)."""
    image = page.image
    if cfg.color == "gray" and image.mode != "L":
        image = image.convert("L")
    size, _ = target_size(image.size, page.source_dpi, cfg.dpi)
    if size != image.size:
        # Pillow's antialiased triangle filter: strokes stay sharp at 200 dpi while sensor grain,
        # which costs bytes and carries no information, is averaged away (≈8% smaller than Lanczos
        # at equal quality on specimen scans; see benchmarks/RESULTS.md).
        image = image.resize(size, Image.Resampling.BILINEAR)
    return image


def encode(image: Image.Image, cfg: ImageConfig, dpi: int) -> bytes:
    """Encode an already-resized image with the configured codec."""
    buffer = BytesIO()
    if cfg.format == "webp":
        image.save(buffer, "WEBP", quality=cfg.quality, method=WEBP_METHOD)
    elif cfg.format == "jpeg":
        # 4:4:4 keeps thin coloured ink strokes; progressive gives most of mozjpeg's gain for free.
        image.save(buffer, "JPEG", quality=cfg.quality, progressive=True, optimize=True,
                   subsampling=0, dpi=(dpi, dpi))
    else:
        raise ValueError(f"unknown image format {cfg.format!r}")
    return buffer.getvalue()


def derive(page: Page, cfg: ImageConfig) -> tuple[Image.Image, Compressed]:
    """The page at the target dpi (for QR reading and SSIM) and its encoded derivative."""
    _, dpi = target_size(page.image.size, page.source_dpi, cfg.dpi)
    image = reference(page, cfg)
    data = encode(image, cfg, dpi)
    return image, Compressed(data=data, format=cfg.format, width=image.width, height=image.height, dpi=dpi)


def compress(page: Page, cfg: ImageConfig) -> Compressed:
    """The derivative of one page."""
    return derive(page, cfg)[1]
