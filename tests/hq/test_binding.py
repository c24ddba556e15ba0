"""HQ counts an acta only when its capture's image was linked to that acta by the same node
(issue 12, defence in depth: a modified node could skip the web app's check)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import aiohttp

from catd_node.actas import classify
from catd_node.datadir import DataDir
from catd_node.packets import Packet
from hq import cli
from sync import protocol
from tests.hqkit import VALUES_A, append_actas, make_node

A, B, C, D = "DIP-14-01-0123-B01", "DIP-14-01-0123-C01", "DIP-14-01-0124-B01", "DIP-14-01-0124-C01"
E, F = "DIP-14-01-0125-B01", "DIP-14-01-0125-C01"


def _digitized(key: str | None, sha: str) -> dict[str, Any]:
    return {"image": {"sha256": sha, "bytes": 10, "format": "webp", "width": 1700, "height": 2200,
                      "dpi": 200},
            "original": {"sha256": sha, "bytes": 10, "name": "scan.jpg"},
            "source": {"kind": "scanner", "id": "scanner-1"}, "acta": key,
            "identified_by": "filename" if key else None}


def _captured_and_verified(node: DataDir, key: str, sha: str) -> None:
    """What a node without the web check records: a capture on whatever image was sent."""
    ledger = node.ledger()
    try:
        captured = ledger.append("acta.captured", {"acta": key, "image_sha256": sha, "values": VALUES_A,
                                                   "by": "ana", "round": 1})
        cls = classify(node.election, key, VALUES_A)
        ledger.append("acta.verified", {"acta": key, "image_sha256": sha, "values": VALUES_A,
                                        "class": cls.cls, "observations": list(cls.observations),
                                        "total": cls.total, "captured_seq": captured.seq, "by": "beto"})
    finally:
        ledger.close()


def _append(node: DataDir, kind: str, body: dict[str, Any]) -> Packet:
    ledger = node.ledger()
    try:
        return ledger.append(kind, body)
    finally:
        ledger.close()


async def _send(url: str, chain: list[Packet]) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.post(url + protocol.PACKETS_PATH, data=protocol.frame(chain)) as resp:
            assert resp.status == 200, await resp.text()


async def test_hq_does_not_count_a_capture_on_an_image_not_bound_to_its_acta(
        hq_node, hq_dir, hq_server, tmp_path: Path):
    made = append_actas(hq_node, {A: VALUES_A})              # A: bound by its acta.digitized
    sha_a = made[0].body["image"]["sha256"]
    _captured_and_verified(hq_node, B, sha_a)                 # B: captured on A's image
    _captured_and_verified(hq_node, C, "c" * 64)              # C: an image never digitized
    other = make_node(tmp_path / "node2", hq_dir, "CATD-14-02")
    _append(other, "acta.digitized", _digitized(D, "d" * 64))
    _captured_and_verified(hq_node, D, "d" * 64)              # D: bound by another node only
    _append(hq_node, "acta.digitized", _digitized(None, "e" * 64))
    _append(hq_node, "acta.assigned", {"acta": E, "image_sha256": "e" * 64, "by": "ana"})
    _captured_and_verified(hq_node, E, "e" * 64)              # E: bound by a clerk's assignment
    _append(hq_node, "acta.digitized", _digitized(F, "1" * 64))
    _append(hq_node, "acta.digitized", _digitized(None, "2" * 64))
    _append(hq_node, "acta.assigned", {"acta": F, "image_sha256": "2" * 64, "by": "ana",
                                       "replaces": "1" * 64})
    _captured_and_verified(hq_node, F, "1" * 64)              # F: captured on the replaced image
    await _send(hq_server.url, other.ledger().packets())
    await _send(hq_server.url, hq_node.ledger().packets())

    async with aiohttp.ClientSession() as session:
        async with session.get(hq_server.url + protocol.RESULTS_PATH) as resp:
            results = await resp.json()
    assert results["actas"] == 2                               # A and E only
    assert results["contests"]["DIP"]["actas_counted"] == 2
    assert results["contests"]["DIP"]["totals"]["PAN"] == 2 * VALUES_A["PAN"]
    assert results["classes"] == {"counted": 2}
    unbound = [c for c in results["conflicts"]["list"] if c["reason"] == "imagen_no_vinculada"]
    assert sorted((c["node"], c["acta"]) for c in unbound) == [
        ("CATD-14-01", B), ("CATD-14-01", C), ("CATD-14-01", D), ("CATD-14-01", F)]

    out = tmp_path / "actas.csv"
    assert cli.main(["-d", str(hq_dir.root), "export", "--csv", str(out)]) == 0
    rows = {r["acta"]: r for r in csv.DictReader(out.open(encoding="utf-8"))}
    assert set(rows) == {A, E}
