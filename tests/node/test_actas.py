"""Captured values and the published classification of actas (shared with HQ)."""

from __future__ import annotations

import pytest
from hypothesis import given

from catd_node import actas, catalog
from catd_node.actas import ILEGIBLE, SIN_DATO
from catd_node.errors import BadInput
from tests import strategies as cs

KEY = "DIP-14-01-0123-B01"  # lista_nominal 612
VOTES = ("PAN", "PRI", "PRD", "PVEM", "PT", "MC", "MORENA", "CNR", "NULOS")


@pytest.fixture(scope="module")
def election(request):
    from tests.conftest import ELECTION

    return catalog.load(ELECTION)


def values(**over):
    base = {f: 10 for f in VOTES}
    base.update(TOTAL_ASENTADO=90, PERSONAS_VOTARON=90, REPRESENTANTES_VOTARON=2,
                BOLETAS_SOBRANTES=500)
    base.update(over)
    return base


@pytest.mark.parametrize("raw, expected", [
    ("0", 0), ("99999", 99999), (99999, 99999), (0, 0), (" 12 ", 12), ("0007", 7),
    ("ilegible", ILEGIBLE), ("Ilegible", ILEGIBLE), ("ILEGIBLE", ILEGIBLE),
    ("sin_dato", SIN_DATO), ("SIN_DATO", SIN_DATO),
])
def test_parse_value_accepts(raw, expected):
    assert actas.parse_value(raw, "PAN") == expected


@pytest.mark.parametrize("raw, why", [
    ("", "empty"), ("   ", "empty"), ("100000", "outside"), (100000, "outside"), (-1, "outside"),
    ("-1", "not a whole number"), ("１２", "not a whole number"), ("٣", "not a whole number"),
    ("1.5", "not a whole number"), ("1e3", "not a whole number"), ("12a", "not a whole number"),
    ("9" * 5000, "outside"), (True, "expected a number"), (None, "expected a number"),
    (1.0, "expected a number"), ("ilegible!", "not a whole number"),
])
def test_parse_value_refuses(raw, why):
    with pytest.raises(BadInput, match=why) as err:
        actas.parse_value(raw, "PAN")
    assert err.value.what == "PAN"


@given(cs.captured_values)
def test_parse_value_accepts_its_own_output(value):
    assert actas.parse_value(value, "X") == value
    assert actas.parse_value(str(value).lower(), "X") == value


def test_parse_values_names_unknown_and_missing(election):
    contest = election.contests["DIP"]
    raw = {f: "1" for f in contest.fields}
    assert actas.parse_values(contest, raw)["PAN"] == 1
    with pytest.raises(BadInput, match="not a field") as err:
        actas.parse_values(contest, {**raw, "XYZ": 3})
    assert err.value.what == "XYZ"
    del raw["MORENA"]
    with pytest.raises(BadInput, match="missing") as err:
        actas.parse_values(contest, raw)
    assert err.value.what == "MORENA"


def test_counted_with_observations(election):
    c = actas.classify(election, KEY, values(PAN=ILEGIBLE, NULOS=SIN_DATO, PRI=300))
    assert c.cls == actas.COUNTED and c.counted and c.label == "Contabilizada"
    assert c.votes["PAN"] == 0 and c.votes["NULOS"] == 0 and c.votes["PRI"] == 300
    assert c.total == 300 + 10 * 6
    assert c.observations == (actas.OBS_ALGUN,) and c.unreadable == ("PAN", "NULOS")
    assert c.inconsistent and c.contabilizada == 1


def test_control_fields_do_not_count_as_votes(election):
    c = actas.classify(election, KEY, values(TOTAL_ASENTADO=ILEGIBLE, BOLETAS_SOBRANTES=99999))
    assert c.cls == actas.COUNTED and c.total == 90 and c.observations == ()
    assert not c.inconsistent


def test_all_unreadable(election):
    unreadable = {f: ILEGIBLE if i % 2 else SIN_DATO for i, f in enumerate(VOTES)}
    c = actas.classify(election, KEY, values(**unreadable))
    assert c.cls == actas.ALL_UNREADABLE and not c.counted and c.total == 0
    assert c.observations == (actas.OBS_TODOS,) and c.contabilizada == 0
    one_readable = {**unreadable, "MC": 0}
    assert actas.classify(election, KEY, values(**one_readable)).cls == actas.COUNTED


def test_first_form_ceiling_is_lista_nominal_plus_two_per_party(election):
    # lista nominal 612; the first-form ballot has 7 parties (CNR and NULOS are not candidacies)
    ceiling = 612 + 2 * 7
    assert actas.ceiling(election, KEY) == ceiling
    at_limit = values(PAN=ceiling - 80, REPRESENTANTES_VOTARON=0)
    assert actas.classify(election, KEY, at_limit).cls == actas.COUNTED
    over = actas.classify(election, KEY, values(PAN=ceiling + 1 - 80, REPRESENTANTES_VOTARON=99))
    assert over.cls == actas.EXCEEDS_NOMINAL and not over.counted and over.total == ceiling + 1
    assert over.observations == (actas.OBS_EXCEDE,)


def test_out_of_catalog(election):
    c = actas.classify(election, "DIP-99-99-9999-Z99", values())
    assert c.cls == actas.OUT_OF_CATALOG and not c.counted and c.contabilizada == 2
    assert c.total == 90 and c.label == "Acta fuera de catálogo"
    assert c.observations == (actas.OBS_FUERA,) and not c.inconsistent
    all_bad = actas.classify(election, "X", {f: ILEGIBLE for f in VOTES})
    assert all_bad.cls == actas.OUT_OF_CATALOG


def test_every_class_has_a_spanish_label_and_a_contabilizada_code():
    classes = {actas.COUNTED, actas.ALL_UNREADABLE, actas.EXCEEDS_NOMINAL, actas.OUT_OF_CATALOG,
               actas.SIN_ACTA}
    assert set(actas.CLASS_LABELS) == classes == set(actas.CONTABILIZADA)
