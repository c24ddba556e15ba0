"""HQ counts each acta once, from validated values, from the CATD the catalog assigns it to
(DESIGN invariant 6). Every attack here is a signed, well-formed chain HQ accepts; what is
checked is the figure HQ publishes and the conflict it shows its staff."""

from __future__ import annotations

import pytest

from catd_node import canonical
from hq import count as hq_count
from hq import results
from tests.hq.countkit import (
    A1,
    A2,
    ANY,
    B1,
    BS,
    NODE_A,
    NODE_B,
    OUTSIDE,
    TWO_CATD,
    acopio,
    another_hq,
    append,
    deliver,
    digitize,
    each_store,  # noqa: F401  (every test on both stores)
    hq_two_catd,
    report,
    sin_acta,
    sin_acta_undone,
    values,
    verify,
)
from tests.hqkit import VALUES_A, append_actas, make_node


def figures(hq):
    conn = hq.connect()
    try:
        return results.results(conn, hq.election())
    finally:
        conn.close()


def counted(hq):
    conn = hq.connect()
    try:
        return hq_count.count(conn, hq.election())
    finally:
        conn.close()


def conflicts(doc):
    return [(c["acta"], c["node"], c["reason"]) for c in doc["conflicts"]["list"]]


@pytest.mark.parametrize("a_first", [True, False])
def test_same_acta_from_two_nodes_counts_the_owners_report_once(tmp_path, a_first):
    hq, a, b = hq_two_catd(tmp_path)
    report(a, A1, values(A1, PAN=40, MORENA=30))
    stolen = report(b, A1, values(A1, PAN=90, MORENA=5))["verified"]
    for node in ((a, b) if a_first else (b, a)):
        deliver(hq, node)
    doc = figures(hq)
    # Before: both reports summed (PAN 130) and the acta registered twice.
    assert doc["contests"]["GUB"]["totals"]["PAN"] == 40
    assert doc["contests"]["GUB"]["totals"]["MORENA"] == 30
    assert doc["actas"] == 1 and doc["summary"]["ACTAS_CONTABILIZADAS"] == "1"
    assert conflicts(doc) == [(A1, NODE_B, "otro_catd")]
    assert doc["conflicts"]["list"][0]["seq"] == stolen.seq
    assert NODE_A in doc["conflicts"]["list"][0]["detail"]
    record = counted(hq).actas[A1]
    assert record.node == NODE_A and record.values["PAN"] == 40


def test_arrival_order_does_not_change_the_count(tmp_path):
    hq1, a, b = hq_two_catd(tmp_path, "hq1")
    hq2 = another_hq(tmp_path, "hq2", a, b)
    report(a, A1, values(A1, PAN=40))
    report(b, A1, values(A1, PAN=90))
    report(b, B1, values(B1, PRI=70))
    report(a, ANY, values(ANY, MORENA=12))   # no CATD in the catalog: first received counts
    deliver(hq1, a)
    deliver(hq1, b)
    deliver(hq2, b)
    deliver(hq2, a)
    one, two = counted(hq1), counted(hq2)
    assert one.actas == two.actas and one.conflicts == two.conflicts
    assert set(one.actas) == {A1, B1, ANY}


def test_stolen_key_cannot_move_another_catds_actas(tmp_path):
    """CATD-09-02's key, stolen, reports CATD-09-01's actas: inflated, suppressed as sin acta,
    and re-reported after the owner's report. No figure moves; each is a conflict."""
    honest, a, b = hq_two_catd(tmp_path, "honest")
    attacked = another_hq(tmp_path, "attacked", a, b)
    report(a, A1, values(A1, PAN=40, MORENA=30))
    report(a, A2, values(A2, PRI=20))
    report(b, B1, values(B1, MORENA=150))
    deliver(honest, a)
    deliver(honest, b)

    deliver(attacked, a)
    bad = [report(b, A1, values(A1, MORENA=100))["verified"], sin_acta(b, A2),
           report(b, A2, values(A2, MORENA=100))["verified"]]
    deliver(attacked, b)
    before, after = figures(honest), figures(attacked)
    # Before: MORENA 30 + 150 + 100 + 100 and the acta A1 counted twice.
    assert after["contests"] == before["contests"]
    assert after["summary"] == before["summary"] and after["classes"] == before["classes"]
    assert sorted((c["acta"], c["seq"], c["reason"]) for c in after["conflicts"]["list"]) == sorted(
        [(A1, bad[0].seq, "otro_catd"), (A2, bad[1].seq, "otro_catd"), (A2, bad[2].seq, "otro_catd")])
    assert counted(attacked).actas == counted(honest).actas


def test_a_node_unknown_to_the_catalog_counts_for_nothing_it_owns(tmp_path):
    hq = hq_two_catd(tmp_path)[0]
    rogue = make_node(tmp_path / "rogue", hq, "CATD-09-99", TWO_CATD)
    report(rogue, B1, values(B1, PAN=100))
    deliver(hq, rogue)
    doc = figures(hq)
    assert doc["actas"] == 0 and doc["contests"]["GUB"]["totals"]["PAN"] == 0
    assert conflicts(doc) == [(B1, "CATD-09-99", "otro_catd")]


@pytest.mark.parametrize(("field", "value", "named"), [
    ("PAN", -1, "PAN"),
    ("PAN", canonical.MAX_SAFE_INT, "PAN"),           # 2^53 - 1: the largest a packet can carry
    ("PAN", "9007199254740993", "PAN"),             # 2^53 + 1 as digits
    ("PAN", "12abc", "PAN"),
    ("PAN", 100_000, "PAN"),
    ("PAN", True, "PAN"),
    ("PAN", None, "PAN"),
    ("NULOS", "missing", "NULOS"),
    ("EXTRA", 5, "EXTRA"),
    ("CAND_IND_1", 5, "CAND_IND_1"),                # a real field, not on this acta's ballot
])
def test_values_the_node_would_refuse_are_not_counted(tmp_path, field, value, named):
    hq, a, _ = hq_two_catd(tmp_path)
    vals = values(A2, PRI=20)
    if value == "missing":
        del vals[field]
    else:
        vals[field] = value
    report(a, A1, values(A1, PAN=7))
    bad = report(a, A2, vals)["verified"]
    deliver(hq, a)
    doc = figures(hq)
    # Before: the values were summed as signed (or crashed the count).
    assert doc["contests"]["GUB"]["totals"]["PAN"] == 7
    assert doc["contests"]["GUB"]["totals"]["PRI"] == 0
    assert doc["actas"] == 1 and doc["summary"]["ACTAS_CAPTURADAS"] == "1"
    [conflict] = doc["conflicts"]["list"]
    assert (conflict["acta"], conflict["node"], conflict["seq"], conflict["reason"]) == (
        A2, NODE_A, bad.seq, "valores_invalidos")
    assert conflict["detail"].startswith(named + ":")
    assert A2 not in counted(hq).actas


def test_values_that_are_not_an_object_are_refused(tmp_path):
    hq, a, _ = hq_two_catd(tmp_path)
    digitized = digitize(a, A1)
    verify(a, A1, ["PAN", 5], digitized.body["image"]["sha256"], digitized.seq)  # type: ignore[arg-type]
    deliver(hq, a)
    doc = figures(hq)
    assert doc["actas"] == 0
    assert conflicts(doc) == [(A1, NODE_A, "valores_invalidos")]


def test_moving_votes_between_own_actas_changes_only_those_and_never_past_a_ceiling(tmp_path):
    """A node's key can misreport its own actas within their ceilings, and no more."""
    def scenario(name, a1, a2):
        hq, a, b = hq_two_catd(tmp_path, name)
        report(a, A1, values(A1, MORENA=a1))
        report(a, A2, values(A2, MORENA=a2))
        report(b, B1, values(B1, PRI=70))
        report(b, BS, values(BS, PAN=700))
        deliver(hq, a)
        deliver(hq, b)
        return figures(hq), counted(hq)

    def figures_of(got, key):
        return got.actas[key].values, got.actas[key].classification

    honest, base = scenario("honest", 50, 20)
    moved, shifted = scenario("moved", 20, 50)   # 30 votes from A1 to A2, A2 within 106
    assert moved["contests"] == honest["contests"] and moved["summary"] == honest["summary"]
    assert shifted.actas[A1].values["MORENA"] == 20 and shifted.actas[A2].values["MORENA"] == 50
    for key in (B1, BS):
        assert figures_of(shifted, key) == figures_of(base, key)

    over, pushed = scenario("over", 0, 107)     # above A2's ceiling: 100 + 2 × 3 parties
    assert over["contests"]["GUB"]["totals"]["MORENA"] == 0
    assert over["classes"] == {"counted": 3, "exceeds_lista_nominal": 1}
    assert over["summary"]["ACTAS_NO_CONTABILIZADAS"] == "1"
    assert pushed.actas[A2].classification.observations == ("EXCEDE LISTA NOMINAL",)
    assert pushed.actas[A2].classification.ceiling == 106
    for key in (B1, BS):
        assert figures_of(pushed, key) == figures_of(base, key)


def test_a_second_report_from_the_same_node_is_a_conflict(tmp_path):
    hq, a, _ = hq_two_catd(tmp_path)
    first = report(a, A1, values(A1, PAN=40))
    again = verify(a, A1, values(A1, PAN=99), first["digitized"].body["image"]["sha256"],
                   first["captured"].seq)
    late_sin = sin_acta(a, A1)
    deliver(hq, a)
    doc = figures(hq)
    # Before: the latest acta.verified counted (PAN 99).
    assert doc["contests"]["GUB"]["totals"]["PAN"] == 40
    assert sorted((c["seq"], c["reason"]) for c in doc["conflicts"]["list"]) == [
        (again.seq, "segundo_reporte"), (late_sin.seq, "segundo_reporte")]
    assert counted(hq).actas[A1].verified_at == first["verified"].at


def test_sin_acta_then_undone_then_verified(tmp_path):
    hq, a, _ = hq_two_catd(tmp_path)
    report(a, A1, values(A1, PAN=40))
    missing = sin_acta(a, A2, "paquete_no_entregado")
    deliver(hq, a)
    doc = figures(hq)
    assert doc["classes"] == {"counted": 1, "sin_acta": 1}
    assert doc["summary"]["ACTAS_CAPTURADAS"] == "2" and doc["summary"]["ACTAS_NO_CONTABILIZADAS"] == "1"
    record = counted(hq).actas[A2]
    assert record.classification.observations == ("SIN ACTA POR PAQUETE NO ENTREGADO",)
    assert (record.values, record.image_sha256, record.evidence) == ({}, None, (missing.seq,))
    assert record.verified_at == missing.at

    undone = sin_acta_undone(a, A2, missing.seq)
    deliver(hq, a)
    assert A2 not in counted(hq).actas and figures(hq)["classes"] == {"counted": 1}

    arrived = report(a, A2, values(A2, PRI=20))
    deliver(hq, a)
    doc = figures(hq)
    assert doc["classes"] == {"counted": 2} and doc["contests"]["GUB"]["totals"]["PRI"] == 20
    assert doc["conflicts"]["count"] == 0
    record = counted(hq).actas[A2]
    assert record.evidence == (missing.seq, undone.seq, arrived["digitized"].seq, arrived["captured"].seq,
                               arrived["verified"].seq)


def test_sin_acta_that_the_rules_refuse_is_a_conflict(tmp_path):
    hq, a, _ = hq_two_catd(tmp_path)
    bad_reason = sin_acta(a, A1, "se_perdio")
    outside = sin_acta(a, OUTSIDE)
    stray_undo = sin_acta_undone(a, A2, 999)
    deliver(hq, a)
    doc = figures(hq)
    assert doc["actas"] == 0
    got = {c["seq"]: (c["reason"], c["detail"]) for c in doc["conflicts"]["list"]}
    assert got[bad_reason.seq][0] == "valores_invalidos" and "motivo" in got[bad_reason.seq][1]
    assert got[outside.seq][0] == "valores_invalidos" and OUTSIDE in got[outside.seq][1]
    assert got[stray_undo.seq][0] == "segundo_reporte"


def test_acta_outside_the_catalog_is_registered_once_without_votes(tmp_path):
    hq, a, b = hq_two_catd(tmp_path)
    vals = values(A1, PAN=60)   # its contest is the one whose TIPO_ACTA ends the key
    report(a, OUTSIDE, vals)
    report(b, OUTSIDE, vals)
    deliver(hq, a)
    deliver(hq, b)
    doc = figures(hq)
    # Before: registered twice.
    assert doc["actas"] == 1
    assert doc["summary"]["ACTAS_FUERA_CATALOGO"] == "1" and doc["summary"]["ACTAS_CAPTURADAS"] == "0"
    assert doc["contests"]["GUB"]["totals"]["PAN"] == 0
    assert conflicts(doc) == [(OUTSIDE, NODE_B, "otro_catd")]
    record = counted(hq).actas[OUTSIDE]
    assert (record.node, record.in_catalog, record.classification.cls) == (NODE_A, False, "out_of_catalog")
    assert record.classification.contabilizada == 2


@pytest.mark.parametrize("first", ["one", "two"])
def test_first_form_catalog_counts_the_first_report_received(tmp_path, hq_dir, first):
    one = make_node(tmp_path / "one", hq_dir, "CATD-14-01")
    two = make_node(tmp_path / "two", hq_dir, "CATD-14-02")
    key = "DIP-14-01-0123-B01"
    append_actas(one, {key: VALUES_A})
    append_actas(two, {key: {**VALUES_A, "PAN": 300}})
    order = (one, two) if first == "one" else (two, one)
    for node in order:
        deliver(hq_dir, node)
    doc = figures(hq_dir)
    winner, loser = (("CATD-14-01", "CATD-14-02") if first == "one" else ("CATD-14-02", "CATD-14-01"))
    assert doc["actas"] == 1
    assert doc["contests"]["DIP"]["totals"]["PAN"] == (100 if first == "one" else 300)
    assert conflicts(doc) == [(key, loser, "otro_catd")]
    assert counted(hq_dir).actas[key].node == winner


def test_record_holds_acopio_image_capture_times_and_evidence(tmp_path):
    hq, a, _ = hq_two_catd(tmp_path)
    received = acopio(a, A1, mecanismo_traslado="F", tipo_documento="RPP")
    photo = digitize(a, None, source="upload")            # identified later by a clerk
    assigned = append(a, "acta.assigned", {"acta": A1, "image_sha256": photo.body["image"]["sha256"],
                                           "by": "caro"})
    made = report(a, A1, values(A1, PAN=40), sha=photo.body["image"]["sha256"])
    acopio(a, A2)
    scanned = report(a, A2, values(A2, PRI=3))
    acopio(a, ANY, tipo_documento="ACTA VOTO")               # not an allowed TIPO_DOCUMENTO
    casilla = digitize(a, ANY, origen="CASILLA", digitalizacion="MOVIL")
    report(a, ANY, values(ANY, PRI=1), sha=casilla.body["image"]["sha256"])
    deliver(hq, a)
    got = counted(hq)
    record = got.actas[A1]
    assert record.image_sha256 == photo.body["image"]["sha256"]
    assert (record.origen, record.digitalizacion) == ("CATD", "MOVIL")
    assert (record.tipo_documento, record.mecanismo_traslado) == ("RPP", "F")
    assert (record.acopio_at, record.captured_at, record.verified_at) == (
        received.at, made["captured"].at, made["verified"].at)
    assert record.evidence == (received.seq, photo.seq, assigned.seq, made["captured"].seq,
                               made["verified"].seq)
    assert record.in_catalog and record.values == values(A1, PAN=40)
    second = got.actas[A2]
    assert (second.origen, second.digitalizacion, second.tipo_documento, second.mecanismo_traslado) == (
        "CATD", "ESCANER", "ACTA PREP", None)
    assert scanned["digitized"].seq in second.evidence
    third = got.actas[ANY]
    assert (third.origen, third.digitalizacion, third.tipo_documento) == ("CASILLA", "MOVIL", None)
    assert [(c.key, c.reason) for c in got.conflicts] == [(ANY, "valores_invalidos")]
    assert third.classification.counted  # a bad acopio field is flagged; the votes still count
