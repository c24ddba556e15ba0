"""The results CSV of a cut, read back by a reader written apart from the writer: a dozen
lines of `split("|")` here, and the project's release reader (hq/release/read.py)."""

from __future__ import annotations

import unicodedata
import zipfile
from datetime import datetime
from decimal import ROUND_DOWN, Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from catd_node import keys
from hq.release import cut as hq_cut
from hq.release import read as release_read
from tests.hq import publishkit as kit
from tests.releasekit import DOMAIN, header_2024

CUT = datetime(2024, 6, 2, 20, 0)
KEY = keys.generate()


def leeme_summary_header() -> list[str]:
    text = (DOMAIN / "LEEME_G.txt").read_text(encoding="utf-8")
    return next(line for line in text.splitlines() if line.startswith("ACTAS_ESPERADAS|")).strip().split("|")


def truncated(part: int, whole: int) -> str:
    """part / whole × 100 to four decimals, cut (not rounded) — by Decimal, not tally.percent."""
    return str((Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.0001"), rounding=ROUND_DOWN))


def unwrap(cell: str) -> str:
    return cell[2:-1] if cell.startswith('="') and cell.endswith('"') else cell


def write_cut(tmp_path: Path, final: bool = False) -> Path:
    election = kit.election()
    data = hq_cut.CutInput(
        election=election, election_bytes=b"{}", records=kit.records(election), heads={}, node_pems={},
        hq_pub=b"-----BEGIN PUBLIC KEY-----\n", names_file=None)
    path = tmp_path / hq_cut.file_names(election, CUT)[0]
    hq_cut.write_zip(path, data, CUT, final, 1, None, keys.generate(), [])
    return path


def read_results(path: Path) -> list[list[str]]:
    """The second code path: the zip's one results CSV, split by hand."""
    with zipfile.ZipFile(path) as archive:
        names = [n for n in archive.namelist() if n.endswith("_2024.csv")]
        assert names == ["CDMX_GUB_2024.csv"]
        raw = archive.read(names[0])
    assert raw.startswith(b"\xef\xbb\xbf")
    text = raw[3:].decode("utf-8")
    assert text.endswith("\r\n") and "\n" not in text.replace("\r\n", "")
    return [line.split("|") for line in text[:-2].split("\r\n")]


def test_the_cut_is_named_and_laid_out_as_the_template(tmp_path):
    path = write_cut(tmp_path)
    assert path.name == "20240602_2000_PREP_GUB_CDMX.zip"
    lines = read_results(path)
    assert lines[0] == ["JEFATURA DE GOBIERNO"]
    assert lines[1] == ["02/06/2024 20:00 (UTC-6)"]
    assert lines[2] == leeme_summary_header()
    assert lines[4] == header_2024(), "acta columns in the template's order and names"
    assert all(len(row) == len(lines[4]) for row in lines[5:])


def test_summary_recomputed_by_hand(tmp_path):
    summary = dict(zip(*read_results(write_cut(tmp_path))[2:4], strict=True))
    # 9 esperadas; 8 registered in the catalog + 1 fuera; counted 1B 2B 3S 0M 11B.
    ln, c_cs, s_cs = 500 + 700 + 0 + 123 + 450, 150 + 243 + 237 + 85 + 170, 150 + 243 + 85 + 170
    assert summary == {
        "ACTAS_ESPERADAS": "9", "ACTAS_REGISTRADAS": "9", "ACTAS_FUERA_CATALOGO": "1",
        "ACTAS_CAPTURADAS": "8", "PORCENTAJE_ACTAS_CAPTURADAS": "88.8888",          # rounding: 88.8889
        "ACTAS_CONTABILIZADAS": "5", "PORCENTAJE_ACTAS_CONTABILIZADAS": "55.5555",  # rounding: 55.5556
        "PORCENTAJE_ACTAS_CON_INCONSISTENCIAS": "33.3333", "ACTAS_NO_CONTABILIZADAS": "3",
        "LISTA_NOMINAL_ACTAS_CONTABILZADAS": str(ln), "TOTAL_VOTOS_C_CS": str(c_cs),
        "TOTAL_VOTOS_S_CS": str(s_cs), "PORCENTAJE_PARTICIPACION_CIUDADANA": truncated(s_cs, ln),
    }
    (tmp_path / "final").mkdir()
    final = dict(zip(*read_results(write_cut(tmp_path / "final", final=True))[2:4], strict=True))
    assert final["PORCENTAJE_PARTICIPACION_CIUDADANA"] == truncated(c_cs, ln), "with especiales at the end"


def test_rows_in_the_official_order_with_keys_kept_as_text(tmp_path):
    lines = read_results(write_cut(tmp_path))
    claves = [row[1] for row in lines[5:]]
    assert all(c.startswith('="') and c.endswith('"') for c in claves + [row[0] for row in lines[5:]])
    assert [unwrap(c) for c in claves] == [
        kit.key(0, "M", "A01"), kit.key(1, "B"), kit.key(1, "C"), kit.key(2, "B"), kit.key(3, "S", "A02E"),
        kit.key(10, "B"), kit.key(10, "C"), kit.key(11, "B"), kit.FUERA]


def rows_by_key(path: Path) -> dict[str, dict[str, str]]:
    lines = read_results(path)
    return {unwrap(row[1]): dict(zip(lines[4], row, strict=True)) for row in lines[5:]}


def test_every_row_carries_the_vocabulary_of_prep(tmp_path):
    election = kit.election()
    records = kit.records(election)
    rows = rows_by_key(write_cut(tmp_path))
    one = rows[kit.key(1, "B")]
    assert one == {
        "CLAVE_CASILLA": '="090001B0100"', "CLAVE_ACTA": '="090001B0100A02"', "ID_ENTIDAD": "09",
        "ENTIDAD": "CIUDAD DE MÉXICO", "ID_DISTRITO_LOCAL": "001", "SECCION": "0001", "ID_CASILLA": "01",
        "TIPO_CASILLA": "B", "EXT_CONTIGUA": "00", "UBICACION_CASILLA": "1", "TIPO_ACTA": "A02",
        "TOTAL_BOLETAS_SOBRANTES": "150", "TOTAL_PERSONAS_VOTARON": "150",
        "TOTAL_REP_PARTIDO_CI_VOTARON": "150", "TOTAL_VOTOS_SACADOS": "150",
        "PAN": "ILEGIBLE", "PRI": "SIN DATO",
        **{v: "10" for v in kit.VOTES[2:-2]}, "NO_REGISTRADOS": "10", "NULOS": "10",
        "TOTAL_VOTOS_ASENTADO": "150", "TOTAL_VOTOS_CALCULADOS": "150", "LISTA_NOMINAL": "500",
        "REPRESENTANTES": "6", "OBSERVACIONES": "ALGÚN CAMPO ILEGIBLE O SIN DATO", "CONTABILIZADAS": "1",
        "MECANISMOS_TRASLADO": "", "CODIGO_INTEGRIDAD": records[kit.key(1, "B")].image_sha256.upper(),
        "FECHA_HORA_ACOPIO": "02/06/2024 20:01:02 (UTC-6)",
        "FECHA_HORA_CAPTURA": "02/06/2024 20:03:04 (UTC-6)",
        "FECHA_HORA_VERIFICACION": "02/06/2024 20:05:06 (UTC-6)",
        "ORIGEN": "CATD", "DIGITALIZACION": "ESCANER",
        "TIPO_DOCUMENTO": "ACTA PREP",
    }
    excede = rows[kit.key(1, "C")]
    assert (excede["OBSERVACIONES"], excede["CONTABILIZADAS"], excede["TOTAL_VOTOS_CALCULADOS"]) == \
        ("EXCEDE LISTA NOMINAL", "0", str(900 + 16 * 10))
    short = rows[kit.key(2, "B")]
    assert [short[c] for c in ("PAN_PRI_PRD", "PAN_PRI", "PAN_PRD", "PRI_PRD")] == ["-"] * 4
    assert (short["ORIGEN"], short["DIGITALIZACION"], short["MECANISMOS_TRASLADO"]) == \
        ("CASILLA", "MOVIL", "F")
    assert rows[kit.key(3, "S", "A02E")]["LISTA_NOMINAL"] == "0"
    assert rows[kit.key(0, "M", "A01")]["TIPO_DOCUMENTO"] == "ACTA VRME"
    sin = rows[kit.key(10, "B")]
    assert sin["OBSERVACIONES"] == "SIN ACTA POR PAQUETE NO ENTREGADO" and sin["CONTABILIZADAS"] == "0"
    assert sin["TOTAL_VOTOS_CALCULADOS"] == sin["PAN"] == sin["TOTAL_VOTOS_ASENTADO"] == "SIN ACTA"
    not_applicable = ("CODIGO_INTEGRIDAD", "FECHA_HORA_ACOPIO", "FECHA_HORA_CAPTURA",
                      "FECHA_HORA_VERIFICACION", "ORIGEN", "DIGITALIZACION", "TIPO_DOCUMENTO")
    assert [sin[c] for c in not_applicable] == ["N/A"] * 7
    todos = rows[kit.key(10, "C")]
    assert (todos["OBSERVACIONES"], todos["CONTABILIZADAS"], todos["PAN"], todos["TOTAL_VOTOS_ASENTADO"]) == \
        ("TODOS ILEGIBLES O SIN DATO", "0", "ILEGIBLE", "SIN DATO")
    fuera = rows[kit.FUERA]
    assert (fuera["CONTABILIZADAS"], fuera["OBSERVACIONES"], fuera["TIPO_ACTA"], fuera["UBICACION_CASILLA"],
            fuera["ID_DISTRITO_LOCAL"], fuera["LISTA_NOMINAL"]) == \
        ("2", "FUERA DE CATÁLOGO", "0", "3", "N/A", "N/A")


def test_the_project_reader_reads_the_cut_back(tmp_path):
    """hq/release/read.py (the catalog reader's code path) finds the same rows and summary."""
    election = kit.election()
    records = kit.records(election)
    release = release_read.read(write_cut(tmp_path))
    assert (release.layout, release.delimiter, release.election, release.cut, release.timezone) == \
        ("prep", "|", "JEFATURA DE GOBIERNO", "02/06/2024 20:00 (UTC-6)", "UTC-6")
    assert release.summary["ACTAS_REGISTRADAS"] == 9
    assert len(release.rows) == 9 and [r.clave_acta for r in release.rows][-1] == kit.FUERA
    assert release.rows[-1].fuera_de_catalogo
    for row in release.catalog_rows:
        record = records[row.clave_acta]
        assert row.contabilizada == record.classification.contabilizada
        assert row.lista_nominal == election.actas[row.clave_acta].lista_nominal
        if record.classification.cls == "sin_acta":
            continue
        for name, value in record.values.items():
            if name in row.votes:
                assert row.votes[name] == value, (row.clave_acta, name)
        assert row.ballot() == election.ballot(row.clave_acta)
        assert row.sha == (record.image_sha256 or "").upper()


@pytest.mark.parametrize("text, expected", [("=HYPERLINK(x)", "'=HYPERLINK(x)"), ("+1", "'+1"),
                                            ("a|b\nc", "a b c"), ("CIUDAD DE MÉXICO", "CIUDAD DE MÉXICO")])
def test_free_text_cells_are_spreadsheet_safe(text, expected):
    from hq.release.write import text_cell

    assert text_cell(text) == expected


def test_candidacies_group_coalition_fields_and_take_names_from_the_official_file():
    from hq.release.candidaturas import candidacies
    from tests.releasekit import CDMX_CANDIDATURAS

    found = {c.label: c for c in candidacies(kit.election(), CDMX_CANDIDATURAS)}
    assert list(found) == ["PAN_PRI_PRD", "PVEM_PT_MORENA", "MC"]
    assert found["PVEM_PT_MORENA"].fields == ("PVEM", "PT", "MORENA", "PVEM_PT_MORENA", "PVEM_PT",
                                              "PVEM_MORENA", "PT_MORENA")
    assert found["PVEM_PT_MORENA"].propietaria == "CLARA MARINA BRUGADA MOLINA"
    assert found["PAN_PRI_PRD"].propietaria == "SANTIAGO TABOADA CORTINA"
    assert found["MC"].propietaria == "SALOMON CHERTORIVSKI WOLDENBERG"


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31)),
       st.sampled_from(["UTC-6", "UTC-5", "UTC-7", "UTC-8", "UTC+1", "UTC-3:30"]))
def test_stamp_is_local_official_time_with_its_label(moment, label):
    """The sliced fast path agrees with datetime arithmetic for any time and offset."""
    from dataclasses import replace

    from hq.release.write import stamp

    election = replace(kit.election(), timezone=label)
    at = moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    local = moment.replace(microsecond=0) + election.local_offset()
    assert stamp(at, election) == f"{local:%d/%m/%Y %H:%M:%S} ({label})"


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40).map(
    lambda t: unicodedata.normalize("NFC", t)))
def test_evidence_lines_are_the_wire_form_byte_for_byte(text):
    """evidence.wire_line builds the line without parsing the packet: the same bytes as
    packets.to_wire for any text in the body (quotes, backslashes, U+2028, accents…)."""
    from catd_node import packets
    from hq.release.evidence import wire_line

    packet = packets.seal(KEY, node="CATD-09-01", seq=7, prev=packets.ZERO_HASH, kind="acta.acopio",
                          body={"acta": "090001B0100A02", "by": text, "nota": f'"{text}\\'})
    expected = (packets.to_wire(packet) + "\n").encode()
    assert wire_line(packet.seq, packet.canonical, packet.hash, packet.sig) == expected
    assert wire_line(packet.seq, packet.canonical.decode(), packet.hash, packet.sig) == expected
