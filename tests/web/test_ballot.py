"""Capture shows the acta's own ballot: only its fields, in ballot order, grouped, controls apart."""

from __future__ import annotations

import re

import pytest

from catd_node import actas
from catd_node.datadir import DataDir
from tests import catalog_v2
from tests.catalog_v2 import NOT_ON_THIRTY, SHORT, SHORT_MISSING, THIRTY
from tests.web.conftest import digitize, hidden, packets_of, values_form


@pytest.fixture
def node_dir(node_v2_dir: DataDir) -> DataDir:
    return node_v2_dir


def inputs(page: str) -> list[str]:
    """The value inputs of a capture form, in document (= Enter/Tab) order."""
    return re.findall(r'<input id="v_([A-Z0-9_]+)"', page)


def headings(page: str) -> list[str]:
    return re.findall(r'<th colspan="\d" class="group" scope="rowgroup">([^<]+)</th>', page)


async def test_the_form_offers_only_the_actas_ballot_in_ballot_order(clerks: DataDir, signed_in) -> None:
    digitize(clerks, THIRTY, seed=1)
    ana = await signed_in("ana")
    status, page = await ana.get("/captura")
    assert status == 200 and hidden(page, "acta") == THIRTY
    election = clerks.election
    assert inputs(page) == list(election.fields_of(THIRTY))
    assert len(election.ballot(THIRTY)) == 30 and NOT_ON_THIRTY not in inputs(page)
    assert f"(se publican como «-»): {NOT_ON_THIRTY.replace('_', ' – ')}." in page
    assert headings(page) == ["Partidos políticos", "Combinaciones de coalición",
                              "Candidaturas independientes, no registradas y votos nulos",
                              "Controles (no deciden la clasificación)"]
    # labelled as the acta prints it, the official name beside it
    assert ('<label for="v_PAN_PRI_PRD">PAN – PRI – PRD</label> <small class="code">PAN_PRI_PRD</small>'
            in page)
    assert '<label for="v_NULOS">VOTOS NULOS</label>' in page
    assert '<label for="v_TOTAL_VOTOS_ASENTADO">TOTAL DE VOTOS ASENTADO EN EL ACTA</label>' in page
    assert "autofocusaria" not in page
    assert re.search(r'id="v_PAN"[^>]*autofocus', page)  # the first field of the ballot has focus
    # parties, then every coalition combination, then the rest, then the controls apart
    order = inputs(page)
    assert order.index("PMP") < order.index("PAN_PRI_PRD")
    assert order.index("PES_FXM") < order.index("CAND_IND_1")
    assert order[-5:] == list(catalog_v2.CONTROLS)


async def test_a_shorter_ballot_shows_fewer_fields(clerks: DataDir, signed_in) -> None:
    digitize(clerks, SHORT, seed=2)
    ana = await signed_in("ana")
    _, page = await ana.get("/captura")
    assert hidden(page, "acta") == SHORT
    assert not set(SHORT_MISSING) & set(inputs(page))
    assert len(inputs(page)) == 31 - len(SHORT_MISSING) + 5


async def test_values_are_stored_for_the_ballot_only_and_classified_on_it(clerks: DataDir, signed_in) -> None:
    sha = digitize(clerks, THIRTY, seed=3)
    ballot = clerks.election.ballot(THIRTY)
    typed = catalog_v2.values(ballot)
    ana, beto = await signed_in("ana"), await signed_in("beto")
    _, page = await ana.get("/captura")
    form = {"acta": THIRTY, "imagen": sha, **values_form(typed), f"v_{NOT_ON_THIRTY}": "77"}
    status, page = await ana.post("/captura", form)
    assert status == 200 and f"Acta {THIRTY} capturada" in page
    [captured] = packets_of(clerks, "acta.captured")
    assert set(captured["values"]) == set(clerks.election.fields_of(THIRTY))  # no MC_PANAL: it is `-`
    _, page = await beto.get("/verificacion")
    assert hidden(page, "acta") == THIRTY and inputs(page) == list(clerks.election.fields_of(THIRTY))
    status, page = await beto.post("/verificacion", {"acta": THIRTY, "imagen": sha, **values_form(typed)})
    assert status == 200 and "verificada: Contabilizada" in page
    [verified] = packets_of(clerks, "acta.verified")
    assert NOT_ON_THIRTY not in verified["values"]
    assert verified["total"] == sum(int(typed[f]) for f in ballot)
    assert verified["class"] == actas.COUNTED
    assert actas.published(clerks.election, THIRTY, verified["values"], NOT_ON_THIRTY) == "-"


async def test_a_missing_ballot_field_is_an_error_next_to_it(clerks: DataDir, signed_in) -> None:
    sha = digitize(clerks, THIRTY, seed=4)
    typed = catalog_v2.values(clerks.election.ballot(THIRTY))
    del typed["PAN_PRD"]
    ana = await signed_in("ana")
    await ana.get("/captura")
    status, page = await ana.post("/captura", {"acta": THIRTY, "imagen": sha, **values_form(typed)})
    assert status == 422 and 'id="v_PAN_PRD-error"' in page and "Vacío" in page
    assert inputs(page) == list(clerks.election.fields_of(THIRTY))
    assert not packets_of(clerks, "acta.captured")


async def test_the_form_names_the_casilla_as_the_catalog_does(clerks: DataDir, signed_in) -> None:
    digitize(clerks, "090003S0100A02", seed=5)
    ana = await signed_in("ana")
    _, page = await ana.get("/captura")
    assert "Sección 3 · casilla S01 · acta A02" in page and "casilla especial (hasta 750 boletas)" in page
