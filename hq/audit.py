"""`catd-hq verify`: re-check every stored chain from its stored bytes, every receipt and blob,
and name every image HQ lost and no node has sent again yet (hq/blobcheck.py). It only reads:
marking a lost image for its node to resend is the running receivers' check."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from catd_node import keys, packets
from catd_node.blobs import BlobStore
from catd_node.errors import EXIT_CHECK_FAILED, EXIT_OK
from hq import blobcheck
from hq.store import HQDir
from hq.store.base import Conn
from sync import protocol


def problems(conn: Conn, blobs: BlobStore, hq_pub: Ed25519PublicKey) -> Iterator[str]:
    """Every fault found, each naming the node and seq, or the blob."""
    for node, pem in conn.execute("SELECT node, pubkey FROM nodes ORDER BY node").fetchall():
        key = keys.public_from_pem(pem.encode("ascii"), node)
        yield from _chain_problems(conn, node, key, hq_pub)
    for (sha,) in conn.execute("SELECT sha256 FROM blobs ORDER BY sha256").fetchall():
        why = blobs.problem(sha)
        if why:
            yield f"blob {sha}: {why}{_whose(conn, sha)}"
    # images HQ held, found lost by a receiver's check and not yet sent again by their node
    for sha, _size, why, found_at, moved_to in blobcheck.unrestored(conn):
        aside = f", the damaged file kept at {moved_to}" if moved_to else ""
        yield f"blob {sha}: lost at HQ ({why}) found {found_at}{aside}; not yet sent again{_whose(conn, sha)}"


def _whose(conn: Conn, sha: str) -> str:
    """` (node N, acta K)`: who references blob `sha`, for the operator."""
    refs = conn.execute(
        "SELECT DISTINCT r.node, p.acta FROM blob_refs r JOIN packets p ON p.node = r.node AND p.seq = r.seq"
        " WHERE r.sha256 = ? ORDER BY r.node, p.acta LIMIT 5", (sha,)).fetchall()
    named = ", ".join(f"node {node}" + (f" acta {acta}" if acta else "") for node, acta in refs)
    return f" ({named})" if named else ""


def _chain_problems(
    conn: Conn, node: str, key: Ed25519PublicKey, hq_pub: Ed25519PublicKey
) -> Iterator[str]:
    prev, expected = packets.ZERO_HASH, 1
    rows = conn.execute(
        "SELECT seq, canonical, hash, sig, received_at, receipt_sig FROM packets WHERE node = ? ORDER BY seq",
        (node,),
    )
    for seq, data, hash_hex, sig, received_at, receipt_sig in rows:
        if seq != expected:
            yield f"node {node} seq {expected}: missing (next stored is {seq})"
            return
        if not isinstance(data, bytes) or not isinstance(sig, bytes):
            yield f"node {node} seq {seq}: stored bytes have the wrong type"
            return
        packet = packets.Packet(seq=seq, canonical=data, hash=str(hash_hex), sig=sig, envelope={})
        why, _ = packets.examine(packet, key, prev, node)
        if why:
            yield f"node {node} seq {seq}: {why}"
            return
        receipt = {"node": node, "seq": seq, "hash": hash_hex, "received_at": received_at, "sig": receipt_sig}
        why = protocol.check_receipt(hq_pub, receipt) if receipt_sig is not None else None
        if not isinstance(received_at, str) or not received_at:
            why = "no received_at"
        if why:
            yield f"node {node} seq {seq}: {why}"
            return
        prev, expected = hash_hex, seq + 1


def report(hq: HQDir) -> dict[str, object]:
    """What `verify` found: `ok`, how many packets and blobs it checked, each node's head, and
    every problem (the first as `reason`), the shape of `catd-node verify --json`."""
    conn = hq.connect()
    try:
        found = list(problems(conn, hq.blobs(), hq.public_key()))
        checked = int(conn.execute("SELECT COUNT(*) FROM packets").fetchone()[0])
        stored = int(conn.execute("SELECT COUNT(*) FROM blobs").fetchone()[0])
        heads = conn.execute(
            "SELECT n.node, COUNT(p.seq), MAX(p.seq) FROM nodes n LEFT JOIN packets p ON p.node = n.node"
            " GROUP BY n.node ORDER BY n.node").fetchall()
    finally:
        conn.close()
    return {"ok": not found, "packets": checked, "blobs": stored,
            "nodes": {str(node): {"packets": int(n), "head_seq": int(top or 0)} for node, n, top in heads},
            "reason": found[0] if found else None, "problems": found}


def main(hq: HQDir, as_json: bool = False) -> int:
    doc = report(hq)
    found = doc["problems"]
    assert isinstance(found, list)
    if as_json:
        print(json.dumps(doc, ensure_ascii=False, indent=2, sort_keys=True))
    else:
        for line in found:
            print(f"FAIL {line}", file=sys.stderr)
        if not found:
            print(f"ok: {doc['packets']} packets, {doc['blobs']} blobs verified")
    return EXIT_CHECK_FAILED if found else EXIT_OK
