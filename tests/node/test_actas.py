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
    assert c.observations == ("PAN: ilegible", "NULOS: sin dato")


def test_control_fields_do_not_count_as_votes(election):
    c = actas.classify(election, KEY, values(TOTAL_ASENTADO=ILEGIBLE, BOLETAS_SOBRANTES=99999))
    assert c.cls == actas.COUNTED and c.total == 90 and c.observations == ()


def test_all_unreadable(election):
    unreadable = {f: ILEGIBLE if i % 2 else SIN_DATO for i, f in enumerate(VOTES)}
    c = actas.classify(election, KEY, values(**unreadable))
    assert c.cls == actas.ALL_UNREADABLE and not c.counted and c.total == 0
    assert len(c.observations) == len(VOTES)
    one_readable = {**unreadable, "MC": 0}
    assert actas.classify(election, KEY, values(**one_readable)).cls == actas.COUNTED


def test_exceeds_lista_nominal_with_and_without_representantes(election):
    # lista nominal 612: 612 votes counts, 613 does not ...
    at_limit = values(PAN=612 - 80, REPRESENTANTES_VOTARON=SIN_DATO)
    assert actas.classify(election, KEY, at_limit).total == 612
    assert actas.classify(election, KEY, at_limit).cls == actas.COUNTED
    over = values(PAN=613 - 80, REPRESENTANTES_VOTARON=ILEGIBLE)
    c = actas.classify(election, KEY, over)
    assert c.cls == actas.EXCEEDS_NOMINAL and not c.counted and c.total == 613
    # ... unless party representatives voted there too (lista nominal + representantes)
    assert actas.classify(election, KEY, values(PAN=613 - 80, REPRESENTANTES_VOTARON=1)).cls \
        == actas.COUNTED
    assert actas.classify(election, KEY, values(PAN=615 - 80, REPRESENTANTES_VOTARON=2)).cls \
        == actas.EXCEEDS_NOMINAL


def test_out_of_catalog(election):
    c = actas.classify(election, "DIP-99-99-9999-Z99", values())
    assert c.cls == actas.OUT_OF_CATALOG and not c.counted
    assert c.total == 90 and c.label == "Acta fuera del catálogo"
    all_bad = actas.classify(election, "X", {f: ILEGIBLE for f in VOTES})
    assert all_bad.cls == actas.OUT_OF_CATALOG


def test_every_class_has_a_spanish_label():
    classes = {actas.COUNTED, actas.ALL_UNREADABLE, actas.EXCEEDS_NOMINAL, actas.OUT_OF_CATALOG}
    assert set(actas.CLASS_LABELS) == classes
