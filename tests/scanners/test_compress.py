"""The weak-link derivative: target dpi, codec settings, size and SSIM on specimen scans."""

from __future__ import annotations

import importlib.util
import io
from pathlib import Path
from statistics import median

import pytest
from PIL import Image, ImageChops, ImageFilter, JpegImagePlugin

from catd_node.config import ImageConfig
from scanners.compress import compress, reference
from scanners.decode import Page, decode
from simulacro import specimen

ROOT = Path(__file__).resolve().parents[2]
NUMBER_COLUMN = (0.42, 0.27, 0.64, 0.82)


def _bench():
    spec = importlib.util.spec_from_file_location("bench_ingest", ROOT / "benchmarks" / "ingest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ssim = _bench().ssim


@pytest.fixture(scope="module")
def scans() -> list[Page]:
    """Three specimen scans as a scanner writes them (JPEG, 300 dpi), decoded."""
    pages = []
    for seed in (21, 22, 23):
        image = specimen.render("DIP-14-01-0125-E01", {"PAN": 17 * seed, "MORENA": 3 * seed}, seed=seed)
        pages.append(decode(specimen.encode(image, seed=seed), f"s{seed}.jpg")[0])
    return pages


def _crop(image: Image.Image, box: tuple[float, float, float, float]) -> Image.Image:
    w, h = image.size
    return image.crop((round(box[0] * w), round(box[1] * h), round(box[2] * w), round(box[3] * h)))


def test_ssim_is_one_for_identical_and_drops_for_a_blur(scans):
    small = scans[0].image.resize((850, 1100))
    assert ssim(small, small) == pytest.approx(1.0)
    assert ssim(small, small.filter(ImageFilter.GaussianBlur(2))) < 0.9


def test_default_webp_at_200_dpi_is_small_and_faithful(scans):
    cfg = ImageConfig()
    sizes, scores, cells = [], [], []
    for page in scans:
        out = compress(page, cfg)
        assert (out.format, out.width, out.height, out.dpi) == ("webp", 1700, 2200, 200)
        assert out.data[:4] == b"RIFF" and out.data[8:12] == b"WEBP"
        decoded = Image.open(io.BytesIO(out.data))
        assert decoded.size == (1700, 2200)
        ref = reference(page, cfg)
        sizes.append(len(out.data))
        scores.append(ssim(ref, decoded))
        cells.append(ssim(_crop(ref, NUMBER_COLUMN), _crop(decoded, NUMBER_COLUMN)))
    assert median(sizes) <= 120_000, sizes
    assert min(scores) >= 0.95, scores
    assert min(cells) >= 0.95, cells  # the handwritten numbers themselves


def test_jpeg_fallback_is_progressive_444_with_dpi(scans):
    out = compress(scans[0], ImageConfig(format="jpeg", quality=75))
    decoded = Image.open(io.BytesIO(out.data))
    assert decoded.format == "JPEG"
    assert decoded.info.get("progressive") or decoded.info.get("progression")
    assert JpegImagePlugin.get_sampling(decoded) == 0  # 4:4:4 keeps thin coloured strokes
    assert round(decoded.info["dpi"][0]) == 200
    assert ssim(reference(scans[0], ImageConfig(format="jpeg")), decoded) >= 0.95


def _chroma(image: Image.Image) -> int:
    """Largest red−blue difference: 0 for a gray image, large for blue ink on paper."""
    if image.mode == "L":
        return 0
    r, _, b = image.split()
    return max(ImageChops.difference(r, b).getextrema())


def test_gray_mode_gives_a_gray_derivative(scans):
    gray_jpeg = Image.open(io.BytesIO(compress(scans[0], ImageConfig(color="gray", format="jpeg")).data))
    assert gray_jpeg.mode == "L"
    # WebP has no gray mode: Pillow stores neutral chroma, so the pixels are gray.
    gray_webp = Image.open(io.BytesIO(compress(scans[0], ImageConfig(color="gray")).data))
    assert _chroma(gray_webp) <= 3
    color_webp = Image.open(io.BytesIO(compress(scans[0], ImageConfig()).data))
    assert _chroma(color_webp) > 60  # blue ink stays blue


def test_never_upscales_a_low_dpi_scan():
    page = Page(image=Image.new("L", (1275, 1650), 230), index=1, source_dpi=150, format="JPEG")
    out = compress(page, ImageConfig(dpi=200))
    assert (out.width, out.height, out.dpi) == (1275, 1650, 150)


@pytest.mark.parametrize(("source_dpi", "dpi", "size"), [
    (None, 200, (1700, 2200)),   # unknown: assumed 300
    (600, 200, (1700, 2200)),
    (600, 300, (2550, 3300)),
    (300, 150, (1275, 1650)),
])
def test_downscales_from_the_source_dpi(source_dpi, dpi, size):
    scale = (source_dpi or 300) / 300
    image = Image.new("RGB", (round(2550 * scale), round(3300 * scale)), (240, 240, 230))
    out = compress(Page(image=image, index=1, source_dpi=source_dpi, format="PNG"), ImageConfig(dpi=dpi))
    assert (out.width, out.height, out.dpi) == (*size, dpi)


def test_an_unknown_codec_is_refused():
    page = Page(image=Image.new("L", (100, 100)), index=1, source_dpi=300, format="PNG")
    with pytest.raises(ValueError, match="jbig2"):
        compress(page, ImageConfig(format="jbig2"))
