"""pipeline.process: one file's bytes → identified derivatives, also across a process pool."""

from __future__ import annotations

import io
import json
import resource
from concurrent.futures import ProcessPoolExecutor

import pytest
from PIL import Image

from catd_node.config import ImageConfig
from scanners.decode import Rejected
from scanners.pipeline import ProcessedPage, process, worker_init
from simulacro import specimen

KEY = "DIP-14-01-0128-S01"
SECOND = "DIP-14-01-0129-B01"
CATALOG = frozenset({KEY, SECOND, "DIP-14-01-0130-C01"})
CFG = ImageConfig()


@pytest.fixture(scope="module")
def scan_jpeg() -> bytes:
    return specimen.encode(specimen.render(KEY, {"PAN": 80, "NULOS": 4}, seed=31), seed=31)


def _plain_page(dpi: int = 100) -> bytes:
    """A page with no QR (a back side, a form printed without one)."""
    buffer = io.BytesIO()
    Image.new("RGB", (850, 1100), (245, 242, 230)).save(buffer, "PNG", dpi=(dpi, dpi))
    return buffer.getvalue()


def test_a_scanner_jpeg_is_identified_by_its_qr(scan_jpeg):
    [page] = process(scan_jpeg, "scan_0001.jpg", None, CFG, CATALOG)
    assert (page.page, page.acta, page.identified_by) == (1, KEY, "qr")
    assert (page.compressed.width, page.compressed.height, page.compressed.dpi) == (1700, 2200, 200)
    assert len(page.compressed.data) < 160_000


def test_qr_beats_sidecar_and_file_name(scan_jpeg):
    [page] = process(scan_jpeg, f"{SECOND}.jpg", json.dumps({"acta": SECOND}), CFG, CATALOG)
    assert (page.acta, page.identified_by) == (KEY, "qr")


def test_without_qr_sidecar_then_file_name_then_unidentified():
    data = _plain_page()
    assert [(p.acta, p.identified_by) for p in process(data, "x.png", json.dumps({"acta": SECOND}), CFG,
                                                        CATALOG)] == [(SECOND, "sidecar")]
    assert [(p.acta, p.identified_by) for p in process(data, f"{SECOND}.png", "{broken", CFG,
                                                        CATALOG)] == [(SECOND, "filename")]
    [page] = process(data, "scan_0002.png", None, CFG, CATALOG)
    assert (page.acta, page.identified_by) == (None, None)
    assert (page.compressed.width, page.compressed.dpi) == (850, 100)  # a 100-dpi scan is not upscaled


def test_each_tiff_page_is_processed_and_identified_on_its_own():
    pages = [specimen.render(key, {}, seed=40 + i) for i, key in enumerate((KEY, SECOND))]
    pages.append(Image.new("RGB", (2550, 3300), (250, 250, 250)))  # a blank sheet in the batch
    buffer = io.BytesIO()
    pages[0].save(buffer, "TIFF", save_all=True, append_images=pages[1:], dpi=(300, 300),
                  compression="tiff_lzw")
    result = process(buffer.getvalue(), "lote.tif", None, CFG, CATALOG)
    assert [(p.page, p.acta, p.identified_by) for p in result] == [(1, KEY, "qr"), (2, SECOND, "qr"),
                                                                   (3, None, None)]


def test_rejections_propagate_with_their_code(scan_jpeg):
    with pytest.raises(Rejected) as caught:
        process(scan_jpeg[: len(scan_jpeg) // 3], "cut.jpg", None, CFG, CATALOG)
    assert caught.value.code == "truncated"


def test_process_writes_no_files(tmp_path, monkeypatch, scan_jpeg):
    monkeypatch.chdir(tmp_path)
    process(scan_jpeg, "scan_0003.jpg", None, CFG, CATALOG)
    assert list(tmp_path.iterdir()) == []


def _address_space_limit() -> int:
    return resource.getrlimit(resource.RLIMIT_AS)[0]


def test_runs_in_a_memory_capped_process_pool(scan_jpeg):
    with ProcessPoolExecutor(1, initializer=worker_init) as pool:
        assert pool.submit(_address_space_limit).result() == 2 * 1024 ** 3
        remote = pool.submit(process, scan_jpeg, "scan_0004.jpg", None, CFG, CATALOG).result()
        failed = pool.submit(process, b"", "empty.jpg", None, CFG, CATALOG)
        with pytest.raises(Rejected) as caught:
            failed.result()
    local = process(scan_jpeg, "scan_0004.jpg", None, CFG, CATALOG)
    assert isinstance(remote[0], ProcessedPage)
    assert remote == local  # deterministic, and everything crossed the process boundary intact
    assert caught.value.code == "empty"
