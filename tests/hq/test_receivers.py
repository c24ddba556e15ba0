"""Several receivers, one store: batches of one node stored at the same moment by two
connections (as two `catd-hq serve` processes would) keep each packet once, answer the same
receipt, leave no gap, and a fork is caught whichever receiver sees it."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer

from catd_node import keys, packets
from catd_node.packets import Packet
from hq import receive
from hq import store as hq_store
from hq.app import create_app
from hq.store import HQDir
from hq.store.base import Conn
from sync import protocol

NODE = "CATD-14-07"
ROUNDS = 12
BATCH = 60


def chain(count: int, *, seed_body: str = "honest") -> tuple[bytes, list[Packet]]:
    key = keys.generate()
    out: list[Packet] = []
    prev = packets.ZERO_HASH
    for seq in range(1, count + 1):
        p = packets.seal(key, node=NODE, seq=seq, prev=prev, kind="acta.acopio",
                         body={"acta": f"DIP-14-01-{seq:04d}-B01", "by": seed_body, "in_catalog": True})
        out.append(p)
        prev = p.hash
    return keys.public_pem(key.public_key()), out


def resign(key_chain: list[Packet], key: Any, start: int, body: str) -> list[Packet]:
    """The same node's chain from `start` on, re-signed with other bodies (an equivocation)."""
    out: list[Packet] = []
    prev = key_chain[start - 2].hash if start > 1 else packets.ZERO_HASH
    for p in key_chain[start - 1:]:
        q = packets.seal(key, node=NODE, seq=p.seq, prev=prev, kind="acta.acopio",
                         body={"acta": f"DIP-14-01-{p.seq:04d}-B01", "by": body, "in_catalog": True})
        out.append(q)
        prev = q.hash
    return out


def checked(pem: bytes, batch: list[Packet]) -> receive.Checked:
    result = receive.check_batch(protocol.unframe(protocol.frame(batch)), {NODE: pem.decode("ascii")})
    assert result.rejection is None, result.rejection.body
    return result


def at_once(hq: HQDir, calls: list[Callable[[Conn], Any]]) -> list[Any]:
    """Run each call on its own connection and thread, released together by a barrier;
    a Rejection is returned, not raised."""
    conns = [hq.connect() for _ in calls]
    barrier = threading.Barrier(len(calls))

    def run(i: int) -> Any:
        barrier.wait()
        try:
            return calls[i](conns[i])
        except receive.Rejection as exc:
            return exc

    try:
        with ThreadPoolExecutor(len(calls)) as pool:
            return list(pool.map(run, range(len(calls))))
    finally:
        for conn in conns:
            conn.close()


def held(hq: HQDir) -> list[tuple[int, str]]:
    conn = hq.connect()
    try:
        return [tuple(r) for r in conn.execute("SELECT seq, hash FROM packets WHERE node = ? ORDER BY seq",
                                                (NODE,)).fetchall()]
    finally:
        conn.close()


def register(hq: HQDir, pem: bytes) -> None:
    conn = hq.connect()
    try:
        hq_store.add_node(conn, NODE, pem)
    finally:
        conn.close()


def test_two_receivers_storing_the_same_and_overlapping_batches_at_once(hq_dir: HQDir) -> None:
    """Each round, two connections store at the same instant either the very same batch or two
    overlapping ones (one from an older head, or one longer). Without the per-node lock
    (PostgreSQL, READ COMMITTED) both read the same head: the second then fails on the primary
    key (a 500 to the node) or is refused as a gap although nothing is missing."""
    pem, packets_ = chain(ROUNDS * BATCH + BATCH)
    register(hq_dir, pem)
    key = hq_dir.private_key()
    top = 0
    for r in range(ROUNDS):
        first = r * BATCH
        a = packets_[first:first + BATCH]
        b = [a,                                                        # the same batch
             packets_[max(0, first - BATCH // 2):first + BATCH // 2],  # from an older head
             packets_[first:first + BATCH + BATCH // 2]][r % 3]        # the same start, longer
        top = max(top, b[-1].seq)
        ca, cb = checked(pem, a), checked(pem, b)
        answers = at_once(hq_dir, [lambda c, x=ca: receive.store_batch(c, x, key),
                                   lambda c, x=cb: receive.store_batch(c, x, key)])
        for answer in answers:
            assert not isinstance(answer, BaseException), f"round {r}: {answer}"
        (ra, _), (rb, _) = answers
        assert ra["acked"]["seq"] == a[-1].seq and rb["acked"]["seq"] == b[-1].seq
        if b is a:
            assert ra["receipt"] == rb["receipt"], "two receipts for one packet"
        assert protocol.check_receipt(hq_dir.public_key(), ra["receipt"]) is None
        assert protocol.check_receipt(hq_dir.public_key(), rb["receipt"]) is None
    stored = held(hq_dir)
    assert [seq for seq, _ in stored] == list(range(1, top + 1)), "a gap or a packet stored twice"
    assert [h for _, h in stored] == [p.hash for p in packets_[:top]]


def test_a_fork_is_caught_whichever_receiver_sees_it(hq_dir: HQDir) -> None:
    """The node's honest batch and an equivocating one (same seqs, other bodies, signed by the
    same key) reach two receivers at once: one is stored, the other is refused as a fork with
    its evidence kept and the node flagged, in every round whichever wins."""
    key = keys.generate()
    pem = keys.public_pem(key.public_key())
    register(hq_dir, pem)
    hq_key = hq_dir.private_key()
    honest: list[Packet] = []
    prev = packets.ZERO_HASH
    for seq in range(1, ROUNDS * 20 + 1):
        p = packets.seal(key, node=NODE, seq=seq, prev=prev, kind="acta.acopio",
                         body={"acta": f"DIP-14-01-{seq:04d}-B01", "by": "ana", "in_catalog": True})
        honest.append(p)
        prev = p.hash
    winners: list[str] = []
    for r in range(ROUNDS):
        good = honest[r * 20:(r + 1) * 20]
        evil = resign(honest[:(r + 1) * 20], key, r * 20 + 1, f"evil {r}")
        cg, ce = checked(pem, good), checked(pem, evil)
        answers = at_once(hq_dir, [lambda c, x=cg: receive.store_batch(c, x, hq_key),
                                   lambda c, x=ce: receive.store_batch(c, x, hq_key)])
        refused = [a for a in answers if isinstance(a, receive.Rejection)]
        accepted = [a for a in answers if not isinstance(a, BaseException)]
        assert len(refused) == 1 and len(accepted) == 1, f"round {r}: {answers}"
        assert refused[0].status == 409 and refused[0].body["error"] == protocol.FORK
        winner = good if answers[0] is accepted[0] else evil
        winners.append("honest" if winner is good else "evil")
        if winner is evil:
            break  # the held chain now differs from `honest`; later rounds would all fork
    conn = hq_dir.connect()
    try:
        forks = conn.execute("SELECT COUNT(*) FROM forks WHERE node = ?", (NODE,)).fetchone()[0]
        flagged = conn.execute("SELECT forked FROM nodes WHERE node = ?", (NODE,)).fetchone()[0]
    finally:
        conn.close()
    assert forks == len(winners) and bool(flagged)


async def test_two_receiver_apps_answer_the_same_batch_with_one_receipt(hq_dir: HQDir) -> None:
    """Over HTTP: two HQ apps on one store, the same batch POSTed to both at once."""
    import asyncio

    pem, packets_ = chain(400)
    register(hq_dir, pem)
    servers = [TestServer(create_app(hq_dir), host="127.0.0.1", port=0) for _ in range(2)]
    for server in servers:
        await server.start_server()
    try:
        urls = [str(s.make_url("")).rstrip("/") for s in servers]
        async with aiohttp.ClientSession() as session:
            async def post(url: str, batch: list[Packet]) -> tuple[int, Any]:
                async with session.post(url + protocol.PACKETS_PATH, data=protocol.frame(batch)) as resp:
                    return resp.status, await resp.json()

            for start in range(0, 400, 100):
                batch = packets_[start:start + 100]
                (sa, ja), (sb, jb) = await asyncio.gather(post(urls[0], batch), post(urls[1], batch))
                assert (sa, sb) == (200, 200), (ja, jb)
                assert ja["receipt"] == jb["receipt"]
            # results and heads are read from the one store: every receiver answers the same
            answers = []
            for url in urls:
                for path in (protocol.RESULTS_PATH, protocol.head_path(NODE)):
                    async with session.get(url + path) as resp:
                        answers.append((path, resp.status, await resp.json()))
            assert answers[:2] == answers[2:] and answers[1][2]["seq"] == 400
    finally:
        for server in servers:
            await server.close()
    assert [seq for seq, _ in held(hq_dir)] == list(range(1, 401))
