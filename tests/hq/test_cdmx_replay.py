"""The real CDMX 2024 Jefatura file, replayed through the catalog command and the shared rules.

The file is a cómputo export (every acta counted, participation rounded to 69.5126). The
PREP rules (Anexo 13) count 13,381 of its actas: three hold more votes than their lista
nominal plus 2 × the parties on the ballot, so the PREP would publish them as EXCEDE LISTA
NOMINAL. With those three, the totals are the file's own to the vote, and participation
truncates to 69.5125.
"""

from __future__ import annotations

import pytest

from catd_node import actas, catalog, tally
from hq import cli
from hq.release import read
from tests import releasekit

CDMX = releasekit.DOMAIN / "cdmx-2024"
PUBLISHED_VOTES = 5_516_482
PUBLISHED_LISTA_NOMINAL = 7_935_947
# The three actas above their ceiling: (key, computed total, ceiling).
OVER_THE_CEILING = {("090085C0100A02", 516, 449), ("090756B0100A02", 473, 459),
                    ("092758P0200A01PPP", 556, 548)}

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not CDMX.is_dir(), reason=f"{CDMX} (shared domain data) is absent")]


@pytest.fixture(scope="module")
def replay(tmp_path_factory) -> tuple[catalog.Election, read.Release, list[tuple[str, actas.Classification]]]:
    out = tmp_path_factory.mktemp("cdmx") / "election.json"
    assert cli.main(["catalog", "--from", str(CDMX / "bd-gobierno.csv.gz"), "--out", str(out),
                     "--candidaturas", str(CDMX / "CDMX_GUB_CANDIDATURAS.csv")]) == 0
    election = catalog.load(out)
    release = read.read(CDMX / "bd-gobierno.csv.gz", entidad=9)
    results = []
    for row in release.rows:
        values = {f: actas.parse_value(cell, f) for f, cell in row.votes.items()
                  if cell not in (None, actas.NOT_ON_BALLOT)}
        results.append((row.clave_acta, actas.classify(election, row.clave_acta, values)))
    return election, release, results


def test_every_row_is_a_catalog_acta_of_the_published_lista_nominal(replay):
    election, _release, results = replay
    assert len(election.actas) == len(results) == 13_384
    assert sum(spec.lista_nominal for spec in election.actas.values()) == PUBLISHED_LISTA_NOMINAL
    assert election.release == "GUB_CDMX" and election.entidad_id == 9


def test_anexo_13_counts_all_but_three_actas_above_their_ceiling(replay):
    _election, _release, results = replay
    over = {(key, r.total, r.ceiling) for key, r in results if r.cls == actas.EXCEEDS_NOMINAL}
    assert over == OVER_THE_CEILING
    assert all(r.cls == actas.COUNTED for key, r in results if key not in {k for k, _, _ in over})


def test_with_the_three_the_totals_are_the_published_ones(replay):
    election, release, results = replay
    summary = tally.summarize(election, results, final=True)
    over = {key: r for key, r in results if r.cls == actas.EXCEEDS_NOMINAL}
    column_sums = {f: sum(int(row.votes[f]) for row in release.rows) for f in release.vote_fields}
    for field, total in column_sums.items():
        assert summary.totals[field] + sum(r.votes[field] for r in over.values()) == total, field
    votes = summary.total_votos_c_cs + sum(r.total for r in over.values())
    lista = summary.lista_nominal_contabilizadas + sum(election.actas[k].lista_nominal for k in over)
    assert (votes, lista) == (PUBLISHED_VOTES, PUBLISHED_LISTA_NOMINAL)
    assert tally.percent(votes, lista) == "69.5125"               # the file rounds: 69.5126
    assert release.summary["PORCENTAJE_PARTICIPACION_CIUDADANA"] == "69.5126"


def test_the_prep_summary_of_the_replay(replay):
    election, _release, results = replay
    fields = tally.summarize(election, results, final=True).fields()
    assert fields["ACTAS_CONTABILIZADAS"] == "13381" and fields["ACTAS_NO_CONTABILIZADAS"] == "3"
    assert fields["PORCENTAJE_ACTAS_CONTABILIZADAS"] == "99.9775"   # 13381/13384, truncated
