"""Helpers for the HQ count tests: a second-form catalog with two CATDs, nodes that report
actas packet by packet (as the node's procedure would, or as a stolen key might), and
delivery to a real store through HQ's own receive path. A test module that imports
`each_store` runs each test on both stores (hq.db, and a PostgreSQL schema)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from catd_node.actas import classify
from catd_node.canonical import MAX_SAFE_INT
from catd_node.datadir import DataDir
from catd_node.ledger import Ledger
from catd_node.packets import Packet
from hq import receive
from hq import store as hq_store
from hq.store import HQDir
from sync import protocol
from tests.hqkit import make_node

TWO_CATD = Path(__file__).resolve().parents[1] / "data" / "election_two_catd.json"
NODE_A, NODE_B = "CATD-09-01", "CATD-09-02"
# CATD-09-01's actas (ceilings 108 and 106: C has no CAND_IND_1 on its ballot), CATD-09-02's
# (ceiling 208; S: 750 + 8), and one the catalog assigns to no CATD.
A1, A2 = "090001B0100A01", "090001C0100A01"
B1, BS = "090002B0100A01", "090002S0100A01"
ANY = "090003B0100A01"
OUTSIDE = "090099B0100A01"   # not in the catalog
def _sqlite() -> str | None:
    return None


_new_db: Callable[[], str | None] = _sqlite  # the store of the HQs made below


@pytest.fixture(autouse=True)
def each_store(new_hq_db: Callable[[], str | None]) -> Iterator[None]:
    """Import into a test module: its HQs are made in the store of the test's parameter."""
    global _new_db
    _new_db = new_hq_db
    try:
        yield
    finally:
        _new_db = _sqlite


CONTROLS = {"TOTAL_BOLETAS_SOBRANTES": 10, "TOTAL_PERSONAS_VOTARON": 90,
            "TOTAL_REP_PARTIDO_CI_VOTARON": 2, "TOTAL_VOTOS_SACADOS": 90, "TOTAL_VOTOS_ASENTADO": 90}


def values(key: str, **votes: Any) -> dict[str, Any]:
    """Every field of `key`'s ballot (0 unless given) and the controls."""
    from catd_node import catalog

    ballot = catalog.load(TWO_CATD).ballot(key)
    return {**dict.fromkeys(ballot, 0), **CONTROLS, **votes}


def hq_two_catd(tmp_path: Path, name: str = "hq") -> tuple[HQDir, DataDir, DataDir]:
    """An HQ with the two-CATD catalog and both nodes registered."""
    hq = hq_store.init(tmp_path / name, TWO_CATD, _new_db())
    a = make_node(tmp_path / f"{name}-a", hq, NODE_A, TWO_CATD)
    b = make_node(tmp_path / f"{name}-b", hq, NODE_B, TWO_CATD)
    return hq, a, b


def another_hq(tmp_path: Path, name: str, *nodes: DataDir) -> HQDir:
    """A second HQ with the two-CATD catalog, trusting these same nodes (same keys, same chains)."""
    hq = hq_store.init(tmp_path / name, TWO_CATD, _new_db())
    conn = hq.connect()
    try:
        for node in nodes:
            hq_store.add_node(conn, node.config.node_id, node.pub_path.read_bytes())
    finally:
        conn.close()
    return hq


def append(node: DataDir, kind: str, body: dict[str, Any]) -> Packet:
    """Sign as the node's key would — also what our node refuses to write (a stolen key can)."""
    node.ledger().close()  # migrated store
    ledger = Ledger(node.db_path, node.config.node_id, node.private_key(), check_bodies=False)
    try:
        return ledger.append(kind, body)
    finally:
        ledger.close()


def acopio(node: DataDir, key: str, **extra: Any) -> Packet:
    return append(node, "acta.acopio", {"acta": key, "by": "caro", "in_catalog": True, **extra})


def digitize(node: DataDir, key: str | None, source: str = "scanner", image: bytes | None = None,
             **extra: Any) -> Packet:
    data = image if image is not None else f"image of {key}".encode()
    sha = node.blobs().put(data)
    return append(node, "acta.digitized", {
        "image": {"sha256": sha, "bytes": len(data), "format": "webp", "width": 1700, "height": 2200,
                  "dpi": 200},
        "original": {"sha256": sha, "bytes": len(data), "name": f"{key}.jpg"},
        "source": {"kind": source, "id": "scanner-1" if source == "scanner" else "telefono-1"},
        "acta": key, "identified_by": "filename" if key else None, **extra})


def report(node: DataDir, key: str, vals: dict[str, Any], sha: str | None = None) -> dict[str, Packet]:
    """digitized (unless `sha` names an image already linked), captured, verified: a node's report."""
    out: dict[str, Packet] = {}
    if sha is None:
        out["digitized"] = digitize(node, key)
        sha = out["digitized"].body["image"]["sha256"]
    out["captured"] = append(node, "acta.captured", {
        "acta": key, "image_sha256": sha, "values": vals, "by": "ana", "round": 1})
    out["verified"] = verify(node, key, vals, sha, out["captured"].seq)
    return out


def verify(node: DataDir, key: str, vals: dict[str, Any], sha: str | None, captured_seq: int) -> Packet:
    """The node's acta.verified as its procedure writes it (HQ re-derives class and total)."""
    cls = classify(node.election, key, vals) if isinstance(vals, dict) else None
    total = cls.total if cls is not None and abs(cls.total) <= MAX_SAFE_INT else 0
    return append(node, "acta.verified", {
        "acta": key, "image_sha256": sha, "values": vals, "class": cls.cls if cls else "counted",
        "observations": list(cls.observations) if cls else [], "total": total,
        "captured_seq": captured_seq, "by": "beto"})


def sin_acta(node: DataDir, key: str, reason: str = "paquete_no_entregado") -> Packet:
    return append(node, "acta.sin_acta", {"acta": key, "reason": reason, "by": "caro"})


def sin_acta_undone(node: DataDir, key: str, sin_acta_seq: int) -> Packet:
    return append(node, "acta.sin_acta_undone", {"acta": key, "sin_acta_seq": sin_acta_seq, "by": "caro"})


def deliver(hq: HQDir, node: DataDir) -> None:
    """Every packet of `node` HQ does not hold yet, through HQ's own verify-and-store path."""
    conn = hq.connect()
    try:
        held, _ = hq_store.head(conn, node.config.node_id)
        ledger = node.ledger()
        try:
            chain = ledger.packets(held + 1)
        finally:
            ledger.close()
        if not chain:
            return
        lines = protocol.unframe(protocol.frame(chain))
        checked = receive.check_batch(lines, hq_store.node_pems(conn))
        receive.store_batch(conn, checked, hq.private_key())
    finally:
        conn.close()
