"""The node checks a pulled casilla photo again against its own chain before recording it:
a statement its enrolled device did not sign, a revoked device, an acta of another CATD or
bytes that are not the signed photo are skipped (no packet); a good one is recorded once."""

from __future__ import annotations

import base64
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hq import store as hq_store
from hq.casilla import phone
from sync import casilla
from tests.casilla.casillakit import NODE_A, acta_photo, enrol, revoke, two_catd_election
from tests.hqkit import make_node


def _item(ident: int, signed: phone.Signed, data: bytes) -> dict[str, object]:
    return {"id": ident, "statement": base64.b64encode(signed.statement).decode("ascii"), "sig": signed.sig,
            "image": base64.b64encode(data).decode("ascii")}


def _digitized(node) -> list[dict]:
    ledger = node.ledger()
    try:
        return [p.body for p in ledger.packets() if p.kind == "acta.digitized"]
    finally:
        ledger.close()


def test_the_node_records_only_what_its_own_chain_backs(tmp_path: Path) -> None:
    election, of_a, of_b = two_catd_election(tmp_path)
    hq = hq_store.init(tmp_path / "hq", election, None)
    node = make_node(tmp_path / "a", hq, NODE_A, election)
    key = enrol(node, "cae-1")
    gone = enrol(node, "cae-2")
    revoke(node, "cae-2")
    good = acta_photo(of_a[0])
    other = acta_photo(of_a[1])
    items = [
        _item(1, phone.sign(Ed25519PrivateKey.generate(), "cae-1", NODE_A, of_a[0], good), good),  # forged
        _item(2, phone.sign(gone, "cae-2", NODE_A, of_a[0], good), good),                          # revoked
        _item(3, phone.sign(key, "cae-1", NODE_A, of_b[0], good), good),                           # CATD B
        _item(4, phone.sign(key, "cae-1", NODE_A, of_a[1], other), good),                          # altered
        _item(5, phone.sign(key, "cae-1", NODE_A, of_a[0], good), good),                           # sound
    ]
    assert casilla.record(node, items) == 1
    assert casilla.record(node, items[4:]) == 0  # pulled again: recorded once
    [body] = _digitized(node)
    assert (body["acta"], body["origen"]) == (of_a[0], "CASILLA")
    assert body["casilla"]["sig"] == items[4]["sig"]
    assert casilla.cursor(node) == 5
