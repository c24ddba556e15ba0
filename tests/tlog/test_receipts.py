"""Receipts carry an inclusion proof in HQ's log: the node checks it before counting the
batch delivered, keeps it, and `catd-node verify` re-checks what it kept."""

from __future__ import annotations

import json

import aiohttp
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from catd_node import cli, packets, store, tlog_note
from hq.store import HQDir
from sync import client, protocol, receipts
from tests.hqkit import VALUES_A, append_actas
from tests.sync.replay_helpers import FakeClock, configure, fast_policy, fast_settings


async def test_node_keeps_and_reverifies_log_proofs(hq_node, hq_dir: HQDir, hq_server, capsys) -> None:
    append_actas(hq_node, {"DIP-14-01-0123-B01": VALUES_A, "DIP-14-01-0123-B02": VALUES_A})
    node = configure(hq_node, [hq_server.url])
    await client.once(node, fast_policy(FakeClock()), fast_settings())
    conn = store.connect(node.db_path)
    try:
        rows = conn.execute("SELECT seq, idx, size, checkpoint FROM sync_log_proofs").fetchall()
        head = conn.execute("SELECT MAX(seq) FROM packets").fetchone()[0]
    finally:
        conn.close()
    assert rows and rows[-1][0] == head and rows[-1][2] >= head
    assert cli.main(["verify", "-d", str(node.root)]) == 0
    capsys.readouterr()
    # a kept proof altered (or its checkpoint swapped) no longer verifies
    conn = store.connect(node.db_path)
    try:
        seq, proof = conn.execute("SELECT seq, proof FROM sync_log_proofs").fetchone()
        hashes = json.loads(proof)
        hashes[0] = "00" * 32
        conn.execute("UPDATE sync_log_proofs SET proof = ? WHERE seq = ?", (json.dumps(hashes), seq))
    finally:
        conn.close()
    assert cli.main(["verify", "-d", str(node.root)]) == 1
    assert "log proof for seq" in capsys.readouterr().err


async def test_node_refuses_a_receipt_whose_proof_does_not_hold(hq_node, hq_dir: HQDir, hq_server) -> None:
    packets_ = append_actas(hq_node, {"DIP-14-01-0123-B01": VALUES_A})
    ledger = hq_node.ledger()
    try:
        chain = list(ledger.packets())
    finally:
        ledger.close()
    body = protocol.frame(chain)
    async with aiohttp.ClientSession() as session, session.post(
            hq_server.url + protocol.PACKETS_PATH, data=body) as resp:
        doc = await resp.json()
    pub = hq_dir.public_key()
    leaf = packets.to_wire(chain[-1]).encode()
    assert receipts.check_log(pub, doc["log"], leaf)["index"] == len(chain) - 1
    with pytest.raises(ValueError, match="not in the tree"):
        receipts.check_log(pub, doc["log"], packets.to_wire(chain[-2]).encode())  # another packet
    bad = {**doc["log"], "proof": ["00" * 32, *doc["log"]["proof"][1:]]}
    with pytest.raises(ValueError):
        receipts.check_log(pub, bad, leaf)
    other = Ed25519PrivateKey.generate()  # a checkpoint not signed by HQ's key
    note = tlog_note.parse_note(doc["log"]["checkpoint"])
    forged = tlog_note.sign_note(note.text, note.sigs[0][0], other).render()
    with pytest.raises(ValueError, match="signature"):
        receipts.check_log(pub, {**doc["log"], "checkpoint": forged}, leaf)
    with pytest.raises(ValueError, match="missing"):
        receipts.check_log(pub, None, leaf)
    assert packets_
