"""catd_node/wording.py: what the site and the capture screens call fields, casillas, times."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from catd_node import actas, catalog, wording
from catd_node.errors import BadInput

ELECTION = {
    "form": 2, "election": "JEFATURA DE GOBIERNO", "entidad": {"id": 9, "nombre": "CIUDAD DE MÉXICO"},
    "release": "GUB_CDMX", "timezone": "UTC-6",
    "contests": [{"id": "GUB", "name": "Jefatura de Gobierno",
                  "votes": [{"field": "PAN", "kind": "partido"}, {"field": "PRI", "kind": "partido"},
                            {"field": "PAN_PRI", "kind": "coalicion"},
                            {"field": "MC", "kind": "partido", "label": "MOVIMIENTO CIUDADANO"},
                            {"field": "NULOS", "kind": "nulos"}],
                  "controls": ["TOTAL_VOTOS_ASENTADO"]}],
    "candidaturas": [{"contest": "GUB", "candidatura": "PAN_PRI", "partidos": ["PAN", "PRI"],
                      "propietaria": "ANA PÉREZ", "suplente": "LUZ RÍOS"}],
    "distritos": {"3": "Distrito 03 · Coyoacán"},
    "actas": [{"clave_acta": "090056B0100A02", "contest": "GUB", "seccion": 56, "tipo_casilla": "B",
               "id_casilla": 1, "ext_contigua": 0, "tipo_acta": "A02", "distrito": 3, "lista_nominal": 600},
              {"clave_acta": "090000A0100A01VA", "contest": "GUB", "seccion": 0, "tipo_casilla": "A",
               "id_casilla": 1, "ext_contigua": 0, "tipo_acta": "A01VA", "distrito": 0, "lista_nominal": 9},
              {"clave_acta": "090012E0103A02", "contest": "GUB", "seccion": 12, "tipo_casilla": "E",
               "id_casilla": 1, "ext_contigua": 3, "tipo_acta": "A02", "distrito": 7, "lista_nominal": 300}],
}


def test_labels_as_the_acta_prints_them():
    election = catalog.parse(ELECTION)
    contest = election.contests["GUB"]
    assert wording.field_label("PAN_PRI", contest=contest) == "PAN – PRI"
    assert wording.field_label("PVEM_PT_MORENA") == "PVEM – PT – MORENA"
    assert wording.field_label("C_PAN_PRD") == "PAN – PRD"
    assert wording.field_label("MC", contest=contest) == "MOVIMIENTO CIUDADANO"   # the file's label wins
    assert wording.field_label("NULOS") == "VOTOS NULOS"
    assert wording.field_label("NO_REGISTRADAS") == "CANDIDATURAS NO REGISTRADAS"
    assert wording.field_label("TOTAL_VOTOS_ASENTADO") == "TOTAL DE VOTOS ASENTADO EN EL ACTA"
    assert wording.field_label("CAND_IND_2") == "CANDIDATURA INDEPENDIENTE 2"
    assert wording.reader_label("NULOS") == "Votos nulos"
    assert wording.class_name(actas.EXCEEDS_NOMINAL).startswith("No contabilizada")


def test_casilla_in_words_and_seccion_cero_named():
    election = catalog.parse(ELECTION)
    basica, anticipado, extra = election.actas.values()
    assert wording.casilla_words(basica, election) == "Sección 0056 · Básica 01 · Distrito 03 · Coyoacán"
    assert wording.casilla_words(anticipado, election) == "Voto anticipado · Mesa 01"
    assert wording.casilla_words(extra) == "Sección 0012 · Extraordinaria 01 · Contigua 03 · Distrito 07"
    assert election.names_of("PAN_PRI").suplente == "LUZ RÍOS" and election.names_of("PAN") is None


def test_official_time_in_the_publication_format():
    election = catalog.parse(ELECTION)
    moment = datetime(2024, 6, 3, 1, 5, tzinfo=UTC)
    assert wording.official_time(moment, election) == "02/06/2024 19:05 (UTC-6)"
    assert wording.official_time_text("2024-06-03T01:05:00Z", election) == "02/06/2024 19:05 (UTC-6)"
    assert wording.official_time_text("ayer", election) == "ayer"
    assert wording.inconsistency(300, 227) == "total asentado en el acta 300, calculado 227 (diferencia +73)"
    assert wording.inconsistency(227, 227) == ""


@pytest.mark.parametrize(("change", "where"), [
    (lambda d: d["candidaturas"][0].update(candidatura="PVEM"), "candidaturas[0].candidatura"),
    (lambda d: d["candidaturas"][0].pop("propietaria"), "candidaturas[0].propietaria"),
    (lambda d: d["distritos"].update({"x": "y"}), "distritos.x"),
    (lambda d: d["contests"][0]["votes"][0].update(label=5), "contests[0].votes[0].label"),
])
def test_bad_optional_keys_are_named(change, where):
    import copy
    data = copy.deepcopy(ELECTION)
    change(data)
    with pytest.raises(BadInput) as err:
        catalog.parse(data, "e.json")
    assert where in str(err.value)


def test_files_without_the_optional_keys_still_load():
    data = {k: v for k, v in ELECTION.items() if k not in ("candidaturas", "distritos")}
    election = catalog.parse(data)
    assert election.candidaturas == () and election.distritos == {}
