"""The simulacro's comparison on its own: each kind of difference is reported by acta and column."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from hq.release import read
from simulacro import compare
from tests import releasekit as rk

HEADER = rk.header_2024()
VOTES = HEADER[HEADER.index("PAN"):HEADER.index("NULOS") + 1]
SUMMARY = {"ACTAS_ESPERADAS": "3", "ACTAS_REGISTRADAS": "3", "ACTAS_FUERA_CATALOGO": "0",
           "ACTAS_CAPTURADAS": "3", "PORCENTAJE_ACTAS_CAPTURADAS": "100.0000", "ACTAS_CONTABILIZADAS": "2",
           "PORCENTAJE_ACTAS_CONTABILIZADAS": "66.6666", "PORCENTAJE_ACTAS_CON_INCONSISTENCIAS": "33.3333",
           "ACTAS_NO_CONTABILIZADAS": "1", "LISTA_NOMINAL_ACTAS_CONTABILZADAS": "1000",
           "TOTAL_VOTOS_C_CS": "34", "TOTAL_VOTOS_S_CS": "34", "PORCENTAJE_PARTICIPACION_CIUDADANA": "3.4000"}


@dataclass
class Row:
    seccion: int
    votes: dict[str, str] = field(default_factory=dict)
    observaciones: str = ""
    contabilizada: str = "1"
    total: str = "17"
    sha: str = ""


def _rows() -> list[Row]:
    return [Row(1, {v: "1" for v in VOTES}), Row(2, {v: "1" for v in VOTES}),
            Row(3, {v: "100" for v in VOTES}, "EXCEDE LISTA NOMINAL", "0", "1700")]


def write(path: Path, rows: list[Row], summary: dict[str, str] | None = None) -> read.Release:
    """A results file in the 2024 template with these rows and summary."""
    summary = summary or SUMMARY
    lines = ["JEFATURA DE GOBIERNO", "02/06/2024 23:00 (UTC-6)", "|".join(summary),
             "|".join(summary.values()), "|".join(HEADER)]
    for row in rows:
        acta = rk.Acta(9, row.seccion, "B", 1, 0, "A02", 1, lista_nominal="500", votes=row.votes,
                       observaciones=row.observaciones, contabilizada=row.contabilizada)
        cells = acta.cells(HEADER)
        cells["TOTAL_VOTOS_CALCULADOS"] = row.total
        cells["CODIGO_INTEGRIDAD"] = row.sha
        lines.append("|".join(cells[h] for h in HEADER))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return read.read(path)


def differences(tmp_path: Path, ours_rows: list[Row], ours_summary: dict[str, str] | None = None,
                **kw: object) -> list[tuple[str, str, str, str]]:
    source = write(tmp_path / "source.csv", _rows())
    ours = write(tmp_path / "ours.csv", ours_rows, ours_summary)
    outcome = compare.compare(source, ours, **kw)  # type: ignore[arg-type]
    return [(d.acta, d.column, d.source, d.ours) for d in outcome.differences]


def with_codes(rows: list[Row]) -> list[Row]:
    for i, row in enumerate(rows):
        row.sha = hashlib.sha256(f"image {i}".encode()).hexdigest().upper()
    return rows


def test_the_same_release_agrees(tmp_path):
    assert differences(tmp_path, with_codes(_rows())) == []


def test_an_altered_cell_is_named_by_acta_and_column(tmp_path):
    rows = with_codes(_rows())
    rows[1].votes = {**rows[1].votes, "MORENA": "2"}
    rows[1].total = "18"
    assert differences(tmp_path, rows) == [
        ("090002B0100A02", "MORENA", "1", "2"), ("090002B0100A02", "TOTAL_VOTOS_CALCULADO", "17", "18")]


def test_ilegible_and_sin_dato_are_cells_like_any_other(tmp_path):
    rows = with_codes(_rows())
    rows[0].votes = {**rows[0].votes, "PAN": "ILEGIBLE", "PRI": "Sin dato"}
    assert differences(tmp_path, rows) == [
        ("090001B0100A02", "PAN", "1", "ILEGIBLE"), ("090001B0100A02", "PRI", "1", "SIN DATO")]


def test_a_missing_row_and_an_extra_row(tmp_path):
    rows = with_codes(_rows())
    rows[2].seccion = 4
    found = differences(tmp_path, rows)
    assert ("090003B0100A02", "(fila)", "línea 8", "(falta)") in found
    assert ("090004B0100A02", "(fila)", "(falta)", "línea 8") in found


def test_a_different_summary_figure(tmp_path):
    summary = {**SUMMARY, "TOTAL_VOTOS_C_CS": "35"}
    assert differences(tmp_path, with_codes(_rows()), summary) == [
        ("RESUMEN", "TOTAL_VOTOS_C_CS", "34", "35")]


def test_classification_columns_are_compared(tmp_path):
    rows = with_codes(_rows())
    rows[2].observaciones, rows[2].contabilizada = "", "1"
    assert differences(tmp_path, rows) == [
        ("090003B0100A02", "OBSERVACIONES", "EXCEDE LISTA NOMINAL", "(vacío)"),
        ("090003B0100A02", "CONTABILIZADA", "0", "1")]


def test_integrity_codes_must_be_images_hq_holds(tmp_path):
    rows = with_codes(_rows())
    rows[1].sha = rows[0].sha
    held = {rows[0].sha.lower()}
    found = differences(tmp_path, rows, blob=lambda sha: None if sha in held else "HQ does not hold it")
    assert [(a, c) for a, c, _, _ in found] == [
        ("090002B0100A02", "CODIGO_INTEGRIDAD"),          # the same image as another acta
        ("090003B0100A02", "CODIGO_INTEGRIDAD")]          # an image HQ lacks
    assert "090001B0100A02" in found[0][2]


def test_a_blob_check_over_files_hashes_them(tmp_path):
    image = b"an acta"
    sha = hashlib.sha256(image).hexdigest()
    (tmp_path / sha).write_bytes(image)
    (tmp_path / ("0" * 64)).write_bytes(image)
    check = compare.blob_check(lambda name: tmp_path / name)
    assert check(sha) is None
    assert "hashes to" in (check("0" * 64) or "")
    assert "does not hold" in (check("1" * 64) or "")


def test_a_subset_is_held_to_the_summary_its_own_rows_imply(tmp_path):
    rows = with_codes(_rows())
    implied = compare.implied_summary(write(tmp_path / "s.csv", _rows()).rows, esperadas=3)
    assert implied["TOTAL_VOTOS_C_CS"] == "34" and implied["ACTAS_NO_CONTABILIZADAS"] == "1"
    assert implied["PORCENTAJE_ACTAS_INCONSISTENCIAS"] == "33.3333"
    wrong = {**SUMMARY, "ACTAS_CONTABILIZADAS": "3"}
    found = differences(tmp_path, rows, wrong, partial=True, esperadas=3)
    assert found == [("RESUMEN", "ACTAS_CONTABILIZADAS", "2", "3")]


# -- a cómputo source ----------------------------------------------------------------------

COMPUTO_HEADER = ["DISTRITO_LOCAL", "SECCION", "ID_CASILLA", "TIPO_CASILLA", "EXT_CONTIGUA", "TIPO_ACTA",
                  "PAN", "PRI", "NULOS", "TOTAL_VOTOS_CALCULADOS", "LISTA_NOMINAL"]


def computo(path: Path, summary: str) -> read.Release:
    """A cómputo export: every acta counts, the summary is printed its own way."""
    lines = ['"JEFATURA DE GOBIERNO"', '"04/06/2024 14:40(UTC-6)"',
             "ACTAS_ESPERADAS,ACTAS_CAPTURADAS,ACTAS_COMPUTADAS,LISTA_NOMINAL_ACTAS_CAPTURADAS,TOTAL_VOTOS,"
             "PORCENTAJE_PARTICIPACION_CIUDADANA", summary, ",".join(COMPUTO_HEADER),
             "001,0001,1,B,00,A02,10,5,1,16,20", "001,0002,1,B,00,A02,60,0,0,60,20"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return read.read(path, entidad=9)


def prep_of_computo(path: Path) -> read.Release:
    """Ours: the second acta above its ceiling (lista nominal 20 + 2 × 2 parties = 24)."""
    header = ["CLAVE_CASILLA", "CLAVE_ACTA", "ID_ENTIDAD", "ID_DISTRITO_LOCAL", "SECCION", "ID_CASILLA",
              "TIPO_CASILLA", "EXT_CONTIGUA", "TIPO_ACTA", "PAN", "PRI", "NULOS", "TOTAL_VOTOS_CALCULADOS",
              "LISTA_NOMINAL", "OBSERVACIONES", "CONTABILIZADAS", "CODIGO_INTEGRIDAD"]
    lines = ["JEFATURA DE GOBIERNO", "04/06/2024 20:00 (UTC-6)",
             "ACTAS_ESPERADAS|ACTAS_CAPTURADAS|PORCENTAJE_ACTAS_CAPTURADAS|ACTAS_CONTABILIZADAS|"
             "PORCENTAJE_ACTAS_CONTABILIZADAS|LISTA_NOMINAL_ACTAS_CONTABILZADAS|TOTAL_VOTOS_C_CS|"
             "PORCENTAJE_PARTICIPACION_CIUDADANA",
             "2|2|100.0000|1|50.0000|20|16|80.0000", "|".join(header),
             f"090001B0100|090001B0100A02|09|001|0001|01|B|00|A02|10|5|1|16|20||1|{'A' * 64}",
             f"090002B0100|090002B0100A02|09|001|0002|01|B|00|A02|60|0|0|60|20|EXCEDE LISTA NOMINAL|0|"
             f"{'B' * 64}"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return read.read(path)


def test_a_computo_summary_differs_by_the_actas_the_prep_leaves_out_and_says_so(tmp_path):
    source = computo(tmp_path / "computo.csv", "3,2,2,40,76,190.0000")
    outcome = compare.compare(source, prep_of_computo(tmp_path / "ours.csv"))
    assert outcome.agree
    explained = {d.column: d for d in outcome.differences}
    assert explained["TOTAL PAN"].source == "70" and explained["TOTAL PAN"].ours == "10"
    assert "090002B0100A02" in explained["TOTAL PAN"].explained
    assert explained["TOTAL_VOTOS / TOTAL_VOTOS_C_CS"].explained.endswith("with them ours is 76")
    assert "PORCENTAJE_PARTICIPACION_CIUDADANA" in explained
    assert "ACTAS_ESPERADAS" in explained and "lists 2 of its 3" in explained["ACTAS_ESPERADAS"].explained
    assert all(d.explained for d in outcome.differences)


def test_a_computo_gap_the_left_out_actas_do_not_explain_is_a_difference(tmp_path):
    source = computo(tmp_path / "computo.csv", "3,2,2,40,77,192.5000")   # one vote more than its rows
    outcome = compare.compare(source, prep_of_computo(tmp_path / "ours.csv"))
    assert not outcome.agree
    assert [(d.acta, d.column) for d in outcome.unexplained] == [
        ("RESUMEN", "TOTAL_VOTOS"), ("RESUMEN", "PORCENTAJE_PARTICIPACION_CIUDADANA")]


@pytest.mark.parametrize("line", [compare.Difference("090001B0100A02", "PAN", "1", "2").line()])
def test_a_difference_prints_acta_column_source_and_ours(line):
    assert line == "difference: acta 090001B0100A02, column PAN: source 1, ours 2"
