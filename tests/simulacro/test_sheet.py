"""The rehearsal's small acta images: the scanner pipeline reads their QR; the cells show what a
clerk reads (a number, a smudge for ILEGIBLE, nothing for SIN DATO); fast enough for a whole state."""

from __future__ import annotations

import io
import time

from PIL import Image

from catd_node.config import ImageConfig
from scanners.pipeline import process
from simulacro import sheet

KEY = "090085C0100A02"
ROWS = (("PAN", "241"), ("PRI", "ILEGIBLE"), ("PRD", "SIN DATO"), ("MORENA", "1024"))


def cell_ink(image: Image.Image, row: int) -> int:
    """Dark pixels in the value cell of row `row`."""
    top = sheet.TOP + row * sheet.ROW + 1
    box = (sheet.VALUE_X, top, sheet.WIDTH - sheet.MARGIN, top + sheet.ROW - 3)
    return sum(image.convert("L").crop(box).point(lambda v: 255 if v < 128 else 0).histogram()[255:])


def test_the_scanner_pipeline_identifies_the_sheet_by_its_qr_code():
    data = sheet.render(sheet.Sheet(KEY, "JEFATURA DE GOBIERNO", ROWS))
    pages = process(data, "acta-000001.png", None, ImageConfig(), frozenset({KEY, "090085C0100A01"}))
    assert [(p.acta, p.identified_by) for p in pages] == [(KEY, "qr")]
    assert pages[0].compressed.format == "webp"


def test_a_key_outside_the_catalog_is_read_but_not_identified():
    data = sheet.render(sheet.Sheet("FUERA-12", "JEFATURA DE GOBIERNO", ROWS))
    pages = process(data, "acta-000002.png", None, ImageConfig(), frozenset({KEY}))
    assert pages[0].acta is None
    from simulacro.clerks import read_key
    assert read_key(data) == "FUERA-12"


def test_cells_show_numbers_a_smudge_for_ilegible_and_nothing_for_sin_dato():
    image = Image.open(io.BytesIO(sheet.render(sheet.Sheet(KEY, "JEFATURA DE GOBIERNO", ROWS))))
    assert round(image.info["dpi"][0]) == sheet.DPI
    number, smudge, blank = cell_ink(image, 0), cell_ink(image, 1), cell_ink(image, 2)
    assert number > 20 and smudge > 2 * number and blank == 0


def test_a_whole_states_images_are_quick_to_make():
    rows = tuple((f"FIELD_{i}", str(i * 37)) for i in range(22))
    started = time.process_time()
    for n in range(100):
        sheet.render(sheet.Sheet(f"09{n:04d}B0100A02", "JEFATURA DE GOBIERNO", rows))
    per_sheet = (time.process_time() - started) / 100
    assert per_sheet < 0.02, f"{per_sheet * 1000:.1f} ms of CPU per sheet (about 3 ms expected)"
