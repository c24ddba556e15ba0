"""What a simulacro replays of a release: only what is on each acta, never what the PREP computed."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from catd_node.errors import BadInput
from simulacro import plan
from tests import releasekit as rk

HEADER = rk.header_2024()
VOTES = HEADER[HEADER.index("PAN"):HEADER.index("NULOS") + 1]
COALITIONS_OF_2 = ("PAN_PRI", "PAN_PRD", "PRI_PRD", "PVEM_PT", "PVEM_MORENA", "PT_MORENA")


def release_rows() -> list[rk.Acta]:
    off = dict.fromkeys(COALITIONS_OF_2, "-")        # district 2's ballot has no two-party coalitions
    rows = [
        rk.Acta(9, 1, "B", 1, 0, "A02", 1, votes={"PAN": "12", "PRI": "Ilegible", "PRD": "Sin dato"},
                observaciones="ALGÚN CAMPO ILEGIBLE O SIN DATO"),
        rk.Acta(9, 2, "C", 1, 0, "A02", 2, votes={**off, "MORENA": "300"}),
        rk.Acta(9, 3, "B", 1, 0, "A02", 2, votes={**dict.fromkeys(VOTES, "SIN ACTA"), **off},
                observaciones="SIN ACTA POR PAQUETE NO ENTREGADO", contabilizada="0"),
        rk.Acta(9, 4, "S", 1, 0, "A02E", 1, votes=dict.fromkeys(VOTES, "ILEGIBLE"),
                observaciones="TODOS ILEGIBLES O SIN DATO", contabilizada="0"),
        rk.Acta(9, 5, "B", 1, 0, "A02", 1, votes=dict.fromkeys(VOTES, "")),            # not yet arrived
        rk.Acta(9, 999, "B", 1, 0, "0", 1, observaciones="FUERA DE CATÁLOGO", contabilizada="2"),
    ]
    return rows


def write(path: Path, rows: list[rk.Acta], **kw: object) -> Path:
    path.write_bytes(rk.render(HEADER, rows, rk.Layout(), election="JEFATURA DE GOBIERNO",
                               cut="02/06/2024 23:00 (UTC-6)", **kw))  # type: ignore[arg-type]
    return path


@pytest.fixture
def the_plan(tmp_path: Path) -> plan.Plan:
    return plan.build(write(tmp_path / "release.csv", release_rows()), tmp_path)


def test_each_row_becomes_what_reaches_its_catd(the_plan):
    kinds = {a.key: (a.kind, a.node) for a in the_plan.actas}
    assert kinds == {
        "090001B0100A02": (plan.CAPTURA, "CATD-09-01"), "090002C0100A02": (plan.CAPTURA, "CATD-09-02"),
        "090003B0100A02": (plan.SIN_ACTA_KIND, "CATD-09-02"), "090004S0100A02E": (plan.CAPTURA, "CATD-09-01"),
        "090999B01000": (plan.FUERA, "CATD-09-01")}
    assert the_plan.pending == ("090005B0100A02",)
    assert the_plan.nodes == ("CATD-09-01", "CATD-09-02")
    assert (the_plan.election_path).exists() and len(the_plan.election.actas) == 5


def test_the_clerk_types_the_printed_cells_of_the_acta_s_own_ballot(the_plan):
    by_key = {a.key: a for a in the_plan.actas}
    first = by_key["090001B0100A02"]
    assert (first.typed["PAN"], first.typed["PRI"], first.typed["PRD"], first.typed["MORENA"]) == (
        "12", "ILEGIBLE", "SIN DATO", "1")
    assert first.typed["TOTAL_BOLETAS_SOBRANTES"] == "7"
    second = by_key["090002C0100A02"]
    assert not set(COALITIONS_OF_2) & set(second.typed)             # `-`: not on its ballot
    ours = tuple("NO_REGISTRADAS" if v == "NO_REGISTRADOS" else v for v in VOTES)   # 2024 name
    assert second.fields[:len(VOTES) - 6] == tuple(v for v in ours if v not in COALITIONS_OF_2)
    assert set(by_key["090004S0100A02E"].typed.values()) >= {"ILEGIBLE"}
    assert by_key["090003B0100A02"].reason == "paquete_no_entregado"
    assert by_key["090001B0100A02"].origen == "CATD" and not first.by_phone


def test_computed_columns_are_never_read(tmp_path, the_plan):
    """A copy whose TOTAL_VOTOS_CALCULADO, CONTABILIZADA, observations (but a sin acta's reason)
    and summary are scrambled plans exactly the same replay."""
    rng = random.Random(7)
    rows = release_rows()
    for row in rows:
        if "SIN ACTA" not in row.observaciones:
            row.observaciones = rng.choice(["", "EXCEDE LISTA NOMINAL", "TODOS ILEGIBLES O SIN DATO"])
        row.contabilizada = rng.choice(["0", "1"]) if row.contabilizada != "2" else "2"
    scrambled_file = write(tmp_path / "scrambled.csv", rows)
    lines = scrambled_file.read_text(encoding="utf-8").splitlines()
    total = HEADER.index("TOTAL_VOTOS_CALCULADOS")
    lines[3] = "|".join(str(rng.randint(0, 99)) for _ in lines[3].split("|"))      # the summary
    for i in range(5, len(lines)):
        cells = lines[i].split("|")
        cells[total] = str(rng.randint(0, 5000))
        lines[i] = "|".join(cells)
    scrambled_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    original = (tmp_path / "release.csv").read_text(encoding="utf-8")
    assert scrambled_file.read_text(encoding="utf-8") != original
    other = plan.build(scrambled_file, tmp_path / "other")
    assert other.actas == the_plan.actas and other.pending == the_plan.pending


def test_phone_rows_go_through_the_upload(tmp_path):
    header = HEADER
    rows = release_rows()[:2]
    path = write(tmp_path / "r.csv", rows)
    text = path.read_text(encoding="utf-8").splitlines()
    at = header.index("ORIGEN")
    cells = text[6].split("|")
    cells[at], cells[at + 1] = "CASILLA", "MOVIL"
    text[6] = "|".join(cells)
    path.write_text("\n".join(text) + "\n", encoding="utf-8")
    phones = [a.key for a in plan.build(path, tmp_path / "o").actas if a.by_phone]
    assert phones == ["090002C0100A02"]


def test_a_sin_acta_row_without_a_readable_reason_is_refused(tmp_path):
    rows = release_rows()
    rows[2].observaciones = "SIN ACTA"
    with pytest.raises(BadInput, match="reason"):
        plan.build(write(tmp_path / "r.csv", rows), tmp_path)


def test_limit_takes_the_first_rows(tmp_path):
    limited = plan.build(write(tmp_path / "r.csv", release_rows()), tmp_path, limit=2)
    assert [a.key for a in limited.actas] == ["090001B0100A02", "090002C0100A02"]
    assert limited.limited and len(limited.election.actas) == 2


def test_the_candidacies_file_beside_the_release_travels_into_the_election_file(tmp_path):
    cdmx = rk.DOMAIN / "cdmx-2024"
    if not cdmx.is_dir():
        pytest.skip(f"{cdmx} (domain data) is absent")
    built = plan.build(cdmx / "bd-gobierno.csv.gz", tmp_path, limit=3)
    named = {c.label: c.propietaria for c in built.election.candidaturas}
    assert named == {"PAN_PRI_PRD": "SANTIAGO TABOADA CORTINA", "MC": "SALOMON CHERTORIVSKI WOLDENBERG",
                     "PVEM_PT_MORENA": "CLARA MARINA BRUGADA MOLINA"}
    # none beside: the election file names nobody
    alone = tmp_path / "alone" / "bd.csv.gz"
    alone.parent.mkdir()
    alone.write_bytes((cdmx / "bd-gobierno.csv.gz").read_bytes())
    assert plan.build(alone, tmp_path / "o", limit=3, entidad=9).election.candidaturas == ()
