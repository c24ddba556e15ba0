"""The count through HQ's interfaces: GET /v1/results and /v1/conflicts on a real server,
`catd-hq status --json` and `catd-hq export --csv` in process."""

from __future__ import annotations

import csv
import json

import aiohttp
from aiohttp.test_utils import TestServer

from catd_node.tally import SUMMARY_FIELDS
from hq import cli
from hq import store as hq_store
from hq.app import create_app
from sync import protocol
from tests.hq.countkit import (
    A1,
    A2,
    B1,
    NODE_A,
    NODE_B,
    each_store,  # noqa: F401  (every test on both stores)
    hq_two_catd,
    report,
    sin_acta,
    values,
)


async def _get(url: str) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as session, session.get(url) as resp:
        return resp.status, await resp.json()


async def _post(url: str, node) -> None:
    body = protocol.frame(node.ledger().packets())
    target = url + protocol.PACKETS_PATH
    async with aiohttp.ClientSession() as session, session.post(target, data=body) as resp:
        assert resp.status == 200, await resp.text()


async def test_results_and_conflicts_over_http_then_status_and_csv(tmp_path, capsys):
    hq, a, b = hq_two_catd(tmp_path)
    report(a, A1, values(A1, PAN=40, MORENA=30))
    sin_acta(a, A2, "casilla_no_instalada")
    stolen = report(b, A1, values(A1, MORENA=100))["verified"]
    report(b, B1, values(B1, PAN=-5))
    server = TestServer(create_app(hq), host="127.0.0.1", port=0)
    await server.start_server()
    url = str(server.make_url("")).rstrip("/")
    try:
        await _post(url, a)
        status, doc = await _get(url + protocol.RESULTS_PATH)
        assert status == 200 and doc["conflicts"] == {"count": 0, "list": []}
        assert doc["contests"]["GUB"]["totals"]["MORENA"] == 30
        await _post(url, b)  # the count follows new packets (the cache is keyed by the heads)
        status, doc = await _get(url + protocol.RESULTS_PATH)
        status2, listed = await _get(url + protocol.CONFLICTS_PATH)
    finally:
        await server.close()
    assert status == status2 == 200
    assert doc["election"] == "JEFATURA DE GOBIERNO (PRUEBA)"
    assert list(doc["summary"]) == list(SUMMARY_FIELDS)
    assert doc["summary"]["ACTAS_ESPERADAS"] == "5" and doc["summary"]["ACTAS_REGISTRADAS"] == "2"
    assert doc["summary"]["ACTAS_CONTABILIZADAS"] == "1" and doc["summary"]["ACTAS_NO_CONTABILIZADAS"] == "1"
    assert doc["summary"]["PORCENTAJE_ACTAS_CAPTURADAS"] == "40.0000"
    assert doc["classes"] == {"counted": 1, "sin_acta": 1}
    assert doc["contests"]["GUB"]["totals"]["MORENA"] == 30 and doc["contests"]["GUB"]["actas_counted"] == 1
    assert listed == doc["conflicts"]
    assert [(c["acta"], c["node"], c["reason"]) for c in listed["list"]] == [
        (A1, NODE_B, "otro_catd"), (B1, NODE_B, "valores_invalidos")]
    assert listed["list"][0]["seq"] == stolen.seq
    assert listed["list"][1]["detail"] == "PAN: -5 is outside 0–99999"

    assert cli.main(["-d", str(hq.root), "status", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["conflicts"] == listed and set(shown["nodes"]) == {NODE_A, NODE_B}
    assert cli.main(["-d", str(hq.root), "status"]) == 0
    assert "conflicts: 2 reports not counted" in capsys.readouterr().out

    out = tmp_path / "actas.csv"
    assert cli.main(["-d", str(hq.root), "export", "--csv", str(out)]) == 0
    rows = {r["acta"]: r for r in csv.DictReader(out.open(encoding="utf-8"))}
    assert set(rows) == {A1, A2}
    assert (rows[A1]["node"], rows[A1]["MORENA"], rows[A1]["contabilizada"]) == (NODE_A, "30", "1")
    assert (rows[A2]["class"], rows[A2]["observations"]) == ("sin_acta", "SIN ACTA POR CASILLA NO INSTALADA")
    assert rows[A2]["PAN"] == "" and rows[A2]["image_sha256"] == ""


async def test_results_without_a_catalog_say_so(tmp_path):
    hq = hq_store.init(tmp_path / "hq")
    server = TestServer(create_app(hq), host="127.0.0.1", port=0)
    await server.start_server()
    url = str(server.make_url("")).rstrip("/")
    try:
        status, doc = await _get(url + protocol.RESULTS_PATH)
        status2, listed = await _get(url + protocol.CONFLICTS_PATH)
    finally:
        await server.close()
    assert status == status2 == 200
    assert doc["detail"] == listed["detail"] == "HQ has no election catalog"
    assert listed["count"] == 0
