"""A district's capture centre (CCV) with real processes: `catd-hq serve` and three
`catd-node sync` services — the acta's CATD, the district's CCV, and a CATD of another
district. A phone photo of an acta of district 1 reaches both the CATD and the CCV (each
records it as its own acta.digitized), never the third; both capture it; HQ counts the report
it received first, lists the other as a conflict, and both verifiers accept the cut, the
CCV's photo checked against the device key the CATD's chain enrolled."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import sqlite3
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import aiohttp

from catd_node import canonical
from catd_node.datadir import DataDir
from hq import store as hq_store
from hq.casilla import phone
from hq.release import cut
from sync import casilla_protocol as cp
from sync import protocol
from tests.casilla.casillakit import NODE_A, NODE_B, TWO_CATD, acta_photo, enrol
from tests.casilla.test_casilla_e2e import _rows as _published
from tests.hq import countkit as ck
from tests.hq.cutkit import FIRST_CUT, hq_verdict, tool_verdict
from tests.hqkit import ROOT, HQProcess, make_node
from tests.sync.replay_helpers import configure

CCV = "CCV-09-01"
DEADLINE_S = 30.0


def ccv_election(tmp: Path) -> Path:
    data = json.loads(TWO_CATD.read_text(encoding="utf-8"))
    data["ccv"] = {"1": CCV}   # district 1 is CATD-09-01's
    path = tmp / "election-ccv.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def _digitized(node: DataDir, acta: str) -> list[dict[str, Any]]:
    conn = sqlite3.connect(f"file:{node.db_path}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT canonical FROM packets WHERE kind = 'acta.digitized'").fetchall()
    finally:
        conn.close()
    bodies = [canonical.decode(bytes(raw))["body"] for (raw,) in rows]
    return [b for b in bodies if b.get("acta") == acta]


def _head(node: DataDir) -> int:
    conn = sqlite3.connect(f"file:{node.db_path}?mode=ro", uri=True)
    try:
        return int(conn.execute("SELECT MAX(seq) FROM packets").fetchone()[0])
    finally:
        conn.close()


async def _until(what: str, check: Any) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


def _signed_pull(node: DataDir) -> dict[str, str]:
    date = str(int(time.time()))
    sig = node.private_key().sign(cp.pull_message(node.config.node_id, date, "0"))
    return {protocol.NODE_HEADER: node.config.node_id, protocol.DATE_HEADER: date,
            protocol.SIGNATURE_HEADER: base64.b64encode(sig).decode("ascii")}


async def test_catd_and_ccv_capture_a_casilla_photo_hq_counts_it_once(tmp_path: Path, capsys) -> None:
    election = ccv_election(tmp_path)
    hq = hq_store.init(tmp_path / "hq", election, None)
    catd = make_node(tmp_path / "catd", hq, NODE_A, election)
    ccv = make_node(tmp_path / "ccv", hq, CCV, election)
    other = make_node(tmp_path / "other", hq, NODE_B, election)
    acta = next(k for k, s in catd.election.actas.items() if s.catd == NODE_A)
    assert catd.election.ccv_of(acta) == CCV and catd.election.capturers(acta) == (NODE_A, CCV)
    key = enrol(catd, "cae-1")
    server = HQProcess(hq, tmp_path / "hq-serve.log")
    url = server.start(0)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    nodes = [configure(n, [url], {"poll_s": 0.2, "retry_base_s": 0.05, "retry_cap_s": 0.3})
             for n in (catd, ccv, other)]
    catd, ccv, other = nodes
    procs = [await asyncio.create_subprocess_exec(
        sys.executable, "-m", "catd_node.cli", "sync", "-d", str(n.root), cwd=ROOT, env=env,
        stderr=(tmp_path / f"{n.config.node_id}.log").open("wb")) for n in nodes]
    try:
        async with aiohttp.ClientSession() as session:
            async def hq_head(node: DataDir) -> int:
                async with session.get(f"{url}/v1/nodes/{node.config.node_id}/head") as resp:
                    return int((await resp.json())["seq"])

            async def delivered(node: DataDir) -> bool:
                return await hq_head(node) == _head(node)

            await _until("HQ to hold the CATD's device.added", lambda: delivered(catd))
            data = acta_photo(acta)
            signed = phone.sign(key, "cae-1", NODE_A, acta, data)
            status, answer = await phone.send(session, url, signed, data)
            assert status == 201, answer

            async def both_have_it() -> bool:
                return bool(_digitized(catd, acta)) and bool(_digitized(ccv, acta))

            await _until("the CATD and the CCV to record the casilla photo", both_have_it)
            [at_catd], [at_ccv] = _digitized(catd, acta), _digitized(ccv, acta)
            assert at_ccv["image"]["sha256"] == at_catd["image"]["sha256"] == answer["receipt"]["sha256"]
            assert (at_ccv["origen"], at_ccv["digitalizacion"]) == ("CASILLA", "MOVIL")
            assert at_ccv["casilla"] == at_catd["casilla"]  # the phone's own statement, naming its CATD
            assert ccv.blobs().read(at_ccv["image"]["sha256"]) == data
            # the node of another district is offered nothing of it, however it asks
            async with session.get(url + cp.PULL_PATH, params={"after": "0"},
                                   headers=_signed_pull(other)) as resp:
                assert resp.status == 200 and (await resp.json())["photos"] == []
            await asyncio.sleep(0.6)  # three more poll cycles of the other node
            assert _digitized(other, acta) == []

            sha = at_ccv["image"]["sha256"]
            ck.report(ccv, acta, ck.values(acta, PAN=41), sha=sha)     # the CCV's clerks first
            await _until("the CCV's report at HQ", lambda: delivered(ccv))
            ck.report(catd, acta, ck.values(acta, PAN=14), sha=sha)    # then the CATD's
            ck.report(other, acta, ck.values(acta, PAN=99))            # a stray report elsewhere
            await _until("the CATD's report at HQ", lambda: delivered(catd))
            await _until("the other node's report at HQ", lambda: delivered(other))
            async with session.get(url + protocol.RESULTS_PATH) as resp:
                results = await resp.json()
            async with session.get(url + protocol.CONFLICTS_PATH) as resp:
                conflicts = await resp.json()
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            await asyncio.wait_for(proc.wait(), 20)
        server.stop()
    assert results["contests"]["GUB"]["totals"]["PAN"] == 41   # counted once, from the CCV
    mine = sorted((c["node"], c["reason"]) for c in conflicts["list"] if c["acta"] == acta)
    assert mine == [(NODE_A, "otro_catd"), (NODE_B, "otro_catd")], conflicts
    detail = next(c["detail"] for c in conflicts["list"] if c["node"] == NODE_A)
    assert f"counts from {CCV}, whose report HQ received first" in detail
    # the cut: the row is the CCV's, ORIGEN CASILLA; both verifiers accept it
    published = cut.publish(hq, at=FIRST_CUT).path
    row = _published(published)[acta]
    assert (row["ORIGEN"], row["DIGITALIZACION"], row["PAN"]) == ("CASILLA", "MOVIL", "41")
    with zipfile.ZipFile(published) as archive:
        index = archive.read("evidencia_actas.txt").decode()
    assert f"{acta}|{CCV}|" in index
    ours, theirs = hq_verdict(capsys, str(published)), tool_verdict(str(published))
    assert (ours.code, theirs.code) == (0, 0), (ours.text, theirs.text)
