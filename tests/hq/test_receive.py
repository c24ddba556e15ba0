"""HQ receiver: acceptance, idempotent replay, and every rejection with status, code and line."""

from __future__ import annotations

import dataclasses
import json

import aiohttp

from catd_node import keys, packets
from hq.store import HQDir
from sync import protocol
from tests.hqkit import VALUES_A, append_actas, make_node


async def post(session, url, body: bytes):
    async with session.post(url + protocol.PACKETS_PATH, data=body,
                            headers={"Content-Type": protocol.NDJSON}) as resp:
        return resp.status, await resp.json()


async def test_accepts_chain_and_replay_gets_original_receipt(hq_node, hq_dir: HQDir, hq_server):
    append_actas(hq_node, {"DIP-14-01-0123-B01": VALUES_A})
    chain = hq_node.ledger().packets()
    assert len(chain) == 4
    async with aiohttp.ClientSession() as session:
        async with session.get(hq_server.url + protocol.head_path("CATD-14-01")) as resp:
            assert resp.status == 200
            assert await resp.json() == {"seq": 0, "hash": packets.ZERO_HASH}
        status, answer = await post(session, hq_server.url, protocol.frame(chain[:2]))
        assert status == 200, answer
        assert answer["acked"] == {"seq": 2, "hash": chain[1].hash}
        status, answer = await post(session, hq_server.url, protocol.frame(chain))
        assert status == 200, answer
        first = answer["receipt"]
        assert first["seq"] == 4 and first["hash"] == chain[3].hash and first["node"] == "CATD-14-01"
        assert protocol.check_receipt(hq_dir.public_key(), first) is None
        # Replaying the whole chain stores nothing new and returns the identical original receipt.
        status, again = await post(session, hq_server.url, protocol.frame(chain))
        assert status == 200
        assert again["receipt"] == first
        # A packet stored mid-batch: its receipt (issued on first request) is stable and valid.
        status, partial = await post(session, hq_server.url, protocol.frame(chain[2:3]))
        assert status == 200 and partial["acked"]["seq"] == 3
        mid = partial["receipt"]
        assert protocol.check_receipt(hq_dir.public_key(), mid) is None
        assert mid["hash"] == chain[2].hash and mid["received_at"] == first["received_at"]
        status, again = await post(session, hq_server.url, protocol.frame(chain[:3]))
        assert status == 200 and again["receipt"] == mid
        async with session.get(hq_server.url + protocol.head_path("CATD-14-01")) as resp:
            assert await resp.json() == {"seq": 4, "hash": chain[3].hash}
    conn = hq_dir.connect()
    assert conn.execute("SELECT COUNT(*) FROM packets").fetchone()[0] == 4
    conn.close()


def _head(hq_dir: HQDir, node="CATD-14-01"):
    conn = hq_dir.connect()
    try:
        return conn.execute("SELECT COUNT(*), MAX(seq) FROM packets WHERE node = ?", (node,)).fetchone()
    finally:
        conn.close()


def _altered(packet, old: bytes, new: bytes, rehash: bool):
    data = packet.canonical.replace(old, new)
    assert data != packet.canonical
    hash_hex = packets.digest(data).hex() if rehash else packet.hash
    return dataclasses.replace(packet, canonical=data, hash=hash_hex)


async def _rejected(hq_server, body: bytes, status: int, code: str, line: int | None):
    async with aiohttp.ClientSession() as session:
        got, answer = await post(session, hq_server.url, body)
    assert (got, answer["error"]) == (status, code), answer
    if line is not None:
        assert answer["line"] == line, answer
    assert answer["detail"]
    return answer


async def test_forged_signature_is_refused_naming_the_line(hq_node, hq_dir, hq_server):
    append_actas(hq_node, {"DIP-14-01-0123-B01": VALUES_A})
    chain = hq_node.ledger().packets()
    forged = packets.seal(keys.generate(), node="CATD-14-01", seq=5, prev=chain[-1].hash,
                          kind="acta.verified", body={"acta": "DIP-14-01-0123-B01", "values": {}})
    await _rejected(hq_server, protocol.frame([*chain, forged]), 422, protocol.BAD_SIGNATURE, 5)
    assert _head(hq_dir)[0] == 0  # the good packets before the bad line are not stored either


async def test_unknown_node_is_forbidden(tmp_path, hq_dir, hq_server):
    from catd_node import datadir
    from tests.hqkit import ELECTION

    stranger = datadir.init(tmp_path / "stranger", "CATD-99-01", ELECTION)
    answer = await _rejected(hq_server, protocol.frame(stranger.ledger().packets()), 403,
                             protocol.UNKNOWN_NODE, 1)
    assert "CATD-99-01" in answer["detail"]
    async with aiohttp.ClientSession() as session:
        async with session.get(hq_server.url + protocol.head_path("CATD-99-01")) as resp:
            assert resp.status == 403
            assert (await resp.json())["error"] == protocol.UNKNOWN_NODE


async def test_altered_body_is_a_hash_mismatch(hq_node, hq_dir, hq_server):
    append_actas(hq_node, {"DIP-14-01-0123-B01": VALUES_A})
    chain = hq_node.ledger().packets()
    bad = _altered(chain[2], b'"PAN":100', b'"PAN":900', rehash=False)
    await _rejected(hq_server, protocol.frame([chain[0], chain[1], bad, chain[3]]), 422, protocol.BAD_HASH, 3)
    assert _head(hq_dir)[0] == 0


async def test_rehashed_altered_body_fails_the_signature(hq_node, hq_dir, hq_server):
    append_actas(hq_node, {"DIP-14-01-0123-B01": VALUES_A})
    chain = hq_node.ledger().packets()
    bad = _altered(chain[2], b'"PAN":100', b'"PAN":900', rehash=True)
    await _rejected(hq_server, protocol.frame([*chain[:2], bad]), 422, protocol.BAD_SIGNATURE, 3)


async def test_gap_after_held_head(hq_node, hq_dir, hq_server):
    append_actas(hq_node, {"DIP-14-01-0123-B01": VALUES_A})
    chain = hq_node.ledger().packets()
    async with aiohttp.ClientSession() as session:
        assert (await post(session, hq_server.url, protocol.frame(chain[:1])))[0] == 200
    answer = await _rejected(hq_server, protocol.frame(chain[2:]), 422, protocol.GAP, 1)
    assert answer["seq"] == 3
    assert _head(hq_dir)[1] == 1


async def test_bad_prev_inside_batch_and_against_held_head(hq_node, hq_dir, hq_server):
    chain = hq_node.ledger().packets()
    key = hq_node.private_key()
    wrong = packets.seal(key, node="CATD-14-01", seq=2, prev="ab" * 32, kind="acta.acopio",
                         body={"acta": "DIP-14-01-0123-B01", "by": "ana", "in_catalog": True})
    await _rejected(hq_server, protocol.frame([chain[0], wrong]), 422, protocol.BAD_PREV, 2)
    async with aiohttp.ClientSession() as session:
        assert (await post(session, hq_server.url, protocol.frame(chain[:1])))[0] == 200
    await _rejected(hq_server, protocol.frame([wrong]), 422, protocol.BAD_PREV, 1)
    assert _head(hq_dir)[1] == 1


async def test_form_mixed_nodes_and_contiguity(tmp_path, hq_node, hq_dir, hq_server):
    append_actas(hq_node, {"DIP-14-01-0123-B01": VALUES_A})
    chain = hq_node.ledger().packets()
    body = protocol.frame(chain[:1]) + b'{"seq": 2, "canonical": "{}"}\n'
    await _rejected(hq_server, body, 422, protocol.BAD_FORM, 2)
    await _rejected(hq_server, protocol.frame([chain[0], chain[2]]), 422, protocol.NOT_CONTIGUOUS, 2)
    other = make_node(tmp_path / "other", hq_dir, "CATD-14-02")
    other_chain = other.ledger().packets()
    await _rejected(hq_server, protocol.frame([chain[0], *other_chain]), 422, protocol.MIXED_NODES, 2)
    await _rejected(hq_server, b"", 422, protocol.BAD_FORM, 1)
    assert _head(hq_dir)[0] == 0


async def test_fork_answers_409_with_both_hashes_and_keeps_evidence(hq_node, hq_dir, hq_server):
    from hq import cli

    append_actas(hq_node, {"DIP-14-01-0123-B01": VALUES_A})
    chain = hq_node.ledger().packets()
    async with aiohttp.ClientSession() as session:
        assert (await post(session, hq_server.url, protocol.frame(chain)))[0] == 200
    twin = packets.seal(hq_node.private_key(), node="CATD-14-01", seq=3, prev=chain[1].hash,
                        kind="acta.captured", body={"acta": "DIP-14-01-0123-B01", "values": {"PAN": 1}})
    answer = await _rejected(hq_server, protocol.frame([chain[1], twin]), 409, protocol.FORK, 2)
    assert answer["seq"] == 3
    assert answer["held_hash"] == chain[2].hash and answer["sent_hash"] == twin.hash
    conn = hq_dir.connect()
    try:
        held = conn.execute("SELECT canonical, sig FROM packets WHERE node = ? AND seq = 3",
                            ("CATD-14-01",)).fetchone()
        evidence = conn.execute("SELECT sent_canonical, sent_sig, held_hash FROM forks").fetchall()
    finally:
        conn.close()
    assert (bytes(held[0]), bytes(held[1])) == (chain[2].canonical, chain[2].sig)
    assert [(bytes(c), bytes(s), h) for c, s, h in evidence] == [(twin.canonical, twin.sig, chain[2].hash)]
    assert _head(hq_dir) == (4, 4)
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli.main(["-d", str(hq_dir.root), "status", "--json"]) == 0
    node = json.loads(out.getvalue())["nodes"]["CATD-14-01"]
    assert node["forked"] is True and node["seq"] == 4 and node["hash"] == chain[3].hash


async def test_oversize_batch_is_413(hq_node, hq_dir, hq_server):
    chain = hq_node.ledger().packets()
    line = protocol.frame(chain[:1])
    body = line * (protocol.MAX_BATCH_BYTES // len(line) + 2)
    assert len(body) > protocol.MAX_BATCH_BYTES
    await _rejected(hq_server, body, 413, protocol.TOO_LARGE, None)
    await _rejected(hq_server, line * (protocol.MAX_BATCH_LINES + 1), 413, protocol.TOO_LARGE, None)
    assert _head(hq_dir)[0] == 0


async def test_several_nodes_at_once(tmp_path, hq_dir, hq_server):
    import asyncio

    nodes = [make_node(tmp_path / f"n{i}", hq_dir, f"CATD-14-{i:02d}") for i in range(2, 6)]
    chains = []
    for node in nodes:
        append_actas(node, {"DIP-14-01-0123-B01": VALUES_A, "DIP-14-01-0124-B01": VALUES_A})
        chains.append(node.ledger().packets())

    async def deliver(session, chain):
        for i in range(0, len(chain), 2):  # small batches, interleaved across nodes
            status, answer = await post(session, hq_server.url, protocol.frame(chain[i:i + 2]))
            assert status == 200, answer
        return answer

    async with aiohttp.ClientSession() as session:
        answers = await asyncio.gather(*(deliver(session, c) for c in chains))
    for node, chain, answer in zip(nodes, chains, answers, strict=True):
        assert answer["acked"] == {"seq": len(chain), "hash": chain[-1].hash}
        assert _head(hq_dir, node.config.node_id) == (len(chain), len(chain))


async def test_unknown_paths_and_methods_answer_json(hq_server):
    async with aiohttp.ClientSession() as session:
        async with session.get(hq_server.url + "/v1/nope") as resp:
            assert resp.status == 404 and (await resp.json())["error"] == "not_found"
        async with session.get(hq_server.url + protocol.PACKETS_PATH) as resp:
            assert resp.status == 405 and (await resp.json())["error"] == "bad_request"
