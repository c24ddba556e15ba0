"""Real releases as they come (issue 19): each dialect of hq/release/dialects.py read into the
same catalog, text cells in any code page read and warned, number cells strict (issue 23)."""

from __future__ import annotations

import gzip
import json
import tempfile
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from catd_node import catalog as loader
from hq import cli
from hq.release import catalog, dialects, read
from tests import releasekit as kit
from tests.hq.test_catalog_read import ine_2018_actas


def run(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(("text", "order", "day", "zone"), [
    ("04/06/2024 14:40(UTC-6)", "DD/MM/YYYY", date(2024, 6, 4), "UTC-6"),
    ("2019/06/03 05:47 (UTC-5)", "YYYY/MM/DD", date(2019, 6, 3), "UTC-5"),
    ("2021-06-07 20:00:00 UTC-5", "YYYY-MM-DD", date(2021, 6, 7), "UTC-5"),
    ("07-06-2021 20:00 GMT−5", "DD-MM-YYYY", date(2021, 6, 7), "UTC-5"),
    ("03/06/2019 05:47 (Tiempo del Centro)", "DD/MM/YYYY", date(2019, 6, 3), "UTC-5"),
    ("02/06/2024 20:00 Hora del Centro", "DD/MM/YYYY", date(2024, 6, 2), "UTC-6"),
    ("02/06/2024 20:00 (Tiempo del Sureste)", "DD/MM/YYYY", date(2024, 6, 2), "UTC-5"),
    ("02/06/2024 20:00", "DD/MM/YYYY", date(2024, 6, 2), None),
])
def test_cut_line_forms(text, order, day, zone):
    cut = dialects.cut_line(text)
    assert cut is not None and (cut.order, cut.day, cut.timezone) == (order, day, zone)


def test_observation_texts_of_each_year_map_to_the_2024_wording():
    assert dialects.observation("Algun dato ilegible o sin dato") == "ALGÚN CAMPO ILEGIBLE O SIN DATO"
    assert dialects.observation("SIN ACTA POR PAQUETE ENTREGADO SIN SOBRE") == \
        "SIN ACTA POR PAQUETE ENTREGADO SIN BOLSA"
    assert dialects.observations("Todos los campos vacíos") == \
        dialects.observations("TODOS ILEGIBLES O SIN DATO")
    assert dialects.observation("algo nuevo") == "ALGO NUEVO"


def _render(cut: str, layout: kit.Layout | None = None) -> bytes:
    return kit.render(kit.header_2018(), ine_2018_actas(), layout or kit.Layout(), cut=cut)


CUTS = ["01/07/2018 18:00 (UTC-5)", "2018/07/01 18:00 (UTC-5)", "2018-07-01 18:00:00 UTC-5",
        "01/07/2018 18:00 (Tiempo del Centro)"]


@pytest.mark.parametrize("layout", [kit.Layout(), kit.Layout(",", "latin-1", "\r\n", wrap="="),
                                    kit.Layout("|", "utf-8-sig", "\r", wrap="'")])
def test_every_cut_line_form_and_layout_gives_the_same_catalog(tmp_path, layout):
    built = []
    for i, cut in enumerate(CUTS):
        path = tmp_path / f"{i}.csv"
        path.write_bytes(_render(cut, layout))
        built.append(catalog.build(read.read(path), catalog.Options(election="DIPUTACIONES")).data)
    assert all(b == built[0] for b in built) and built[0]["timezone"] == "UTC-5"


def test_no_time_zone_names_the_cut_line_taken_and_asks_for_timezone(tmp_path, capsys):
    src = tmp_path / "diputaciones.csv"
    src.write_bytes(_render("2018/07/01 18:00 (hora local)"))
    code, _, err = run(capsys, "catalog", "--from", src, "--out", tmp_path / "x.json")
    assert code == 2 and f"{src}: line 1" in err and "2018/07/01 18:00" in err and "--timezone" in err
    assert not (tmp_path / "x.json").exists()
    assert run(capsys, "catalog", "--from", src, "--out", tmp_path / "x.json", "--timezone", "UTC-5")[0] == 0


def _padded(text: bytes) -> bytes:
    """CLAVE_ACTA printed with TIPO_ACTA padded to two digits (a 2019 OPLE release)."""
    for acta in ine_2018_actas():
        text = text.replace(f"|{acta.casilla}{acta.tipo_acta}|".encode(),
                            f"|{acta.casilla}{acta.tipo_acta.zfill(2)}|".encode())
    return text


def test_padded_tipo_acta_in_the_key_is_kept_as_published(tmp_path, capsys):
    src = tmp_path / "diputaciones.csv"
    src.write_bytes(_padded(_render(CUTS[1])))
    out = tmp_path / "dip.json"
    code, _, err = run(capsys, "catalog", "--from", src, "--out", out)
    assert code == 0, err
    keys = [a["clave_acta"] for a in json.loads(out.read_text())["actas"]]
    assert keys[:2] == ["230085B010006", "230085C010006"]
    election = loader.load(out)  # the node's loader: key == CLAVE_CASILLA + tipo_acta
    assert "230085B010006" in election.actas


def test_clave_acta_without_clave_casilla_column(tmp_path):
    header = [h for h in kit.header_2018() if h != "CLAVE_CASILLA"]
    src = tmp_path / "diputaciones.csv"
    src.write_bytes(kit.render(header, ine_2018_actas(), kit.Layout()))
    rows = read.read(src).catalog_rows
    assert [r.identity.clave_acta for r in rows][:2] == ["230085B01006", "230085C01006"]


def test_a_key_that_is_no_spelling_of_its_parts_is_refused(tmp_path, capsys):
    src = tmp_path / "diputaciones.csv"
    src.write_bytes(_render(CUTS[0]).replace(b"|230085B01006|", b"|230085B01007|", 1))
    code, _, err = run(capsys, "catalog", "--from", src, "--out", tmp_path / "x.json")
    assert code == 2 and f"{src}: line 5, column 2 (CLAVE_ACTA)" in err, err


def test_mixed_encodings_read_per_cell_with_one_warning_each(tmp_path, capsys):
    utf8 = _render(CUTS[0])
    # The second row's district name in Windows-1252 (0x84 where a name has Ñ, as seen).
    lines = utf8.split(b"\n")
    lines[5] = lines[5].replace("CANCÚN".encode(), b"CAN\x84UN")
    mixed = b"\n".join(lines)
    for name, data in (("utf8.csv", utf8), ("mixed.csv", mixed)):
        (tmp_path / name).write_bytes(data)
    a = catalog.build(read.read(tmp_path / "utf8.csv"), catalog.Options(election="DIPUTACIONES")).data
    release = read.read(tmp_path / "mixed.csv")
    assert release.encoding.startswith("mixed")
    assert catalog.build(release, catalog.Options(election="DIPUTACIONES")).data == a
    code, _, err = run(capsys, "catalog", "--from", tmp_path / "mixed.csv", "--out", tmp_path / "m.json",
                       "--election", "DIPUTACIONES")
    assert code == 0 and err.count("warning:") == 1
    assert "line 6, column 6 (DISTRITO_FEDERAL): byte 0x84" in err, err


def test_a_number_cell_in_another_code_page_is_refused(tmp_path, capsys):
    src = tmp_path / "diputaciones.csv"
    src.write_bytes(_render(CUTS[0]).replace(b"|500|", b"|5\xd10|", 1))
    code, _, err = run(capsys, "catalog", "--from", src, "--out", tmp_path / "x.json")
    assert code == 2 and f"{src}: line 5, column 44 (LISTA_NOMINAL)" in err, err
    assert not (tmp_path / "x.json").exists()


# -- issue 23: DISTRITO_LOCAL of the cómputo layout is a number cell -------------------------

@pytest.fixture(scope="module")
def cdmx_lines() -> list[bytes]:
    return gzip.decompress(kit.CDMX.read_bytes()).split(b"\n")


@pytest.mark.parametrize("value", ["abc", "", "-5", "34.7", "０３４", "../../x"])
def test_computo_district_must_be_a_number(tmp_path, capsys, cdmx_lines, value):
    lines = list(cdmx_lines)
    assert lines[7].startswith(b"034,")
    lines[7] = value.encode() + lines[7][3:]
    src = tmp_path / "bd-gobierno.csv"
    src.write_bytes(b"\n".join(lines))
    out = tmp_path / "gub.json"
    code, _, err = run(capsys, "catalog", "--from", src, "--out", out, "--entidad", "9")
    assert code == 2 and f"{src}: line 8, column 1 (DISTRITO_LOCAL)" in err, err
    assert list(tmp_path.iterdir()) == [src]


@pytest.mark.parametrize(("column", "value", "name"), [(1, "abc", "SECCION"), (1, "", "SECCION"),
                                                       (4, "x", "EXT_CONTIGUA"), (4, "", "EXT_CONTIGUA"),
                                                       (30, "7.5", "LISTA_NOMINAL")])
def test_computo_number_cells_are_strict(tmp_path, capsys, cdmx_lines, column, value, name):
    lines = list(cdmx_lines)
    cells = lines[7].split(b",")
    cells[column] = value.encode()
    lines[7] = b",".join(cells)
    src = tmp_path / "bd-gobierno.csv"
    src.write_bytes(b"\n".join(lines))
    code, _, err = run(capsys, "catalog", "--from", src, "--out", tmp_path / "g.json", "--entidad", "9")
    assert code == 2 and f"{src}: line 8, column {column + 1} ({name})" in err, err


def test_real_cdmx_file_reads_without_oddities():
    release = read.read(kit.CDMX, 9)
    assert release.date_order == "DD/MM/YYYY" and release.timezone == "UTC-6" and release.cut_at == 2
    assert release.oddities == () and len(release.catalog_rows) == 13384




# -- catalog --check: a dry run for the operator ---------------------------------------------

def test_check_reports_the_real_cdmx_file_and_writes_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, "catalog", "--check", "--from", kit.CDMX, "--candidaturas",
                         kit.CDMX_CANDIDATURAS)
    assert code == 0, err
    for line in ("layout: computo", "encoding: utf-8", "date_order: DD/MM/YYYY", "timezone: UTC-6",
                 "actas: 13384", "class: 13384 (sin observación)", "0 tolerated oddities; nothing written"):
        assert line in out, out
    assert list(tmp_path.iterdir()) == []


def test_check_json_lists_every_tolerated_oddity_with_its_line(tmp_path, capsys):
    text = _padded(_render(CUTS[1], kit.Layout("|", "latin-1", "\n"))).replace(
        b"ALG\xdaN CAMPO ILEGIBLE O SIN DATO", b"ALGUN DATO ILEGIBLE O SIN DATO")
    src = tmp_path / "diputaciones.csv"
    src.write_bytes(text)
    code, out, err = run(capsys, "catalog", "--check", "--json", "--from", src)
    assert code == 0, err
    report = json.loads(out)
    assert (report["date_order"], report["timezone"]) == ("YYYY/MM/DD", "UTC-5")
    assert report["encoding"] == "latin-1"
    assert report["vocabulary_year"] == "2019" and report["actas"] == 4 and report["fuera_de_catalogo"] == 1
    assert report["classes"]["ALGÚN CAMPO ILEGIBLE O SIN DATO"] == 1
    assert "padded" in report["key_form"]
    assert any(f"{src}: line 5: TIPO_ACTA padded" in o for o in report["oddities"]), report["oddities"]
    assert any(f"{src}: line 5, column 6 (DISTRITO_FEDERAL): byte 0xDA" in o for o in report["oddities"])
    assert list(tmp_path.iterdir()) == [src]


def test_check_refuses_as_catalog_does(tmp_path, capsys):
    src = tmp_path / "diputaciones.csv"
    src.write_bytes(_render(CUTS[0]).replace(b"|500|", b"|-5|", 1))
    code, _, err = run(capsys, "catalog", "--check", "--from", src)
    assert code == 2 and f"{src}: line 5, column 44 (LISTA_NOMINAL)" in err, err


def test_transfer_mechanism_is_kept_per_casilla_in_the_catalog(tmp_path, capsys):
    src = tmp_path / "diputaciones.csv"
    header = kit.header_2018()
    actas = ine_2018_actas()
    for acta in actas:
        acta.votes["MECANISMOS_TRASLADO"] = "F"
    actas[2].votes["MECANISMOS_TRASLADO"] = "D"      # the sin acta row keeps its own
    src.write_bytes(kit.render(header, actas, kit.Layout(), cut=CUTS[0]))
    out = tmp_path / "dip.json"
    assert run(capsys, "catalog", "--from", src, "--out", out)[0] == 0
    data = json.loads(out.read_text())
    assert [a.get("mecanismo_traslado") for a in data["actas"]] == ["F", "F", "D", "F"]
    assert loader.load(out).actas["230086B01006"].mecanismo_traslado == "D"


# -- a corpus: the same rows written in each dialect load to the identical catalog ------------

YEAR_2019 = {"ALGÚN CAMPO ILEGIBLE O SIN DATO": "ALGUN DATO ILEGIBLE O SIN DATO",
             "SIN ACTA POR PAQUETE ENTREGADO SIN BOLSA": "SIN ACTA POR PAQUETE ENTREGADO SIN SOBRE"}


def _dialect(text: bytes, cut: str, lower_header: bool, old_words: bool) -> bytes:
    lines = text.decode("utf-8").split("\n")
    lines[0] = cut
    at = next(i for i, line in enumerate(lines) if line.startswith("CLAVE_CASILLA"))
    if lower_header:
        lines[at] = lines[at].lower()
    for i in range(at + 1, len(lines)):
        if old_words:
            for new, old in YEAR_2019.items():
                lines[i] = lines[i].replace(new, old)
    return "\n".join(lines).encode("utf-8")


@settings(max_examples=25, deadline=None)
@given(cut=st.sampled_from(CUTS), lower=st.booleans(), old_words=st.booleans(),
       encoding=st.sampled_from(["utf-8", "utf-8-sig", "latin-1", "cp1252"]),
       wrap=st.sampled_from(["", "=", "'"]), delimiter=st.sampled_from(["|", ","]))
def test_each_dialect_of_the_same_rows_loads_to_the_identical_catalog(cut, lower, old_words, encoding, wrap,
                                                                       delimiter):
    reference = _render(CUTS[0])
    variant = _dialect(_render(cut, kit.Layout(delimiter, "utf-8", "\n", wrap=wrap)), cut, lower, old_words)
    options = catalog.Options(election="DIPUTACIONES")
    with tempfile.TemporaryDirectory() as tmp:
        a, b = Path(tmp) / "a.csv", Path(tmp) / "b.csv"
        a.write_bytes(reference)
        b.write_bytes(variant.decode("utf-8").encode(encoding))
        assert catalog.build(read.read(b), options).data == catalog.build(read.read(a), options).data


def test_a_sin_acta_row_printed_with_zeros_takes_its_district_ballot(tmp_path):
    actas = ine_2018_actas()
    zeros = ine_2018_actas()
    zeros[2].votes = {n: "0" for n in kit.header_2018()[16:41]}
    for name, rows in (("a.csv", actas), ("b.csv", zeros)):
        (tmp_path / name).write_bytes(kit.render(kit.header_2018(), rows, kit.Layout(), cut=CUTS[0]))
    options = catalog.Options(election="DIPUTACIONES")
    a = catalog.build(read.read(tmp_path / "a.csv"), options).data
    b = catalog.build(read.read(tmp_path / "b.csv"), options).data
    assert a == b


def test_a_candidacies_file_with_one_byte_of_another_code_page_is_read(tmp_path, capsys):
    """Issue 19, case 3: Latin-1 with `0x84` where a name has Ñ refused the whole file."""
    text = kit.CDMX_CANDIDATURAS.read_bytes().decode("utf-8-sig").encode("latin-1")
    src = tmp_path / "CDMX_GUB_CANDIDATURAS.csv"
    src.write_bytes(text.replace(b"TABOADA", b"TABOADA \x84", 1))
    assert read.read_entidad(src) == 9
    out = tmp_path / "gub.json"
    code, _, err = run(capsys, "catalog", "--from", kit.CDMX, "--candidaturas", src, "--out", out)
    assert code == 0, err
    assert json.loads(out.read_text())["entidad"]["id"] == 9
