"""The comparison on the real CDMX 2024 file (a cómputo) against the cut the PREP rules make of it:
party totals and participation equal to the published ones once the three actas the PREP leaves
out (EXCEDE LISTA NOMINAL) are added back — participation truncated — and said so."""

from __future__ import annotations

import dataclasses

import pytest

from catd_node import actas, catalog, tally
from hq.release import catalog as release_catalog
from hq.release import read
from simulacro import compare
from tests import releasekit as rk

CDMX = rk.DOMAIN / "cdmx-2024" / "bd-gobierno.csv.gz"
LEFT_OUT = ("090085C0100A02", "090756B0100A02", "092758P0200A01PPP")
pytestmark = [pytest.mark.slow, pytest.mark.skipif(not CDMX.is_file(), reason=f"{CDMX} is absent")]


@pytest.fixture(scope="module")
def source_and_ours(tmp_path_factory: pytest.TempPathFactory) -> tuple[read.Release, read.Release]:
    """The file, and what a final cut of it under the PREP rules holds (classes, totals, summary)."""
    source = read.read(CDMX, entidad=9)
    built = release_catalog.build(source, release_catalog.Options(entidad=9))
    path = tmp_path_factory.mktemp("cdmx") / "election.json"
    release_catalog.write(built.data, path)
    election = catalog.load(path)
    rows, results = [], []
    for n, row in enumerate(source.rows):
        values = {f: actas.parse_value(c, f) for f, c in row.votes.items() if c not in (None, "-")}
        result = actas.classify(election, row.clave_acta, values)
        results.append((row.clave_acta, result))
        rows.append(dataclasses.replace(row, total_votos_calculado=result.total,
                                        contabilizada=result.contabilizada,
                                        observaciones=result.published_observations, sha=f"{n:064X}"))
    summary = tally.summarize(election, results, final=True).fields()
    ours = dataclasses.replace(source, layout=read.PREP, summary=summary, rows=tuple(rows))
    return source, ours


def test_party_totals_and_participation_are_the_published_ones_with_the_three_left_out(source_and_ours):
    source, ours = source_and_ours
    outcome = compare.compare(source, ours)
    assert outcome.agree, [d.line() for d in outcome.unexplained]
    by_column = {d.column: d for d in outcome.differences}
    for field in source.vote_fields:
        if f"TOTAL {field}" in by_column:
            assert all(key in by_column[f"TOTAL {field}"].explained for key in LEFT_OUT)
    votes = by_column["TOTAL_VOTOS / TOTAL_VOTOS_C_CS"]
    assert (votes.source, votes.explained.rsplit(" ", 1)[-1]) == ("5516482", "5516482")
    participation = by_column["PORCENTAJE_PARTICIPACION_CIUDADANA"]
    assert participation.source == "69.5126"                      # the file rounds
    assert "with them ours is 69.5125" in participation.explained  # truncated, as Anexo 13 says
    assert "rounds" in participation.explained


def test_a_fourth_acta_left_out_is_not_explained_away(source_and_ours):
    source, ours = source_and_ours
    rows = list(ours.rows)
    rows[10] = dataclasses.replace(rows[10], votes={**rows[10].votes, "MORENA": 0})   # ours lost votes
    outcome = compare.compare(source, dataclasses.replace(ours, rows=tuple(rows)))
    assert not outcome.agree
    assert {(d.acta, d.column) for d in outcome.unexplained} >= {(compare.key_of(rows[10]), "MORENA"),
                                                                 (compare.SUMMARY, "TOTAL MORENA")}
