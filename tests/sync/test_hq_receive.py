"""HQ receiver: acceptance, idempotent replay, and every rejection with status, code and line."""

from __future__ import annotations

import json

import aiohttp

from catd_node import keys, packets
from sync import protocol
from sync.hq.store import HQDir

from .conftest import VALUES_A, append_actas, make_node


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
        status, partial = await post(session, hq_server.url, protocol.frame(chain[1:2]))
        assert status == 200 and partial["acked"]["seq"] == 2
        async with session.get(hq_server.url + protocol.head_path("CATD-14-01")) as resp:
            assert await resp.json() == {"seq": 4, "hash": chain[3].hash}
    conn = hq_dir.connect()
    assert conn.execute("SELECT COUNT(*) FROM packets").fetchone()[0] == 4
    conn.close()
