"""`catd-hq catalog`: real and synthetic releases in every layout → the election file's second form."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import tempfile
import zipfile
from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from catd_node import catalog as loader
from catd_node.errors import BadInput
from hq import cli
from hq.release import catalog, cut, read
from hq.store import HQDir
from simulacro import plan
from tests import releasekit as kit
from tests.strategies import release_actas, release_layouts


def run(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


# -- the real CDMX 2024 file (cómputo layout) ------------------------------------------------

def test_cdmx_2024_file_becomes_a_catalog_of_13384_actas(tmp_path, capsys):
    out = tmp_path / "cdmx.json"
    code, stdout, err = run(capsys, "catalog", "--from", kit.CDMX, "--out", out,
                            "--candidaturas", kit.CDMX_CANDIDATURAS)
    assert code == 0, err
    assert "13384 actas of GUB_CDMX" in stdout and "13503 ACTAS_ESPERADAS" in stdout
    data = load(out)
    assert (data["form"], data["election"], data["release"], data["timezone"]) == (
        2, "JEFATURA DE GOBIERNO", "GUB_CDMX", "UTC-6")
    assert data["entidad"] == {"id": 9, "nombre": "CIUDAD DE MÉXICO"}
    [contest] = data["contests"]
    assert contest["id"] == "GUB" and contest["name"] == "Jefatura de Gobierno"
    assert set(contest["tipo_acta"]) == {"A02", "A02E", "A01", "A01VA", "A01PPP"}
    assert [v["field"] for v in contest["votes"]][-2:] == ["NO_REGISTRADAS", "NULOS"]
    assert contest["controls"][1] == "TOTAL_PERSONAS_VOTARON"  # printed PERSONAS_VOTARON
    actas = data["actas"]
    assert len(actas) == 13_384
    assert sum(a["lista_nominal"] for a in actas) == 7_935_947
    # 33 local districts; the 12 actas of the vote from abroad (M) are printed as district 034.
    assert {a["distrito"] for a in actas if a["tipo_casilla"] != "M"} == set(range(1, 34))
    assert {a["distrito"] for a in actas if a["tipo_casilla"] == "M"} == {34}
    assert sum(a["tipo_casilla"] == "M" for a in actas) == 12
    for a in actas:
        assert len(a["clave_acta"]) >= 14
        assert loader.split_clave_acta(a["clave_acta"]) == (
            9, a["seccion"], a["tipo_casilla"], a["id_casilla"], a["ext_contigua"], a["tipo_acta"])
        assert a["catd"] == f"CATD-09-{a['distrito']:02d}" and "ballot" not in a
    # The candidacies file travels into the election file: names, coalitions, labels.
    assert "3 candidacies named" in stdout
    assert [(c["candidatura"], c["partidos"], c["propietaria"]) for c in data["candidaturas"]] == [
        ("PAN_PRI_PRD", ["PAN", "PRI", "PRD"], "SANTIAGO TABOADA CORTINA"),
        ("PVEM_PT_MORENA", ["PVEM", "PT", "MORENA"], "CLARA MARINA BRUGADA MOLINA"),
        ("MC", ["MC"], "SALOMON CHERTORIVSKI WOLDENBERG")]
    labels = {v["field"]: v["label"] for v in contest["votes"]}
    assert labels["PAN_PRI_PRD"] == "PAN – PRI – PRD" and labels["NULOS"] == "VOTOS NULOS"
    election = loader.load(out)
    assert election.names_of("MC").propietaria == "SALOMON CHERTORIVSKI WOLDENBERG"
    from hq.release import candidaturas
    named = {c.label: c.propietaria for c in candidaturas.candidacies(election)}
    assert named["PVEM_PT_MORENA"] == "CLARA MARINA BRUGADA MOLINA"
    keys = {a["clave_acta"] for a in actas}
    # The export's repairs: E1 and its five contiguas (printed `1C` five times), and the 54
    # actas of voto anticipado (sección and casilla printed N/A) numbered in file order.
    assert {"093990E0100A02", "093990E0101A02", "093990E0105A02"} <= keys
    assert sum(k.startswith("090000A") for k in keys) == 54 and "090000A5400A01VA" in keys
    assert len(loader.load(out).actas) == 13_384
    assert "distritos" not in data   # its DISTRITO_LOCAL is the number (034): no names to give


@pytest.mark.slow
def test_cdmx_catalog_is_accepted_by_node_and_hq_init(tmp_path, capsys):
    from catd_node import cli as node_cli

    out = tmp_path / "cdmx.json"
    assert run(capsys, "catalog", "--from", kit.CDMX, "--out", out, "--entidad", "9")[0] == 0
    election = loader.load(out)
    assert len(election.actas) == 13_384 and election.release == "GUB_CDMX"
    assert len(election.actas_of("CATD-09-07")) == 348
    assert node_cli.main(["init", "-d", str(tmp_path / "node"), "--node-id", "CATD-09-07",
                          "--election", str(out)]) == 0
    assert run(capsys, "-d", tmp_path / "hq", "init", "--election", out)[0] == 0


def test_computo_layout_without_an_entity_is_refused(tmp_path, capsys):
    out = tmp_path / "x.json"
    code, _, err = run(capsys, "catalog", "--from", kit.CDMX, "--out", out)
    assert code == 2 and "--entidad" in err and not out.exists()
    code, _, err = run(capsys, "catalog", "--from", kit.CDMX, "--out", out, "--entidad", "14",
                       "--candidaturas", kit.CDMX_CANDIDATURAS)
    assert code == 2 and "disagrees" in err and not out.exists()


# -- synthetic files in the INE 2018 and 2021 layouts and the 2024 OPLE template -------------

def ine_2018_actas() -> list[kit.Acta]:
    coalitions_off = {name: "-" for name in ("C_PAN_PRD_MC", "C_PAN_MC", "C_PRD_MC", "CAND_IND_02")}
    return [
        kit.Acta(23, 85, "B", 1, 0, "6", 4, votes={**coalitions_off, "PAN": "Ilegible", "PRI": "Sin dato",
                                                     "PRD": "sin DATO", "MORENA": "ILEGIBLE"},
                 observaciones="ALGÚN CAMPO ILEGIBLE O SIN DATO"),
        kit.Acta(23, 85, "C", 1, 0, "6", 4, votes=coalitions_off),
        kit.Acta(23, 86, "B", 1, 0, "6", 4, votes={n: "-" for n in kit.header_2018()[16:41]},
                 observaciones="SIN ACTA POR PAQUETE NO ENTREGADO", contabilizada="0", lista_nominal="600"),
        kit.Acta(23, 90, "S", 1, 0, "7", 5, lista_nominal="0"),
        kit.Acta(23, 91, "B", 1, 0, "0", 5, observaciones="FUERA DE CATÁLOGO", contabilizada="2",
                 lista_nominal="-"),
    ]


def test_ine_2018_layout_pipe_latin1_crlf(tmp_path, capsys):
    src = tmp_path / "diputaciones.csv"
    src.write_bytes(kit.render(kit.header_2018(), ine_2018_actas(),
                               kit.Layout("|", "latin-1", "\r\n", wrap="="), cut="01/07/2018 18:00 (UTC-5)"))
    assert "Ú".encode("latin-1") in src.read_bytes()
    out = tmp_path / "dip.json"
    code, stdout, err = run(capsys, "catalog", "--from", src, "--out", out)
    assert code == 0, err
    assert "4 actas of DIP_QROO" in stdout and "1 fuera de catálogo" in stdout and "1 ballots" in stdout
    data = load(out)
    assert (data["election"], data["timezone"], data["entidad"]["nombre"]) == ("DIPUTACIONES", "UTC-5",
                                                                              "QUINTANA ROO")
    [contest] = data["contests"]
    fields = [v["field"] for v in contest["votes"]]
    assert fields[:9] == ["PAN", "PRI", "PRD", "PVEM", "PT", "MC", "PANAL", "MORENA", "PES"]
    assert "PAN_PRD_MC" in fields and "C_PAN_PRD" not in fields
    assert fields[-4:] == ["CAND_IND_1", "CAND_IND_2", "NO_REGISTRADAS", "NULOS"]
    kinds = {v["field"]: v["kind"] for v in contest["votes"]}
    assert (kinds["PT_MORENA_PES"], kinds["CAND_IND_1"], kinds["PANAL"]) == ("coalicion", "independiente",
                                                                            "partido")
    assert contest["tipo_acta"] == ["6", "7"]
    actas = {a["clave_acta"]: a for a in data["actas"]}
    assert list(actas) == ["230085B01006", "230085C01006", "230086B01006", "230090S01007"]
    first = actas["230085B01006"]
    assert "PAN_MC" not in first["ballot"] and "CAND_IND_2" not in first["ballot"]
    assert "PAN_PRD" in first["ballot"] and len(first["ballot"]) == len(fields) - 4
    # The SIN ACTA row printed `-` everywhere: it takes its district's ballot.
    assert actas["230086B01006"]["ballot"] == first["ballot"]
    assert actas["230086B01006"]["lista_nominal"] == 600
    assert "ballot" not in actas["230090S01007"] and actas["230090S01007"]["catd"] == "CATD-23-05"
    assert (first["distrito"], first["catd"], first["representantes"]) == (4, "CATD-23-04", 4)
    election = loader.load(out)
    assert election.ballot("230085B01006") == tuple(first["ballot"])
    release = read.read(src)
    row = release.rows[0]
    assert (row.votes["PAN"], row.votes["PRI"], row.votes["PRD"], row.votes["PAN_MC"]) == (
        "ILEGIBLE", "SIN_DATO", "SIN_DATO", "-")
    assert (row.sha, row.fecha_hora_captura, row.origen) == ("ab" * 32, "06/06/2021 20:03:04", "CATD")
    assert release.summary["ACTAS_ESPERADAS"] == 3
    assert release.summary["PORCENTAJE_ACTAS_CAPTURADAS"] == "100.0000"
    assert release.rows[-1].fuera_de_catalogo and release.rows[-1].lista_nominal is None


def test_ine_2021_layout_codes_independents_and_dash_keys(tmp_path, capsys):
    header = kit.header_2021()
    off = {"CAND_IND_2": "-", "CAND_IND_3": "-", "PAN_PRI_PRD": "-", "PAN_PRI": "-"}
    actas = [
        kit.Acta(23, 100, "B", 1, 0, "2", 1, votes=off),
        kit.Acta(23, 100, "C", 1, 0, "2", 1,
                 votes={**off, **dict.fromkeys(("PAN", "PRI", "NULOS"), "Sin acta")},
                 observaciones="SIN ACTA POR CASILLA NO INSTALADA", contabilizada="0"),
        kit.Acta(23, 100, "C", 2, 0, "-", 1, clave_casilla="-", contabilizada="2", lista_nominal="-"),
    ]
    src = tmp_path / "Diputaciones.csv"
    src.write_bytes(kit.render(header, actas, kit.Layout("|", "latin-1", "\r\n", wrap="'")))
    out = tmp_path / "dip.json"
    code, stdout, err = run(capsys, "catalog", "--from", src, "--out", out, "--release", "DIP_FED23")
    assert code == 0, err
    assert "2 actas of DIP_FED23" in stdout and "1 fuera de catálogo" in stdout
    data = load(out)
    assert data["contests"][0]["controls"][4:7] == ["CODIGOS_ENTREGADOS_PMDC", "CODIGOS_SOBRANTES",
                                                   "CODIGOS_UTILIZADOS"]
    a, b = data["actas"]
    assert a["ballot"] == b["ballot"] and "CAND_IND_1" in a["ballot"] and "PAN_PRI" not in a["ballot"]
    assert read.read(src).rows[1].votes["PAN"] == "SIN_ACTA"


def ople_2024_actas() -> list[kit.Acta]:
    return [
        kit.Acta(9, 1, "C", 1, 0, "A02", 7, lista_nominal="473",
                 votes={"PAN": "ILEGIBLE ", "PRI": "Sin Dato"},
                 observaciones="ALGUN CAMPO ILEGIBLE O SIN DATO"),
        kit.Acta(9, 1, "S", 1, 0, "A02E", 7, lista_nominal="0"),
        kit.Acta(9, 2, "B", 1, 0, "A02", 8,
                 votes={n: "SIN ACTA" for n in kit.header_2024()[15:32]},
                 observaciones="SIN ACTA POR PAQUETE ENTREGADO SIN BOLSA", contabilizada="0"),
        kit.Acta(9, 0, "M", 1, 0, "A01", 0, lista_nominal="738",
                 votes=dict.fromkeys(("ID_DISTRITO_LOCAL", "SECCION", "ID_CASILLA", "TOTAL_BOLETAS_SOBRANTES",
                                      "TOTAL_REP_PARTIDO_CI_VOTARON", "REPRESENTANTES"), "N/A")),
        kit.Acta(9, 5, "B", 1, 0, "0", 9, contabilizada="2", lista_nominal="0",
                 observaciones="FUERA DE CATALOGO"),
    ]


def test_ople_2024_template_comma_bom_cr_and_sep_hint(tmp_path, capsys):
    src = tmp_path / "CDMX_GUB_2024.csv"
    src.write_bytes(kit.render(kit.header_2024(), ople_2024_actas(), kit.Layout(",", "utf-8-sig", "\r",
                                                                               sep_hint=True, wrap="="),
                               election="JEFATURA DE GOBIERNO", cut="02/06/2024 20:00 (UTC-6)"))
    assert src.read_bytes().startswith(b"\xef\xbb\xbfsep=,\r")
    out = tmp_path / "gub.json"
    code, _, err = run(capsys, "catalog", "--from", src, "--out", out, "--max-boletas-especial", "1000")
    assert code == 0, err
    data = load(out)
    assert (data["release"], data["timezone"], data["max_boletas_especial"]) == ("GUB_CDMX", "UTC-6", 1000)
    actas = {a["clave_acta"]: a for a in data["actas"]}
    assert list(actas) == ["090001C0100A02", "090001S0100A02E", "090002B0100A02", "090000M0100A01"]
    assert all("ballot" not in a for a in actas.values())
    assert actas["090001S0100A02E"]["lista_nominal"] == 0
    vmre = actas["090000M0100A01"]  # LEEME 2024: district, sección and casilla printed N/A
    assert (vmre["distrito"], vmre["catd"], vmre["representantes"]) == (0, None, None)
    assert data["contests"][0]["tipo_acta"] == ["A02", "A02E", "A01"]
    loader.load(out)
    release = read.read(src)
    assert release.rows[0].votes["PAN"] == "ILEGIBLE"
    assert release.rows[3].controls["TOTAL_BOLETAS_SOBRANTES"] == "N/A"
    assert release.rows[0].sha == "CD" * 32 and release.rows[2].votes["NULOS"] == "SIN_ACTA"


def test_a_cut_zip_gives_its_results_csv_and_release_name(tmp_path, capsys):
    import zipfile

    cut = tmp_path / "20240602_2000_PREP_GUB_CDMX.zip"
    with zipfile.ZipFile(cut, "w") as archive:
        archive.writestr("CDMX_GUB_2024.csv", kit.render(kit.header_2024(), ople_2024_actas(), kit.Layout(),
                                                         election="JEFATURA DE GOBIERNO"))
        archive.writestr("CDMX_GUB_CANDIDATURAS.csv", "ID_ENTIDAD,PARTIDO_CSP,CANDIDATURA\n9,PAN,X\n")
        archive.writestr("LEEME.txt", "…")
    out = tmp_path / "gub.json"
    code, stdout, err = run(capsys, "catalog", "--from", cut, "--out", out, "--timezone", "UTC-6")
    assert code == 0, err
    assert "4 actas of GUB_CDMX" in stdout and load(out)["release"] == "GUB_CDMX"
    code, _, err = run(capsys, "catalog", "--from", cut, "--out", out, "--release", "gub cdmx")
    assert code == 2 and "--release" in err


def test_options_pick_an_entity_and_catd_per_municipio(tmp_path, capsys):
    header = ["CLAVE_CASILLA", "TIPO_ACTA", "ID_MUNICIPIO", "PAN", "NULOS", "LISTA_NOMINAL"]
    rows = [["140001B0100", "3", "39", "1", "0", "100"], ["150001B0100", "3", "2", "1", "0", "90"]]
    src = kit.write_csv(tmp_path / "ayun.csv", [["AYUNTAMIENTOS"], [], header, *rows], delimiter="|")
    out = tmp_path / "ayun.json"
    code, _, err = run(capsys, "catalog", "--from", src, "--out", out, "--timezone", "UTC-6")
    assert code == 2 and "line 5" in err and "--entidad" in err and not out.exists()
    code, stdout, err = run(capsys, "catalog", "--from", src, "--out", out, "--timezone", "UTC-6",
                            "--entidad", "14")
    assert code == 0, err
    assert "1 of other entities" in stdout
    [acta] = load(out)["actas"]
    assert (acta["municipio"], acta["distrito"], acta["catd"]) == (39, None, "CATD-14-M039")
    assert load(out)["release"] == "AYUN_JAL"
    code, _, err = run(capsys, "catalog", "--from", src, "--out", out, "--entidad", "14")
    assert code == 2 and "--timezone" in err


# -- what the reader refuses: exit 2 naming line and column, nothing written ------------------

def _broken(case: str) -> bytes:
    header = kit.header_2018()
    actas = ine_2018_actas()[:2]
    layout = kit.Layout("|", "latin-1", "\r\n")
    if case == "short row":
        text = kit.render(header, actas, layout).decode("latin-1").rstrip("\r\n")
        return (text[:text.rindex("|")] + "\r\n").encode("latin-1")
    if case == "lista nominal":
        actas[1].lista_nominal = "quinientos"
    elif case == "duplicated key":
        actas[1].tipo = "B"
    elif case == "unknown layout":
        return b"JEFATURA DE GOBIERNO\nCASILLA,VOTOS\n1,2\n"
    elif case == "cell":
        actas[1].votes["PRI"] = "doce"
    elif case == "bom, not utf-8":
        return b"\xef\xbb\xbf" + kit.render(header, actas, layout).replace(b"CANC\xdaN", b"CANC\xff", 1)
    elif case == "neither utf-8 nor latin-1":
        # One byte that is not UTF-8; the other row's Ú (C3 9A) is no Latin-1 text either.
        return kit.render(header, actas, kit.Layout("|", "utf-8", "\n")).replace(b"\xc3\x9a", b"\xff", 1)
    return kit.render(header, actas, layout)


@pytest.mark.parametrize(("case", "where"), [
    ("short row", "line 6, column 56"),
    ("lista nominal", "line 6, column 44 (LISTA_NOMINAL)"),
    ("duplicated key", "line 6, column 2 (CLAVE_ACTA)"),
    ("cell", "line 6, column 18 (PRI)"),
    ("unknown layout", "line 1"),
])
def test_unreadable_input_names_line_and_column_and_writes_nothing(tmp_path, capsys, case, where):
    src = tmp_path / "diputaciones.csv"
    src.write_bytes(_broken(case))
    out = tmp_path / "out" / "dip.json"
    out.parent.mkdir()
    out.write_text("the previous catalog")
    code, _, err = run(capsys, "catalog", "--from", src, "--out", out)
    assert code == 2
    assert f"{src}: {where}" in err, err
    assert out.read_text() == "the previous catalog"
    assert [p.name for p in out.parent.iterdir()] == ["dip.json"]


@pytest.mark.parametrize("case", ["bom, not utf-8", "neither utf-8 nor latin-1"])
def test_a_text_cell_in_another_code_page_is_read_and_warned_once(tmp_path, capsys, case):
    """A municipality's name with a byte that is not UTF-8 never refuses the file: it is read
    as Windows-1252 and the cell is named, once, on stderr."""
    src = tmp_path / "diputaciones.csv"
    src.write_bytes(_broken(case))
    code, _, err = run(capsys, "catalog", "--from", src, "--out", tmp_path / "dip.json")
    assert code == 0, err
    assert err.count(f"{src}: line 5, column 6 (DISTRITO_FEDERAL): byte 0xFF") == 1, err


def test_district_names_printed_by_the_release_reach_the_election_file_and_the_site(tmp_path, capsys):
    """INE's DISTRITO_FEDERAL (beside ID_DISTRITO_FEDERAL) names the district: `catalog` writes
    `distritos`, so the site says "Distrito 04 · Benito Juárez", not "Distrito 04". A name in
    another code page is read, never a reason to refuse; N/A, `-` and a bare number name nothing."""
    from catd_node import wording

    actas = [kit.Acta(23, 85, "B", 1, 0, "6", 4, votes={"DISTRITO_FEDERAL": "BENITO JUÁREZ"}),
             kit.Acta(23, 86, "B", 1, 0, "6", 4, votes={"DISTRITO_FEDERAL": "OTRO NOMBRE"}),
             kit.Acta(23, 90, "B", 1, 0, "6", 2, votes={"DISTRITO_FEDERAL": "SOLIDARIDAD  DE  LA PLAYA"}),
             kit.Acta(23, 91, "B", 1, 0, "6", 3, votes={"DISTRITO_FEDERAL": "N/A"}),
             kit.Acta(23, 92, "B", 1, 0, "6", 5, votes={"DISTRITO_FEDERAL": "5"})]
    src = tmp_path / "diputaciones.csv"
    # Windows-1252 file: Á is one byte (0xC1), not UTF-8.
    src.write_bytes(kit.render(kit.header_2018(), actas, kit.Layout("|", "latin-1", "\r\n")))
    out = tmp_path / "dip.json"
    code, _, err = run(capsys, "catalog", "--from", src, "--out", out)
    assert code == 0, err
    data = load(out)
    assert data["distritos"] == {"2": "Distrito 02 · Solidaridad de la Playa",
                                 "4": "Distrito 04 · Benito Juárez"}   # the first name printed wins
    assert list(data).index("distritos") < list(data).index("actas")
    election = loader.load(out)
    by_district = {spec.distrito: spec for spec in election.actas.values()}
    assert wording.area(by_district[4], election) == "Distrito 04 · Benito Juárez"
    assert wording.area(by_district[3], election) == "Distrito 03"
    assert wording.area(by_district[5], election) == "Distrito 05"


def test_duplicate_names_the_first_line_and_gzip_reads_the_same(tmp_path, capsys):
    import gzip

    src = tmp_path / "diputaciones.csv.gz"
    src.write_bytes(gzip.compress(_broken("duplicated key")))
    code, _, err = run(capsys, "catalog", "--from", src, "--out", tmp_path / "x.json")
    assert code == 2 and "230085B01006 repeats (first at line 5)" in err


def test_loader_reads_an_absent_ballot_as_every_vote_field(tmp_path, capsys):
    """Failed before the loader fix: `ballot` left out (every field) raised TypeError."""
    src = tmp_path / "CDMX_GUB_2024.csv"
    src.write_bytes(kit.render(kit.header_2024(), ople_2024_actas()[:1], kit.Layout(),
                               election="JEFATURA DE GOBIERNO", cut="02/06/2024 20:00 (UTC-6)"))
    out = tmp_path / "gub.json"
    assert run(capsys, "catalog", "--from", src, "--out", out)[0] == 0
    assert "ballot" not in load(out)["actas"][0]
    election = loader.load(out)
    assert election.ballot("090001C0100A02") == election.contests["GUB"].votes


def test_write_is_atomic_and_leaves_no_temp_file(tmp_path):
    out = tmp_path / "e.json"
    catalog.write({"form": 2, "actas": [{"clave_acta": "x"}], "contests": []}, out)
    assert json.loads(out.read_text()) == {"form": 2, "actas": [{"clave_acta": "x"}], "contests": []}
    with pytest.raises(TypeError):
        catalog.write({"form": object()}, out)
    assert json.loads(out.read_text())["form"] == 2 and [p.name for p in tmp_path.iterdir()] == ["e.json"]


# -- the same rows in any layout read the same ------------------------------------------------

REFERENCE = kit.Layout("|", "utf-8", "\n")


@settings(max_examples=60, deadline=None)
@given(data=st.data(), layout=release_layouts, year=st.sampled_from(["2018", "2021", "2024"]))
def test_any_layout_of_the_same_rows_gives_the_same_catalog(data, layout, year):
    header = {"2018": kit.header_2018, "2021": kit.header_2021, "2024": kit.header_2024}[year]()
    actas = data.draw(release_actas(header))
    options = catalog.Options(election="DIPUTACIONES", timezone="UTC-6")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, variant in enumerate((REFERENCE, layout)):
            path = Path(tmp) / f"{i}.csv"
            path.write_bytes(kit.render(header, actas, variant))
            release = read.read(path)
            rows = [dataclasses.replace(row, line=0) for row in release.rows]
            try:
                built = catalog.build(release, options).data
            except BadInput as exc:  # no catalog acta at all: both must refuse alike
                built = exc.why
            results.append((built, rows, release.summary, release.cut))
    assert results[0] == results[1]


def _small_cdmx(path: Path, rows: int = 6) -> Path:
    """The second-form catalog of the CDMX file's first `rows` rows, without candidacies."""
    release = plan.subset(read.read(kit.CDMX, 9), rows)
    catalog.write(catalog.build(release, catalog.Options(entidad=9)).data, path)
    return path


def test_init_candidaturas_names_the_candidates_in_hqs_election_file_and_cut(tmp_path, capsys):
    election = _small_cdmx(tmp_path / "cdmx.json")
    code, stdout, err = run(capsys, "init", "-d", tmp_path / "hq", "--election", election,
                            "--candidaturas", kit.CDMX_CANDIDATURAS)
    assert code == 0, err
    hq = HQDir(tmp_path / "hq")
    assert "3 candidacies named in" in stdout and "give every node this election file" in stdout
    assert f"sha256 {hashlib.sha256(hq.election_path.read_bytes()).hexdigest()}" in stdout
    named = {c.label: c.propietaria for c in hq.election().candidaturas}
    assert named["PVEM_PT_MORENA"] == "CLARA MARINA BRUGADA MOLINA"
    published = cut.publish(hq, at=datetime(2024, 6, 2, 20, 0))
    with zipfile.ZipFile(published.path) as archive:
        csv = archive.read("CDMX_GUB_CANDIDATURAS.csv").decode("utf-8-sig")
    assert "09|PAN_PRI_PRD|SANTIAGO TABOADA CORTINA|" in csv
    site = (hq.root / "publicacion" / "sitio" / "index.html").read_text(encoding="utf-8")
    assert "SALOMON CHERTORIVSKI WOLDENBERG" in site and "PAN – PRI – PRD" in site


def test_init_candidaturas_refuses_before_making_anything(tmp_path, capsys):
    election = _small_cdmx(tmp_path / "cdmx.json")
    code, _, err = run(capsys, "init", "-d", tmp_path / "a", "--candidaturas", kit.CDMX_CANDIDATURAS)
    assert code != 0 and "--candidaturas" in err and "needs --election" in err
    code, _, err = run(capsys, "init", "-d", tmp_path / "b", "--election", election,
                       "--candidaturas", tmp_path / "nada.csv")
    assert code != 0 and "nada.csv" in err
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_ccv_options_name_a_districts_capture_centre(tmp_path, capsys):
    src = tmp_path / "diputaciones.csv"
    src.write_bytes(kit.render(kit.header_2018(), ine_2018_actas(),
                               kit.Layout("|", "latin-1", "\r\n", wrap="="), cut="01/07/2018 18:00 (UTC-5)"))
    out = tmp_path / "dip.json"
    code, _, err = run(capsys, "catalog", "--from", src, "--out", out, "--ccv", "4=CCV-23-01")
    assert code == 0, err
    assert load(out)["ccv"] == {"4": "CCV-23-01"}
    election = loader.load(out)
    assert election.ccv_of("230085B01006") == "CCV-23-01" and election.ccv_of("230090S01007") is None
    for bad, why in (("9=CCV-23-01", "no acta of the release is in district 9"),
                     ("CCV-23-01", "expected DISTRITO=NODE"), ("4=a b", "expected DISTRITO=NODE")):
        code, _, err = run(capsys, "catalog", "--from", src, "--out", tmp_path / "x.json", "--ccv", bad)
        assert code == 2 and "--ccv" in err and why in err and not (tmp_path / "x.json").exists(), err


def test_distritos_file_names_the_cdmx_districts_and_a_bad_id_is_named(tmp_path, capsys):
    """The CDMX 2024 file prints district numbers only: `--distritos FILE` names them. The file
    is Windows-1252 with one byte that is no Latin-1 letter either: read and warned, not refused."""
    names = tmp_path / "distritos.csv"
    names.write_bytes("ID_DISTRITO|NOMBRE\r\n3|Coyoacán\r\n05| Gustavo  A. Madero \r\n7|\r\n"
                      "9|Tlalpan “Sur”\r\n".encode("cp1252"))
    out = tmp_path / "cdmx.json"
    code, _, err = run(capsys, "catalog", "--from", kit.CDMX, "--out", out, "--entidad", 9,
                           "--distritos", names)
    assert code == 0, err
    assert f"warning: {names}: line 5, column 11: byte 0x93 read as Windows-1252" in err, err
    data = load(out)
    assert data["distritos"] == {"3": "Distrito 03 · Coyoacán", "5": "Distrito 05 · Gustavo A. Madero",
                                 "9": "Distrito 09 · Tlalpan “Sur”"}
    election = loader.load(out)
    from catd_node import wording

    spec = next(s for s in election.actas.values() if s.distrito == 3)
    assert wording.casilla_words(spec, election).endswith("· Distrito 03 · Coyoacán")

    out.write_text("the previous catalog")
    names.write_text("ID_DISTRITO,NOMBRE\n3,Coyoacán\n99,Ninguno\n", encoding="utf-8")
    code, _, err = run(capsys, "catalog", "--from", kit.CDMX, "--out", out, "--entidad", 9,
                           "--distritos", names)
    assert code == 2
    assert f"{names}: line 3, column 1 (ID_DISTRITO): no acta of the release is in district 99" in err, err
    assert out.read_text() == "the previous catalog"
