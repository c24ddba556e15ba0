"""HQ results and CSV export over a small hand-made chain, numbers checked by hand."""

from __future__ import annotations

import csv

import aiohttp

from catd_node.actas import classify
from hq import cli
from sync import protocol
from tests.hqkit import VALUES_A, append_actas

A, B, C, D = "DIP-14-01-0123-B01", "DIP-14-01-0123-C01", "DIP-14-01-0124-B01", "DIP-14-01-0124-C01"
VALUES_B = {**VALUES_A, "PAN": "ILEGIBLE", "PRI": 50, "NULOS": "SIN_DATO"}
VALUES_C = {**VALUES_A, "MORENA": 700}  # 920 > lista nominal 598 + 4 representantes
VALUES_D = {**{f: "ILEGIBLE" for f in ("PAN", "PRI", "PRD", "PVEM", "PT", "MC", "MORENA", "CNR", "NULOS")},
            "TOTAL_ASENTADO": 1, "PERSONAS_VOTARON": 1, "REPRESENTANTES_VOTARON": 0, "BOLETAS_SOBRANTES": 1}


def _build(node):
    made = append_actas(node, {A: VALUES_A, B: VALUES_B, C: VALUES_C, D: VALUES_D})
    # A second acta.verified of A (the node verifies once): a conflict; the first one counts.
    corrected = {**VALUES_A, "PAN": 101}
    ledger = node.ledger()
    first = made[2].body
    fix = ledger.append("acta.verified", {**first, "values": corrected,
                                          "total": classify(node.election, A, corrected).total})
    ledger.close()
    return made, fix


async def test_results_and_csv_numbers(hq_node, hq_dir, hq_server, tmp_path):
    made, fix = _build(hq_node)
    chain = hq_node.ledger().packets()
    async with aiohttp.ClientSession() as session:
        async with session.post(hq_server.url + protocol.PACKETS_PATH, data=protocol.frame(chain)) as resp:
            assert resp.status == 200
        async with session.get(hq_server.url + protocol.RESULTS_PATH) as resp:
            assert resp.status == 200
            assert resp.content_type == "application/json"
            results = await resp.json()
    assert results["actas"] == 4
    assert results["classes"] == {"counted": 2, "exceeds_lista_nominal": 1, "all_unreadable": 1}
    dip = results["contests"]["DIP"]
    assert dip["name"] == "Diputaciones" and dip["actas_counted"] == 2
    assert results["conflicts"] == {"count": 1, "list": [{
        "acta": A, "node": "CATD-14-01", "seq": fix.seq, "reason": "segundo_reporte",
        "detail": f"already reported at seq {made[2].seq}"}]}
    summary = results["summary"]
    assert (summary["ACTAS_ESPERADAS"], summary["ACTAS_REGISTRADAS"], summary["ACTAS_CONTABILIZADAS"]) == (
        "20", "4", "2")
    assert summary["PORCENTAJE_ACTAS_CON_INCONSISTENCIAS"] == "15.0000"  # B (unreadable), C, D of 20
    assert summary["LISTA_NOMINAL_ACTAS_CONTABILZADAS"] == str(612 + 611)
    assert summary["TOTAL_VOTOS_C_CS"] == str(370 + 234)
    # A (PAN=100, its first report) + B (PAN ilegible → 0, PRI 50, NULOS sin dato → 0)
    assert dip["totals"] == {"PAN": 100, "PRI": 130, "PRD": 20, "PVEM": 10, "PT": 14, "MC": 24,
                             "MORENA": 300, "CNR": 0, "NULOS": 6}

    out = tmp_path / "actas.csv"
    assert cli.main(["-d", str(hq_dir.root), "export", "--csv", str(out)]) == 0
    rows = {r["acta"]: r for r in csv.DictReader(out.open(encoding="utf-8"))}
    assert set(rows) == {A, B, C, D}
    a = rows[A]
    digitized, captured = made[0], made[1]
    assert (a["node"], a["seccion"], a["casilla"], a["contest"]) == ("CATD-14-01", "123", "B01", "DIP")
    assert (a["class"], a["PAN"], a["MORENA"], a["total"]) == ("counted", "100", "150", "370")
    assert a["image_sha256"] == digitized.body["image"]["sha256"]
    assert a["digitized_at"] == digitized.at and a["captured_at"] == captured.at
    assert a["verified_at"] == made[2].at
    assert (a["origen"], a["digitalizacion"], a["in_catalog"], a["contabilizada"]) == (
        "CATD", "ESCANER", "1", "1")
    assert a["evidence"] == f"{digitized.seq} {captured.seq} {made[2].seq}"
    conn = hq_dir.connect()
    received = conn.execute("SELECT received_at FROM packets WHERE seq = ?", (made[2].seq,)).fetchone()[0]
    conn.close()
    assert a["received_at"] == received
    b = rows[B]
    assert (b["class"], b["PAN"], b["NULOS"], b["total"]) == ("counted", "ILEGIBLE", "SIN_DATO", "234")
    assert b["observations"] == "ALGÚN CAMPO ILEGIBLE O SIN DATO"
    assert (rows[C]["class"], rows[C]["total"]) == ("exceeds_lista_nominal", "920")
    assert rows[D]["class"] == "all_unreadable"
    assert rows[C]["class_label"] == "Excede lista nominal"
