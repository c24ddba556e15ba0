"""Helpers for the casilla tests: an election whose actas belong to two CATDs, a node that
enrols phone keys in its chain, and real acta images."""

from __future__ import annotations

import base64
import hashlib
import io
import json
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from catd_node import canonical
from catd_node.datadir import DataDir
from hq.casilla import phone

TWO_CATD = Path(__file__).resolve().parents[1] / "data" / "election_two_catd.json"
NODE_A, NODE_B = "CATD-09-01", "CATD-09-02"


def two_catd_election(tmp: Path) -> tuple[Path, list[str], list[str]]:
    """The two-CATD catalog and the actas each collects by name (not the shared ones)."""
    data = json.loads(TWO_CATD.read_text(encoding="utf-8"))
    of = {node: [a["clave_acta"] for a in data["actas"] if a["catd"] == node] for node in (NODE_A, NODE_B)}
    return TWO_CATD, of[NODE_A], of[NODE_B]


def enrol(node: DataDir, device: str, key: Ed25519PrivateKey | None = None) -> Ed25519PrivateKey:
    """Append `device.added` with the phone key (as the node's /casilla page does)."""
    key = key or Ed25519PrivateKey.generate()
    pub = phone.pubkey_b64(key)
    prefix = hashlib.sha256(base64.b64decode(pub)).hexdigest()[:16]
    ledger = node.ledger()
    try:
        ledger.append("device.added", {"device": device, "by": "coord",
                                       "token_sha256_prefix": prefix,
                                       "pubkey": pub})
    finally:
        ledger.close()
    return key


def revoke(node: DataDir, device: str) -> None:
    ledger = node.ledger()
    try:
        ledger.append("device.revoked", {"device": device, "by": "coord"})
    finally:
        ledger.close()


def acta_photo(key: str, seed: int = 0) -> bytes:
    """A real acta sheet image (the simulacro's renderer), as JPEG ~ a phone's reduced photo."""
    from simulacro import sheet as sheet_mod
    typed = {"PAN": str(10 + seed), "PRI": str(20 + seed), "MORENA": str(30 + seed)}
    page = sheet_mod.page(sheet_mod.Sheet(key, "PRUEBA", sheet_mod.rows_of(tuple(typed), typed)))
    out = io.BytesIO()
    page.save(out, "JPEG", quality=70)
    return out.getvalue()


def statement_of(answer_statement_b64: str) -> dict[str, object]:
    return canonical.decode(base64.b64decode(answer_statement_b64))
