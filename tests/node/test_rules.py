"""Anexo 13 on second-form catalogs: each acta's own ballot, the ceiling, sin acta, the summary."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from catd_node import actas, catalog, tally
from catd_node.actas import ILEGIBLE, SIN_DATO
from catd_node.errors import BadInput

PARTIES = ["PAN", "PRI", "PRD", "MORENA"]
VOTES = [*PARTIES, "PAN_PRI_PRD", "PAN_PRI", "CAND_IND_1", "NO_REGISTRADAS", "NULOS"]
CONTROLS = ["TOTAL_BOLETAS_SOBRANTES", "TOTAL_PERSONAS_VOTARON", "TOTAL_REP_PARTIDO_CI_VOTARON",
            "TOTAL_VOTOS_SACADOS", "TOTAL_VOTOS_ASENTADO"]
B = "230085B0100A02"     # lista nominal 500, every field on its ballot, representantes 6
C = "230085C0100A02"     # lista nominal 400, no coalition PAN_PRI on its ballot, no independent
S = "230090S0100A02E"    # casilla especial: lista nominal 0, ballot maximum 750


def acta(key: str, tipo: str, ln: int, ballot: list[str] | None = None, reps: int = 0,
         catd: str | None = "CATD-23-01") -> dict:
    sec, ident, ext, tipo_acta = int(key[2:6]), int(key[7:9]), int(key[9:11]), key[11:]
    return {"clave_acta": key, "contest": "DIP", "seccion": sec, "tipo_casilla": tipo,
            "id_casilla": ident, "ext_contigua": ext, "tipo_acta": tipo_acta, "distrito": 1,
            "lista_nominal": ln, "representantes": reps, "catd": catd,
            **({"ballot": ballot} if ballot is not None else {})}


def election_data() -> dict:
    return {
        "form": 2, "election": "DIPUTACIONES LOCALES", "entidad": {"id": 23, "nombre": "QUINTANA ROO"},
        "release": "DIP_QROO", "timezone": "UTC-5", "max_boletas_especial": 750,
        "contests": [{"id": "DIP", "name": "Diputaciones", "tipo_acta": ["A02", "A02E"],
                      "votes": [{"field": v, "kind": catalog.infer_kind(v)} for v in VOTES],
                      "controls": CONTROLS}],
        "actas": [acta(B, "B", 500, reps=6),
                  acta(C, "C", 400, ballot=[v for v in VOTES if v not in ("PAN_PRI", "CAND_IND_1")]),
                  acta(S, "S", 0)],
    }


@pytest.fixture(scope="module")
def election() -> catalog.Election:
    return catalog.parse(election_data(), "test")


def typed(election: catalog.Election, key: str, **over: object) -> dict:
    values: dict = {f: 10 for f in election.ballot(key)}
    values.update({f: SIN_DATO for f in CONTROLS})
    values.update(over)
    return values


def test_second_form_loads_every_part(election):
    spec = election.actas[C]
    assert spec.clave_casilla == "230085C0100" and spec.tipo_acta == "A02" and spec.catd == "CATD-23-01"
    assert election.ballot(C) == ("PAN", "PRI", "PRD", "MORENA", "PAN_PRI_PRD", "NO_REGISTRADAS", "NULOS")
    assert election.fields_of(C)[-5:] == tuple(CONTROLS)
    assert election.contests["DIP"].kinds["CAND_IND_1"] == catalog.INDEPENDIENTE
    assert (election.release, election.entidad, election.timezone) == ("DIP_QROO", "QUINTANA ROO", "UTC-5")
    assert election.local_offset().total_seconds() == -5 * 3600
    assert election.actas_of("CATD-23-01") == (B, C, S) and election.actas_of("CATD-23-02") == ()


@pytest.mark.parametrize("mutate, where", [
    (lambda d: d["actas"][0].update(clave_acta="230085B0200A02"), "actas[0].clave_acta"),
    (lambda d: d["actas"][0].update(tipo_casilla="X"), "actas[0].tipo_casilla"),
    (lambda d: d["actas"][1].update(ballot=["PAN", "VERDE"]), "actas[1].ballot"),
    (lambda d: d["actas"][0].update(tipo_acta="A09", clave_acta="230085B0100A09"), "actas[0].tipo_acta"),
    (lambda d: d["actas"].append(dict(d["actas"][0])), "actas[3].key"),
    (lambda d: d["contests"][0]["votes"][0].update(kind="partido_grande"), "contests[0].votes[0].kind"),
    (lambda d: d.update(timezone="CST"), "timezone"),
    (lambda d: d["entidad"].update(id=33), "entidad.id"),
])
def test_second_form_names_the_bad_field(mutate, where):
    data = election_data()
    mutate(data)
    with pytest.raises(BadInput) as err:
        catalog.parse(data, "test")
    assert err.value.what.endswith(where)


def test_ceiling_counts_only_candidacies_on_the_ballot(election):
    # B: 4 parties + 1 independent → 500 + 10; C: 4 parties → 400 + 8; S: 750 + 10.
    assert actas.ceiling(election, B) == 510
    assert actas.ceiling(election, C) == 408
    assert actas.ceiling(election, S) == 760


def test_between_release_representatives_and_two_per_candidacy_counts(election):
    """A real 2019 release counts actas above LISTA_NOMINAL + REPRESENTANTES_PP_CI."""
    spec = election.actas[B]
    total = spec.lista_nominal + spec.representantes + 2      # 508: above LN + 6, below LN + 10
    c = actas.classify(election, B, typed(election, B, PAN=total - 80))
    assert c.total == total and c.cls == actas.COUNTED
    exact = actas.classify(election, B, typed(election, B, PAN=510 - 80))
    assert exact.total == 510 and exact.cls == actas.COUNTED
    over = actas.classify(election, B, typed(election, B, PAN=511 - 80))
    assert over.cls == actas.EXCEEDS_NOMINAL and over.contabilizada == 0


def test_casilla_especial_uses_the_ballot_maximum(election):
    assert actas.classify(election, S, typed(election, S, PAN=760 - 80)).cls == actas.COUNTED
    assert actas.classify(election, S, typed(election, S, PAN=761 - 80)).cls == actas.EXCEEDS_NOMINAL


def test_excede_prevails_and_combines_with_algun_campo(election):
    c = actas.classify(election, C, typed(election, C, PAN=500, NULOS=ILEGIBLE))
    assert c.cls == actas.EXCEEDS_NOMINAL
    assert c.published_observations == "EXCEDE LISTA NOMINAL, ALGÚN CAMPO ILEGIBLE O SIN DATO"
    assert c.inconsistent


def test_sin_dato_only_in_a_control_field_adds_no_observation(election):
    c = actas.classify(election, B, typed(election, B, TOTAL_VOTOS_ASENTADO=SIN_DATO,
                                          TOTAL_PERSONAS_VOTARON=ILEGIBLE))
    assert c.cls == actas.COUNTED and c.observations == () and not c.inconsistent


def test_fields_not_on_the_ballot_are_neither_zero_nor_sin_dato(election):
    values = typed(election, C)
    assert "PAN_PRI" not in values
    c = actas.classify(election, C, values)
    assert c.cls == actas.COUNTED and c.observations == () and "PAN_PRI" not in c.votes
    assert actas.published(election, C, values, "PAN_PRI") == actas.NOT_ON_BALLOT
    assert actas.published(election, B, typed(election, B), "PAN_PRI") == "10"
    assert actas.published(election, B, typed(election, B, PAN=SIN_DATO), "PAN") == "SIN DATO"
    # every field on the ballot unreadable: TODOS, though the contest has more fields
    all_bad = typed(election, C, **{f: ILEGIBLE for f in election.ballot(C)})
    assert actas.classify(election, C, all_bad).cls == actas.ALL_UNREADABLE


def test_capture_takes_exactly_the_ballot_and_the_controls(election):
    raw = {f: "1" for f in election.fields_of(C)}
    assert set(actas.parse_values(election.fields_of(C), raw)) == set(election.fields_of(C))
    with pytest.raises(BadInput, match="not a field") as err:
        actas.acta_values(election, C, {**raw, "PAN_PRI": 3})
    assert err.value.what == "PAN_PRI"
    with pytest.raises(BadInput, match="missing"):
        actas.acta_values(election, C, {k: v for k, v in raw.items() if k != "NULOS"})
    with pytest.raises(BadInput, match="outside"):
        actas.acta_values(election, C, {**raw, "PAN": -5})
    with pytest.raises(BadInput, match="outside"):
        actas.acta_values(election, C, {**raw, "PAN": 2**53})
    assert actas.parse_value("Sin dato", "PAN") == SIN_DATO
    assert actas.parse_value("sin DATO", "PAN") == SIN_DATO


def test_sin_acta_is_not_counted_and_publishes_its_reason(election):
    c = actas.sin_acta(election, B, "casilla_no_instalada")
    assert c.cls == actas.SIN_ACTA and not c.counted and c.contabilizada == 0 and not c.inconsistent
    assert c.published_observations == "SIN ACTA POR CASILLA NO INSTALADA"
    with pytest.raises(BadInput):
        actas.sin_acta(election, B, "se_mojo")
    with pytest.raises(BadInput):
        actas.sin_acta(election, "230099B0100A02", "paquete_no_entregado")


@pytest.mark.parametrize("part, whole, text", [
    (2031, 2136, "95.0842"), (1, 3, "33.3333"), (2, 3, "66.6666"), (5516482, 7935947, "69.5125"),
    (0, 10, "0.0000"), (10, 10, "100.0000"), (7, 0, "0.0000"), (1, 1_000_001, "0.0000"),
])
def test_percentages_truncate_never_round(part, whole, text):
    assert tally.percent(part, whole) == text


@given(st.integers(0, 10**9), st.integers(1, 10**9))
def test_percent_is_the_exact_truncation(part, whole):
    whole_part, decimals = tally.percent(part, whole).split(".")
    assert len(decimals) == 4
    scaled = int(whole_part) * 10_000 + int(decimals)
    assert scaled * whole <= part * 1_000_000 < (scaled + 1) * whole


def leeme_g_summary_header() -> list[str]:
    """The summary header line of the 2024 template, as LEEME_G prints it (its spelling kept)."""
    from tests.releasekit import DOMAIN

    text = (DOMAIN / "LEEME_G.txt").read_text(encoding="utf-8")
    line = next(line for line in text.splitlines() if line.startswith("ACTAS_ESPERADAS|"))
    return line.strip().split("|")


def test_summary_counts_every_class(election):
    results = [
        (B, actas.classify(election, B, typed(election, B, PAN=ILEGIBLE))),       # counted, algún
        (C, actas.classify(election, C, typed(election, C, PAN=900))),            # excede
        (S, actas.sin_acta(election, S, "paquete_no_entregado")),                 # sin acta
        ("230099B0100A02", actas.classify(election, "230099B0100A02", typed(election, B))),  # fuera
    ]
    summary = tally.summarize(election, results, final=False)
    fields = summary.fields()
    assert list(fields) == list(tally.SUMMARY_FIELDS) == leeme_g_summary_header()
    assert (fields["ACTAS_ESPERADAS"], fields["ACTAS_REGISTRADAS"], fields["ACTAS_FUERA_CATALOGO"],
            fields["ACTAS_CAPTURADAS"], fields["ACTAS_CONTABILIZADAS"],
            fields["ACTAS_NO_CONTABILIZADAS"]) == ("3", "4", "1", "3", "1", "2")
    assert fields["PORCENTAJE_ACTAS_CAPTURADAS"] == "100.0000"
    assert fields["PORCENTAJE_ACTAS_CONTABILIZADAS"] == "33.3333"
    assert fields["PORCENTAJE_ACTAS_CON_INCONSISTENCIAS"] == "66.6666"     # B (algún) and C (excede)
    assert fields["LISTA_NOMINAL_ACTAS_CONTABILZADAS"] == "500"
    assert summary.totals["PAN"] == 0 and summary.totals["PRI"] == 10
    fields_alone = tally.summarize(election, results, final=False, by_field=False)
    assert fields_alone.fields() == fields and fields_alone.totals == {}
    assert fields["TOTAL_VOTOS_C_CS"] == fields["TOTAL_VOTOS_S_CS"] == "80"


def test_participation_leaves_out_casillas_especiales_until_the_final_cut(election):
    results = [(B, actas.classify(election, B, typed(election, B))),
               (S, actas.classify(election, S, typed(election, S, PAN=410)))]
    night = tally.summarize(election, results, final=False)
    final = tally.summarize(election, results, final=True)
    assert (night.total_votos_s_cs, night.total_votos_c_cs) == (90, 90 + 490)
    assert night.participation == "18.0000" and final.participation == "116.0000"


@settings(max_examples=60, deadline=None)
@given(st.randoms(use_true_random=False), st.lists(
    st.one_of(st.integers(0, 120), st.sampled_from([ILEGIBLE, SIN_DATO])), min_size=9, max_size=9))
def test_class_and_totals_do_not_depend_on_field_order(rng: random.Random, cells):
    data = election_data()
    election = catalog.parse(data, "a")
    shuffled = election_data()
    for spec in shuffled["actas"]:
        if "ballot" in spec:
            rng.shuffle(spec["ballot"])
    rng.shuffle(shuffled["actas"])
    other = catalog.parse(shuffled, "b")
    for key in (B, C, S):
        values = dict(zip(election.ballot(key), cells, strict=False))
        values.update({f: 1 for f in CONTROLS})
        items = list(values.items())
        rng.shuffle(items)
        assert actas.classify(election, key, values) == actas.classify(other, key, dict(items))
    assert other.ballot(C) == election.ballot(C)
