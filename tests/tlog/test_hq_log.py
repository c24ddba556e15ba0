"""HQ's transparency log on both stores: every accepted packet is a leaf, in the packet's
transaction; tiles, entry bundles, checkpoints and proofs served under /v1/log/ agree."""

from __future__ import annotations

import json
import sqlite3

import aiohttp
import pytest

from catd_node import packets, tlog, tlog_note
from hq import tlog as hq_tlog
from hq.store import HQDir
from tests.hqkit import VALUES_A, append_actas, post_chain


async def _get(session: aiohttp.ClientSession, url: str) -> bytes:
    async with session.get(url) as resp:
        assert resp.status == 200, (url, await resp.text())
        return await resp.read()


async def test_every_packet_is_a_leaf_and_tiles_prove_it(hq_node, hq_dir: HQDir, hq_server) -> None:
    append_actas(hq_node, {f"DIP-14-01-0123-B0{i}": VALUES_A for i in range(1, 4)})
    await post_chain(hq_server.url, hq_node)
    ledger = hq_node.ledger()
    try:
        wires = [packets.to_wire(p).encode() for p in ledger.packets()]
    finally:
        ledger.close()
    async with aiohttp.ClientSession() as session:
        vkey = tlog_note.parse_vkey((await _get(session, hq_server.url + "/v1/log/vkey")).decode())
        note = tlog_note.parse_note(await _get(session, hq_server.url + "/v1/checkpoint"))
        tlog_note.verify_by(note, vkey)
        cp = tlog_note.parse_checkpoint_text(note.text)
        assert cp.size == len(wires) and cp.origin == vkey.name
        tiles = {}
        for level, index, width in tlog.tiles_for(cp.size):
            path = tlog.tile_path(level, index, width)
            tiles[path] = await _get(session, f"{hq_server.url}/v1/log/{path}")
        bundle = await _get(session, f"{hq_server.url}/v1/log/{tlog.tile_path('entries', 0, cp.size)}")
        assert tlog.unbundle(bundle) == wires  # the leaves are the wire lines, in order
        src = tlog.TileSource(cp.size, tiles.__getitem__)
        assert tlog.root_from(src.node, cp.size) == cp.root == tlog.root_of(wires)
        proof = await _get(session, f"{hq_server.url}/v1/log/packet/{hq_node.config.node_id}/4")
        answer = json.loads(proof)
        tlog.verify_inclusion(answer["index"], answer["size"], tlog.leaf_hash(wires[3]),
                              [bytes.fromhex(h) for h in answer["proof"]], cp.root)
        async with session.get(f"{hq_server.url}/v1/log/tile/0/001") as resp:
            assert resp.status == 404  # past the log
        async with session.get(f"{hq_server.url}/v1/log/tile/0/000.p/{cp.size + 1}") as resp:
            assert resp.status == 404
        # a replayed batch adds nothing to the log
        await post_chain(hq_server.url, hq_node)
        again = tlog_note.parse_note(await _get(session, hq_server.url + "/v1/log/checkpoint"))
        assert again.text == note.text


def test_log_rows_are_append_only(hq_dir: HQDir) -> None:
    conn = hq_dir.connect()
    try:
        with conn_tx(conn):
            hq_tlog.append(conn, [b"one", b"two", b"three"])
        for sql, args in (("UPDATE tlog_leaves SET entry = ? WHERE idx = 1", (b"x",)),
                          ("DELETE FROM tlog_leaves WHERE idx = ?", (1,))):
            with pytest.raises(Exception, match="append-only"):
                conn.execute(sql, args)
        assert hq_tlog.head(conn) == (3, tlog.root_of([b"one", b"two", b"three"]))
        with pytest.raises(ValueError, match="65535"), conn_tx(conn):
            hq_tlog.append(conn, [b"x" * 70000])
        assert hq_tlog.size(conn) == 3  # nothing half-written
    finally:
        conn.close()


def test_append_in_batches_matches_one_tree(hq_dir: HQDir) -> None:
    leaves = [f"leaf {i}".encode() for i in range(700)]
    conn = hq_dir.connect()
    try:
        for lo in range(0, 700, 97):
            with conn_tx(conn):
                hq_tlog.append(conn, leaves[lo:lo + 97])
        n, root = hq_tlog.head(conn)
        assert (n, root) == (700, tlog.root_of(leaves))
        node = hq_tlog.node_fn(conn)
        for old in (1, 255, 256, 513):
            tlog.verify_consistency(old, n, tlog.root_of(leaves[:old]), root,
                                    tlog.consistency_proof(node, old, n))
        assert len(hq_tlog.tile(conn, 1, 0, 2) or b"") == 64
        assert hq_tlog.tile(conn, 1, 0, 3) is None
    finally:
        conn.close()


def conn_tx(conn):  # type: ignore[no-untyped-def]
    from hq.store.base import writing
    return writing(conn)


def test_sqlite_and_packets_share_one_transaction(hq_dir: HQDir) -> None:
    conn = hq_dir.connect()
    if not isinstance(conn, sqlite3.Connection):
        conn.close()
        pytest.skip("covered by the HTTP test on PostgreSQL")
    try:
        with pytest.raises(RuntimeError), conn_tx(conn):
            hq_tlog.append(conn, [b"lost"])
            raise RuntimeError("crash between the leaf and the packet")
        assert hq_tlog.size(conn) == 0
    finally:
        conn.close()
