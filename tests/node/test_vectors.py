"""Known-answer vectors: our code reproduces tests/vectors/packets.json from its fixed seed,
and the vectors check out with nothing but hashlib and cryptography (no catd_node code)."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from catd_node import canonical, packets, verify
from tests.vectors import generate

DOC = json.loads(generate.VECTORS.read_text(encoding="utf-8"))


def test_our_code_reproduces_the_vectors_exactly():
    assert generate.render(generate.build()) == generate.VECTORS.read_text(encoding="utf-8")


def test_vectors_hold_non_ascii_nfc_text():
    texts = "".join(p["canonical"] for p in DOC["packets"])
    assert "Jalisco — Guadalajara, ñ" in texts and "josé" in texts
    assert len(DOC["packets"]) == 4


def test_key_independently():
    key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(DOC["key"]["seed_hex"]))
    raw_pub = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert raw_pub.hex() == DOC["key"]["public_hex"]
    from_pem = serialization.load_pem_private_key(DOC["key"]["private_pem"].encode(), password=None)
    assert isinstance(from_pem, Ed25519PrivateKey)
    assert from_pem.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                  serialization.NoEncryption()).hex() == DOC["key"]["seed_hex"]
    pub_pem = serialization.load_pem_public_key(DOC["key"]["public_pem"].encode())
    assert isinstance(pub_pem, Ed25519PublicKey)
    assert pub_pem.public_bytes(serialization.Encoding.Raw,
                                serialization.PublicFormat.Raw).hex() == DOC["key"]["public_hex"]


@pytest.mark.parametrize("vector", DOC["packets"], ids=lambda v: f"seq{v['seq']}")
def test_packet_independently(vector):
    """What another implementation does: encode, hash with the domain tag, verify the sig."""
    public = Ed25519PublicKey.from_public_bytes(bytes.fromhex(DOC["key"]["public_hex"]))
    text = json.dumps(vector["envelope"], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert text == vector["canonical"]
    data = text.encode("utf-8")
    digest = hashlib.sha256(b"catd/packet/v1\n" + data).digest()
    assert DOC["domain_tag"] == "catd/packet/v1\n"
    assert digest.hex() == vector["hash"]
    sig = base64.b64decode(vector["sig"], validate=True)
    public.verify(sig, digest)  # raises InvalidSignature if wrong
    # the signature is over the 32 raw hash bytes, not over the hex text or the canonical bytes
    other = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(DOC["key"]["seed_hex"]))
    assert other.sign(digest) == sig  # Ed25519 is deterministic
    assert other.sign(vector["hash"].encode()) != sig
    prev = packets.ZERO_HASH if vector["seq"] == 1 else DOC["packets"][vector["seq"] - 2]["hash"]
    assert vector["envelope"]["prev"] == prev and vector["envelope"]["seq"] == vector["seq"]
    assert json.loads(vector["wire"]) == {"seq": vector["seq"], "canonical": vector["canonical"],
                                          "hash": vector["hash"], "sig": vector["sig"]}


def test_our_verifier_accepts_the_wire_lines():
    public = Ed25519PublicKey.from_public_bytes(bytes.fromhex(DOC["key"]["public_hex"]))
    rows = [packets.from_wire(p["wire"], f"vector {p['seq']}") for p in DOC["packets"]]
    report = verify.verify_chain(iter(rows), public, "CATD-14-01", None)
    assert report.ok and report.head_hash == DOC["packets"][-1]["hash"]


@pytest.mark.parametrize("case", DOC["refuse_canonical"], ids=lambda c: c["why"])
def test_refused_canonical_forms(case):
    with pytest.raises(canonical.CanonicalError):
        canonical.decode(case["text"].encode("utf-8"))
