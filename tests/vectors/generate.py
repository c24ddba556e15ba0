"""Build the known-answer vectors in packets.json from a fixed Ed25519 seed.

Run `python -m tests.vectors.generate` to rewrite packets.json (only when the packet format
version changes: the file is the reference other implementations check themselves against).
"""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from catd_node import keys, packets

HERE = Path(__file__).resolve().parent
VECTORS = HERE / "packets.json"
# RFC 8032 section 7.1, TEST 1 secret key: public, so no one mistakes it for a real node key.
SEED_HEX = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
NODE = "CATD-14-01"
IMAGE = "5f0d1c8f8a0c1f4d6c1b7e3a2f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e"


def bodies(public_pem: str) -> list[tuple[str, str, dict[str, Any]]]:
    """(kind, at, body) of each vector packet, in seq order."""
    return [
        ("node.genesis", "2027-06-06T18:00:00.000Z", {
            "node": NODE, "pubkey": public_pem, "election": "Proceso Electoral Local (ejemplo)",
            "election_sha256": "0" * 64, "actas_expected": 20,
        }),
        ("acta.acopio", "2027-06-06T20:15:03.120Z", {
            "acta": "DIP-14-01-0123-B01", "by": "ana", "in_catalog": True,
        }),
        ("acta.digitized", "2027-06-06T20:16:41.007Z", {
            "image": {"sha256": IMAGE, "bytes": 183214, "format": "webp", "width": 1700,
                      "height": 2200, "dpi": 200},
            "original": {"sha256": "ab" * 32, "bytes": 2412006,
                         "name": "Jalisco — Guadalajara, ñ.tiff"},
            "source": {"kind": "scanner", "id": "scanner-1"},
            "acta": "DIP-14-01-0123-B01", "identified_by": "qr", "page": 1,
        }),
        ("acta.captured", "2027-06-06T20:19:59.999Z", {
            "acta": "DIP-14-01-0123-B01", "image_sha256": IMAGE, "by": "josé", "round": 1,
            "values": {"PAN": 120, "PRI": 98, "PRD": 0, "MORENA": "ILEGIBLE", "NULOS": "SIN_DATO",
                       "TOTAL_ASENTADO": 99999},
        }),
    ]


# Byte strings every implementation must refuse as canonical, with the reason.
REFUSE = [
    ('{"a":1,"a":2}', "duplicate key"),
    ('{"b":1,"a":2}', "keys not sorted"),
    ('{"a": 1}', "space"),
    ('{"a":1.0}', "float"),
    ('{"a":1e2}', "float (exponent)"),
    ('{"a":9007199254740992}', "integer beyond 2**53-1"),
    ('{"a":"e\u0301"}', "text not in NFC"),
    ('{"a":"\\u00f1"}', "escaped non-ASCII where the raw UTF-8 character is canonical"),
    ('{"a":NaN}', "NaN"),
]


def build() -> dict[str, Any]:
    key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(SEED_HEX))
    public_pem = keys.public_pem(key.public_key()).decode("ascii")
    prev = packets.ZERO_HASH
    out = []
    for seq, (kind, at, body) in enumerate(bodies(public_pem), start=1):
        p = packets.seal(key, node=NODE, seq=seq, prev=prev, kind=kind, body=body, at=at)
        out.append({
            "seq": seq,
            "envelope": p.envelope,
            "canonical": p.canonical.decode("utf-8"),
            "hash": p.hash,
            "sig": base64.b64encode(p.sig).decode("ascii"),
            "wire": packets.to_wire(p),
        })
        prev = p.hash
    return {
        "about": "catd-node packet known-answer vectors; see README.md in this folder",
        "domain_tag": packets.DOMAIN.decode("ascii"),
        "key": {
            "seed_hex": SEED_HEX,
            "private_pem": key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption()).decode("ascii"),
            "public_hex": key.public_key().public_bytes(
                serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex(),
            "public_pem": public_pem,
        },
        "packets": out,
        "refuse_canonical": [{"text": text, "why": why} for text, why in REFUSE],
    }


def render(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    VECTORS.write_text(render(build()), encoding="utf-8")
    print(f"wrote {VECTORS}", file=sys.stderr)
