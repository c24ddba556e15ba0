"""Identification order (CONTRACTS): QR with a catalog key, then sidecar JSON, then file name."""

from __future__ import annotations

import json
import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from scanners.identify import identify, read_qr, read_qrs
from simulacro import specimen

KEY = "DIP-14-01-0123-B01"
OTHER = "DIP-14-01-0124-C01"
CATALOG = frozenset({KEY, OTHER, "DIP-14-01-0125-E01"})


@pytest.fixture(scope="module")
def scan() -> Image.Image:
    return specimen.render(KEY, {"PAN": 120, "PRI": 87}, seed=11)


def test_reads_the_qr_on_a_specimen_scan(scan):
    assert read_qr(scan) == KEY


def test_reads_the_qr_on_a_200_dpi_grayscale_copy(scan):
    small = scan.convert("L").resize((1700, 2200), Image.Resampling.BILINEAR)
    assert read_qrs(small) == [KEY]


def test_falls_back_to_the_full_page_when_the_small_copy_has_no_qr(scan):
    blank = Image.new("L", (1700, 2200), 250)
    assert read_qrs(blank, full=scan) == [KEY]


def test_a_page_without_qr_reads_none():
    assert read_qr(Image.new("RGB", (1275, 1650), (245, 243, 235))) is None


def test_qr_with_a_catalog_key_wins():
    assert identify(KEY, json.dumps({"acta": OTHER}), f"{OTHER}.jpg", CATALOG) == (KEY, "qr")


def test_qr_outside_the_catalog_falls_through_to_sidecar():
    sidecar = json.dumps({"acta": OTHER})
    assert identify("https://example.org/x", sidecar, "s.jpg", CATALOG) == (OTHER, "sidecar")


def test_sidecar_then_filename_then_nothing():
    assert identify(None, json.dumps({"acta": OTHER}), f"{KEY}.jpg", CATALOG) == (OTHER, "sidecar")
    assert identify(None, None, f"{KEY}.tif", CATALOG) == (KEY, "filename")
    assert identify(None, None, f"carpeta/{KEY}.png", CATALOG) == (KEY, "filename")
    assert identify(None, None, "scan_0001.jpg", CATALOG) == (None, None)


BAD_SIDECARS = ["{not json", "[1, 2]", json.dumps({"acta": 7}), json.dumps({"clave": KEY}),
                json.dumps({"acta": "DIP-99-99-9999-X99"}), "\ufeff", ""]


@pytest.mark.parametrize("sidecar", BAD_SIDECARS)
def test_a_bad_sidecar_is_logged_and_falls_through(caplog, sidecar):
    with caplog.at_level(logging.WARNING, logger="catd.scan.identify"):
        assert identify(None, sidecar, f"{KEY}.jpg", CATALOG) == (KEY, "filename")
    assert any("sidecar_ignored" in r.getMessage() for r in caplog.records)


def test_a_sidecar_written_with_a_byte_order_mark_is_read():
    sidecar = "\ufeff" + json.dumps({"acta": f" {OTHER} "})
    assert identify(None, sidecar, "scan_0001.jpg", CATALOG) == (OTHER, "sidecar")


def _oracle(qr, sidecar_key, sidecar_ok, stem):
    if qr in CATALOG:
        return qr, "qr"
    if sidecar_ok and sidecar_key in CATALOG:
        return sidecar_key, "sidecar"
    if stem in CATALOG:
        return stem, "filename"
    return None, None


candidates = st.sampled_from([*sorted(CATALOG), "", "DIP-00-00-0000-Z00", "scan_0007", "http://x/y"])


@given(qr=st.none() | candidates, sidecar_key=candidates, sidecar_kind=st.sampled_from(["none", "ok", "bad"]),
       stem=candidates)
def test_identification_follows_the_contract_order(qr, sidecar_key, sidecar_kind, stem):
    sidecar = {"none": None, "ok": json.dumps({"acta": sidecar_key}), "bad": "{"}[sidecar_kind]
    expected = _oracle(qr, sidecar_key, sidecar_kind == "ok", stem)
    assert identify(qr, sidecar, f"{stem}.jpg", CATALOG) == expected


@pytest.mark.parametrize("how", ["qr", "sidecar", "filename"])
def test_text_that_is_not_an_acta_key_waits_for_a_clerk_with_its_reason(caplog, how):
    evil = '=HYPERLINK("http://evil.example","x")'
    qr, sidecar, name = {"qr": (evil, None, "scan_0001.jpg"),
                         "sidecar": (None, json.dumps({"acta": evil}), "scan_0001.jpg"),
                         "filename": (None, None, "=1+1.jpg")}[how]
    with caplog.at_level(logging.INFO, logger="catd.scan.identify"):
        assert identify(qr, sidecar, name, CATALOG) == (None, None)
    assert any("not_an_acta_key" in r.getMessage() and "waits_for_clerk" in r.getMessage()
               for r in caplog.records)
