"""Safe decoding: every rejection code from a real crafted file, pages, orientation, modes."""

from __future__ import annotations

import io
import pickle
import struct
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from scanners.decode import ACCEPTED_FORMATS, MAX_PAGES, REJECTION_CODES, Rejected, decode


def _textured(size: tuple[int, int] = (320, 240), mode: str = "RGB") -> Image.Image:
    noise = Image.effect_noise(size, 50).convert("L")
    return noise if mode == "L" else Image.merge("RGB", (noise, noise.rotate(180), noise))


def _encoded(image: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims width×height pixels (a decompression bomb's shape)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(b"\0" * 4096))
            + _chunk(b"IEND", b""))


def _tiff_pages(count: int, size: tuple[int, int] = (64, 48)) -> bytes:
    frames = [Image.new("L", size, 10 * i) for i in range(count)]
    return _encoded(frames[0], "TIFF", save_all=True, append_images=frames[1:], dpi=(300, 300))


def _written(tmp_path: Path, name: str, data: bytes) -> tuple[bytes, str]:
    """Write the crafted file as a scanner would drop it, and read it back."""
    path = tmp_path / name
    path.write_bytes(data)
    return path.read_bytes(), path.name


def _corrupt_tiff() -> bytes:
    data = bytearray(_encoded(_textured(), "TIFF"))
    data[8:64] = b"\xff" * 56  # the first IFD (right after the header) is garbage now
    return bytes(data)


def _half(data: bytes) -> bytes:
    return data[: len(data) // 2]


CASES = {
    "empty.jpg": (lambda: b"", "empty"),
    "half.jpg": (lambda: _half(_encoded(_textured(), "JPEG", quality=90)), "truncated"),
    "half.png": (lambda: _half(_encoded(_textured(), "PNG")), "truncated"),
    "half.webp": (lambda: _half(_encoded(_textured(), "WEBP")), "truncated"),
    "notes.jpg": (lambda: "Acta de la casilla 0123 — texto, no imagen\n".encode() * 20, "not_an_image"),
    "scan.gif": (lambda: _encoded(_textured(mode="L"), "GIF"), "unsupported_format"),
    "scan.bmp": (lambda: _encoded(_textured(), "BMP"), "unsupported_format"),
    "scan.pdf": (lambda: _encoded(_textured(), "PDF"), "unsupported_format"),
    "bomb.png": (lambda: _png_claiming(50_000, 50_000), "decompression_bomb"),
    "big.png": (lambda: _png_claiming(8_000, 7_000), "decompression_bomb"),      # 56 MP: our 40 MP limit
    "warned.png": (lambda: _png_claiming(10_000, 10_000), "decompression_bomb"),  # Pillow's warning band
    "broken.tif": (_corrupt_tiff, "corrupt"),
    "many.tif": (lambda: _tiff_pages(MAX_PAGES + 5), "too_many_pages"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_rejection_has_its_named_code(tmp_path, name):
    make, code = CASES[name]
    data, file_name = _written(tmp_path, name, make())
    with pytest.raises(Rejected) as caught:
        decode(data, file_name)
    assert caught.value.code == code, caught.value.detail
    assert file_name in caught.value.detail
    assert caught.value.code in REJECTION_CODES


def test_every_code_is_exercised():
    assert {code for _, code in CASES.values()} == set(REJECTION_CODES)


def test_truncated_second_tiff_page_names_the_page(tmp_path):
    frames = [_textured((300, 200), "L") for _ in range(2)]
    whole = _encoded(frames[0], "TIFF", save_all=True, append_images=frames[1:])
    data, name = _written(tmp_path, "two.tif", whole[: int(len(whole) * 0.8)])
    with pytest.raises(Rejected) as caught:
        decode(data, name)
    assert caught.value.code == "truncated"
    assert "page 2" in caught.value.detail


def test_rejected_survives_pickling_with_its_code():
    again = pickle.loads(pickle.dumps(Rejected("truncated", "x.jpg: ends early")))
    assert (again.code, again.detail) == ("truncated", "x.jpg: ends early")


@pytest.mark.parametrize("fmt", ACCEPTED_FORMATS)
def test_accepted_formats_decode_to_one_page(fmt):
    image = _textured()
    pages = decode(_encoded(image, fmt), f"scan.{fmt.lower()}")
    assert [(p.index, p.format, p.image.size, p.image.mode) for p in pages] == [(1, fmt, (320, 240), "RGB")]


def test_multipage_tiff_gives_every_page_in_order():
    pages = decode(_tiff_pages(4), "lote.tif")
    assert [p.index for p in pages] == [1, 2, 3, 4]
    assert [p.image.getpixel((5, 5)) for p in pages] == [0, 10, 20, 30]
    assert all(p.source_dpi == 300 and p.format == "TIFF" for p in pages)


def test_exactly_max_pages_is_accepted():
    assert len(decode(_tiff_pages(MAX_PAGES), "lote.tif")) == MAX_PAGES


def test_exif_rotated_jpeg_comes_out_upright():
    stored = Image.new("RGB", (400, 200), (255, 255, 255))
    stored.paste((0, 0, 0), (0, 0, 60, 60))  # dark mark at the stored top-left
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90° clockwise to display
    data = _encoded(stored, "JPEG", quality=95, exif=exif.tobytes())
    page = decode(data, "phone.jpg")[0]
    assert page.image.size == (200, 400)
    assert page.image.getpixel((190, 10))[0] < 60      # the mark is now top-right
    assert page.image.getpixel((10, 10))[0] > 200


def test_malformed_exif_is_ignored_not_fatal():
    data = _encoded(_textured(), "JPEG", exif=b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\xff\xff\x01")
    page = decode(data, "odd.jpg")[0]
    assert page.image.size == (320, 240)


def test_modes_are_normalised_to_rgb_or_l():
    gradient = Image.linear_gradient("L").resize((256, 64))
    wide = Image.frombytes("I;16", (256, 1), b"".join(struct.pack("<H", v * 257) for v in range(256)))
    rgba = Image.new("RGBA", (20, 20), (0, 0, 0, 0))
    cases = {
        "sixteen.png": (wide, "PNG", "L"),
        "cmyk.tif": (Image.new("CMYK", (20, 20), (0, 255, 255, 0)), "TIFF", "RGB"),
        "cmyk.jpg": (Image.new("CMYK", (20, 20), (0, 255, 255, 0)), "JPEG", "RGB"),
        "palette.png": (gradient.convert("P"), "PNG", "RGB"),
        "alpha.png": (rgba, "PNG", "RGB"),
        "gray-alpha.png": (Image.new("LA", (20, 20), (0, 0)), "PNG", "L"),
        "bilevel.tif": (gradient.convert("1"), "TIFF", "L"),
    }
    for name, (image, fmt, mode) in cases.items():
        page = decode(_encoded(image, fmt), name)[0]
        assert page.image.mode == mode, name
    sixteen = decode(_encoded(wide, "PNG"), "sixteen.png")[0].image
    assert sixteen.getextrema() == (0, 255)           # scaled, not clipped to white
    transparent = decode(_encoded(rgba, "PNG"), "alpha.png")[0].image
    assert transparent.getpixel((3, 3)) == (255, 255, 255)  # transparency becomes paper
    cmyk = decode(_encoded(Image.new("CMYK", (20, 20), (0, 255, 255, 0)), "TIFF"), "c.tif")[0].image
    assert cmyk.getpixel((3, 3)) == (255, 0, 0)


def test_source_dpi_only_when_plausible():
    page = Image.new("L", (2550, 3300), 255)
    assert decode(_encoded(page, "JPEG", dpi=(300, 300)), "a.jpg")[0].source_dpi == 300
    assert decode(_encoded(page, "PNG", dpi=(200, 200)), "a.png")[0].source_dpi == 200
    assert decode(_encoded(page, "JPEG"), "a.jpg")[0].source_dpi is None
    # 72 dpi on a 2550×3300 scan would be a 46-inch page: the tag is wrong, ignore it.
    assert decode(_encoded(page, "JPEG", dpi=(72, 72)), "a.jpg")[0].source_dpi is None


_SEED_FILES = [_encoded(_textured((48, 32)), fmt) for fmt in ("JPEG", "PNG", "TIFF", "WEBP")]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(which=st.sampled_from(range(len(_SEED_FILES))), cut=st.integers(0, 4000),
       flips=st.lists(st.tuples(st.integers(0, 4000), st.integers(1, 255)), max_size=6))
def test_damaged_files_yield_pages_or_a_named_rejection(which, cut, flips):
    data = bytearray(_SEED_FILES[which][: max(0, len(_SEED_FILES[which]) - cut)])
    for at, mask in flips:
        if data:
            data[at % len(data)] ^= mask
    try:
        pages = decode(bytes(data), "fuzz.bin")
    except Rejected as exc:
        assert exc.code in REJECTION_CODES
    else:
        assert pages and all(p.image.mode in ("RGB", "L") for p in pages)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=512))
def test_arbitrary_bytes_never_escape_as_other_errors(data):
    try:
        decode(data, "random.bin")
    except Rejected as exc:
        assert exc.code in REJECTION_CODES
