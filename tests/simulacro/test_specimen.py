"""The acta image generator: size, determinism, content, scanner-like files, CLI."""

from __future__ import annotations

import json
import random
import time

import pytest
from PIL import Image, ImageChops

from catd_node.catalog import load as load_election
from scanners.identify import read_qr
from simulacro import specimen
from tests import catalog_v2

KEY = "DIP-14-01-0127-C01"
VALUES = {"PAN": 131, "PRI": 98, "PRD": 7, "PVEM": 12, "PT": 30, "MC": 41, "MORENA": 204, "CNR": 0,
          "NULOS": 9, "TOTAL_ASENTADO": 532, "PERSONAS_VOTARON": 529, "REPRESENTANTES_VOTARON": 3,
          "BOLETAS_SOBRANTES": 155}


@pytest.fixture(scope="module")
def page() -> Image.Image:
    return specimen.render(KEY, VALUES, seed=5)


def _ink(image: Image.Image, box: tuple[int, int, int, int]) -> int:
    """Pixels in `box` clearly darker than paper and bluer than gray (pen ink, not print)."""
    r, _, b = (band.crop(box) for band in image.split())
    blue = ImageChops.subtract(b, r)  # b − r, clipped at 0
    dark = r.point(lambda v: 255 if v < 150 else 0)
    return sum(ImageChops.multiply(blue.point(lambda v: 255 if v > 40 else 0), dark).histogram()[255:])


def test_letter_page_at_300_dpi(page):
    assert page.size == (2550, 3300)
    assert page.mode == "RGB"


def test_same_seed_same_pixels_other_seed_differs(page):
    assert specimen.render(KEY, VALUES, seed=5).tobytes() == page.tobytes()
    assert specimen.render(KEY, VALUES, seed=6).tobytes() != page.tobytes()


def test_the_qr_carries_the_acta_key(page):
    assert read_qr(page) == KEY


def test_written_numbers_put_ink_in_the_number_column(page):
    blank = specimen.render(KEY, {}, seed=5)
    column = (1080, 880, 1600, 2800)  # «CON NÚMERO», all rows
    assert _ink(page, column) > 20 * _ink(blank, column) + 2000


def test_paper_is_tinted_and_grainy_not_flat_white(page):
    margin = page.crop((2440, 1500, 2500, 1700)).convert("L")
    low, high = margin.getextrema()
    assert high < 255 or low < 240
    assert high - low >= 8  # sensor grain


def test_scanner_jpeg_carries_300_dpi_and_scanner_quality(tmp_path):
    path = specimen.write(tmp_path / f"{KEY}.jpg", KEY, VALUES, seed=3)
    with Image.open(path) as scan:
        assert scan.format == "JPEG"
        assert tuple(round(v) for v in scan.info["dpi"]) == (300, 300)
        assert scan.size == (2550, 3300)
    assert 300_000 < path.stat().st_size < 4_000_000
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{KEY}.jpg"]  # no temp file left behind


@pytest.mark.parametrize(("fmt", "suffix"), [("PNG", ".png"), ("TIFF", ".tif")])
def test_png_and_tiff_on_request(tmp_path, fmt, suffix):
    path = specimen.write(tmp_path / f"{KEY}{suffix}", KEY, {}, seed=3, format=fmt)
    with Image.open(path) as scan:
        assert scan.format == fmt
        assert round(scan.info["dpi"][0]) == 300


def test_renders_fast_enough():
    started = time.process_time()  # CPU time: other work on a shared machine does not count
    specimen.render(KEY, VALUES, seed=9)
    assert time.process_time() - started < 2.0  # ~0.7 s on one core of the build machine


@pytest.mark.parametrize(("n", "words"), [
    (0, "cero"), (16, "dieciséis"), (21, "veintiuno"), (45, "cuarenta y cinco"), (100, "cien"),
    (101, "ciento uno"), (345, "trescientos cuarenta y cinco"), (1000, "mil"), (2021, "dos mil veintiuno"),
    (99999, "noventa y nueve mil novecientos noventa y nueve"),
])
def test_amounts_in_spanish_words(n, words):
    assert specimen.in_words(n) == words


def test_random_values_are_plausible():
    contest = specimen.DEFAULT_CONTEST
    for seed in range(50):
        values = specimen.random_values(contest, 600, random.Random(seed))
        votes = sum(values[f] for f in contest.votes)  # type: ignore[misc]
        assert set(values) == set(contest.fields)
        assert votes <= 600
        assert values["TOTAL_ASENTADO"] == votes


def test_cli_writes_keyed_and_anonymous_files_with_a_manifest(tmp_path):
    out, manifest = tmp_path / "drop", tmp_path / "manifest.json"
    assert specimen.main(["--out", str(out), "--count", "2", "--names", "mixed", "--seed", "4",
                          "--manifest", str(manifest)]) == 0
    keys = list(load_election(specimen.EXAMPLE_ELECTION).actas)
    assert sorted(p.name for p in out.iterdir()) == sorted([f"{keys[0]}.jpg", "scan_0002.jpg"])
    entries = json.loads(manifest.read_text(encoding="utf-8"))
    assert [e["acta"] for e in entries] == keys[:2]
    with Image.open(out / "scan_0002.jpg") as scan:
        assert read_qr(scan.convert("L")) == keys[1]


def test_a_second_form_acta_prints_its_own_ballot(tmp_path, election_v2_file):
    """The form of a real catalog's acta: only its ballot's vote fields (30 of 31), then the controls."""
    election = load_election(election_v2_file)
    key = catalog_v2.THIRTY
    contest, ballot = election.contest_of(key), election.ballot(key)
    values = specimen.random_values(contest, 600, random.Random(2), ballot=ballot)
    assert set(values) == set(election.fields_of(key)) and catalog_v2.NOT_ON_THIRTY not in values
    assert values["TOTAL_VOTOS_ASENTADO"] == sum(values[f] for f in ballot)  # type: ignore[misc]
    page = specimen.render(key, values, seed=8, contest=contest, ballot=ballot, election_name=election.name)
    assert read_qr(page) == key
    short = specimen.render(key, {}, seed=8, contest=contest, ballot=ballot[:10])
    full = specimen.render(key, {}, seed=8, contest=contest, ballot=ballot)
    rows = (300, 1000, 1000, 2600)  # the printed rows: 15 rows draw far less line work than 35
    assert _ink_free_dark(short, rows) < _ink_free_dark(full, rows)


def _ink_free_dark(image: Image.Image, box: tuple[int, int, int, int]) -> int:
    return sum(image.convert("L").crop(box).point(lambda v: 255 if v < 100 else 0).histogram()[255:])


def test_cli_on_a_second_form_catalog_writes_each_actas_ballot(tmp_path, election_v2_file):
    out, manifest = tmp_path / "drop", tmp_path / "manifest.json"
    assert specimen.main(["--out", str(out), "--count", "3", "--election", str(election_v2_file),
                          "--illegible", "0", "--manifest", str(manifest)]) == 0
    election = load_election(election_v2_file)
    for entry in json.loads(manifest.read_text(encoding="utf-8")):
        assert set(entry["values"]) == set(election.fields_of(entry["acta"]))
