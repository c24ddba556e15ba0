"""HQ's casilla endpoint against a real in-process HQ (both stores): device-signed resumable
uploads stored once with a signed receipt, and every named refusal or flag."""

from __future__ import annotations

import asyncio
import base64
import json
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import aiohttp
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from catd_node.datadir import DataDir
from hq import store as hq_store
from hq.casilla import phone
from hq.casilla.store import CasillaDB
from hq.store import HQDir
from sync import casilla_protocol as cp
from sync import protocol
from tests.casilla.casillakit import (
    NODE_A,
    NODE_B,
    acta_photo,
    enrol,
    revoke,
    statement_of,
    two_catd_election,
)
from tests.hqkit import make_node, post_chain, serve_hq


@pytest.fixture
def setup(tmp_path: Path, hq_db: str | None) -> tuple[HQDir, DataDir, DataDir, list[str], list[str]]:
    election, of_a, of_b = two_catd_election(tmp_path)
    hq = hq_store.init(tmp_path / "hq", election, hq_db)
    a = make_node(tmp_path / "a", hq, NODE_A, election)
    b = make_node(tmp_path / "b", hq, NODE_B, election)
    return hq, a, b, of_a, of_b


def _rows(hq: HQDir) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(hq.root / "casilla.db")
    try:
        return conn.execute("SELECT sha256, acta, node, device, flag FROM statements ORDER BY id").fetchall()
    finally:
        conn.close()


def _signed_pull(node: DataDir, after: int = 0) -> dict[str, str]:
    date = str(int(time.time()))
    sig = node.private_key().sign(cp.pull_message(node.config.node_id, date, str(after)))
    return {protocol.NODE_HEADER: node.config.node_id, protocol.DATE_HEADER: date,
            protocol.SIGNATURE_HEADER: base64.b64encode(sig).decode("ascii")}


async def test_resumable_upload_stored_once_with_signed_receipt(setup) -> None:
    hq, a, _b, of_a, _ = setup
    key = enrol(a, "cae-1")
    async with serve_hq(hq) as url, aiohttp.ClientSession() as session:
        await post_chain(url, a)
        data = acta_photo(of_a[0])
        signed = phone.sign(key, "cae-1", NODE_A, of_a[0], data)
        path = url + cp.PHOTO_PATH.format(sha256=signed.sha256)
        # a first chunk only: the link drops; HQ holds it
        first = {**signed.headers(), protocol.UPLOAD_OFFSET: "0", protocol.UPLOAD_LENGTH: str(len(data))}
        async with session.put(path, data=data[:3000], headers=first) as resp:
            assert resp.status == 202 and (await resp.json())["offset"] == 3000
        async with session.head(path, headers=signed.headers()) as resp:
            assert resp.status == 404 and resp.headers[protocol.UPLOAD_OFFSET] == "3000"
        status, answer = await phone.send(session, url, signed, data, chunk=2048)
        assert status == 201, answer
        receipt = answer["receipt"]
        assert receipt["codigo_integridad"] == signed.sha256 and receipt["acta"] == of_a[0]
        assert receipt["flag"] is None
        assert cp.check_receipt(hq.public_key(), receipt)
        forged = {**receipt, "acta": of_a[1]}
        assert not cp.check_receipt(hq.public_key(), forged)
        # replayed: the same receipt, still one statement and one blob
        status, again = await phone.send(session, url, signed, data)
        assert status == 200 and again["replay"] is True and again["receipt"] == receipt
    assert hq.blobs().read(signed.sha256) == data
    assert _rows(hq) == [(signed.sha256, of_a[0], NODE_A, "cae-1", None)]
    assert not list((hq.uploads_dir / "casilla").glob("*.partial"))


async def test_refusals_are_named_and_nothing_is_kept(setup) -> None:
    hq, a, _b, of_a, _ = setup
    key = enrol(a, "cae-1")
    gone = enrol(a, "cae-2")
    revoke(a, "cae-2")
    async with serve_hq(hq) as url, aiohttp.ClientSession() as session:
        await post_chain(url, a)
        data = acta_photo(of_a[0])

        async def refused(signed: phone.Signed, body: bytes) -> tuple[int, str]:
            status, answer = await phone.send(session, url, signed, body)
            return status, answer.get("error", "")

        # altered after signing: the bytes no longer hash to the signed sha256
        signed = phone.sign(key, "cae-1", NODE_A, of_a[0], data)
        altered = bytearray(data)
        altered[-100] ^= 0xFF
        assert await refused(signed, bytes(altered)) == (422, cp.HASH_MISMATCH)
        # an unknown device, a key the chain never enrolled, a revoked device, a stranger node
        stranger = Ed25519PrivateKey.generate()
        assert await refused(phone.sign(stranger, "nadie", NODE_A, of_a[0], data), data) == (
            403, cp.UNKNOWN_DEVICE)
        assert await refused(phone.sign(stranger, "cae-1", NODE_A, of_a[0], data), data) == (
            403, cp.BAD_STATEMENT_SIGNATURE)
        assert await refused(phone.sign(gone, "cae-2", NODE_A, of_a[0], data), data) == (
            403, cp.DEVICE_REVOKED)
        assert await refused(phone.sign(key, "cae-1", "CATD-99", of_a[0], data), data) == (
            403, cp.UNKNOWN_DEVICE)
        # the statement signs one photo, the path names another
        other = phone.sign(key, "cae-1", NODE_A, of_a[0], acta_photo(of_a[0], 1))
        wrong = phone.Signed(signed.sha256, other.statement, other.sig)
        assert await refused(wrong, data) == (400, cp.BAD_STATEMENT)
        # a chunk at an offset HQ does not hold
        path = url + cp.PHOTO_PATH.format(sha256=signed.sha256)
        headers = {**signed.headers(), protocol.UPLOAD_OFFSET: "100", protocol.UPLOAD_LENGTH: str(len(data))}
        async with session.put(path, data=data[100:], headers=headers) as resp:
            body = await resp.json()
            assert resp.status == 409 and body["error"] == cp.OFFSET_MISMATCH and body["offset"] == 0
    assert _rows(hq) == []
    assert not hq.blobs().has(signed.sha256)


async def test_acta_of_another_catd_is_flagged_and_never_pulled(setup) -> None:
    hq, a, b, of_a, of_b = setup
    key = enrol(a, "cae-1")
    async with serve_hq(hq) as url, aiohttp.ClientSession() as session:
        await post_chain(url, a)
        await post_chain(url, b)
        mine, theirs = acta_photo(of_a[0]), acta_photo(of_b[0])
        signed = phone.sign(key, "cae-1", NODE_A, of_b[0], theirs)
        status, answer = await phone.send(session, url, signed, theirs)
        assert status == 201 and answer["receipt"]["flag"] == cp.FUERA_DE_CATD
        signed = phone.sign(key, "cae-1", NODE_A, of_a[0], mine)
        status, answer = await phone.send(session, url, signed, mine)
        assert status == 201 and answer["receipt"]["flag"] is None
        # each node pulls: A gets its own acta only; B gets nothing (the phone is A's)
        async with session.get(url + cp.PULL_PATH, params={"after": "0"}, headers=_signed_pull(a)) as resp:
            pulled = await resp.json()
        assert resp.status == 200
        assert [statement_of(p["statement"])["acta"] for p in pulled["photos"]] == [of_a[0]]
        assert base64.b64decode(pulled["photos"][0]["image"]) == mine
        async with session.get(url + cp.PULL_PATH, params={"after": "0"}, headers=_signed_pull(b)) as resp:
            assert (await resp.json())["photos"] == []
        # a pull signed by another node's key is refused
        forged = {**_signed_pull(b), protocol.NODE_HEADER: NODE_A}
        async with session.get(url + cp.PULL_PATH, params={"after": "0"}, headers=forged) as resp:
            assert resp.status == 403 and (await resp.json())["error"] == protocol.BAD_REQUEST_SIGNATURE
    flags = [(row[1], row[4]) for row in _rows(hq)]
    assert flags == [(of_b[0], cp.FUERA_DE_CATD), (of_a[0], None)]
    assert json.dumps(flags)


async def test_a_revocation_holds_at_once_for_a_device_that_already_uploaded(setup) -> None:
    hq, a, _b, of_a, _ = setup
    key = enrol(a, "cae-1")
    async with serve_hq(hq) as url, aiohttp.ClientSession() as session:
        await post_chain(url, a)
        first, second = acta_photo(of_a[0]), acta_photo(of_a[1])
        status, _ = await phone.send(session, url, phone.sign(key, "cae-1", NODE_A, of_a[0], first), first)
        assert status == 201
        revoke(a, "cae-1")
        await post_chain(url, a)  # HQ learns the revocation through the chain
        status, answer = await phone.send(session, url, phone.sign(key, "cae-1", NODE_A, of_a[1], second),
                                          second)
        assert (status, answer["error"]) == (403, cp.DEVICE_REVOKED)
    assert [row[1] for row in _rows(hq)] == [of_a[0]]


async def test_concurrent_photos_keep_their_connections_and_each_receipt(setup) -> None:
    """Many phones at once: every photo stored once with its own receipt (the statements
    group-committed), and each phone's HEAD + PUTs ride one kept-alive connection."""
    hq, a, _b, of_a, _ = setup
    key = enrol(a, "cae-1")
    made = 0

    async def connected(*_: object) -> None:
        nonlocal made
        made += 1

    trace = aiohttp.TraceConfig()
    trace.on_connection_create_end.append(connected)
    photos = [(acta, acta_photo(acta, seed)) for seed in range(2) for acta in of_a[:6]]
    async with serve_hq(hq) as url, aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=4), trace_configs=[trace]) as session:
        await post_chain(url, a)
        made = 0
        signed = [phone.sign(key, "cae-1", NODE_A, acta, data) for acta, data in photos]
        answers = await asyncio.gather(*(phone.send(session, url, s, data, chunk=20_000)
                                         for s, (_, data) in zip(signed, photos, strict=True)))
    assert made <= 4, f"{made} connections for {len(photos)} photos over 4: a HEAD answer closed one"
    assert [status for status, _ in answers] == [201] * len(photos)
    for s, (_, answer) in zip(signed, answers, strict=True):
        receipt = answer["receipt"]
        assert receipt["sha256"] == s.sha256 and cp.check_receipt(hq.public_key(), receipt)
    assert sorted(row[0] for row in _rows(hq)) == sorted(s.sha256 for s in signed)


async def test_a_statement_verified_before_is_refused_once_its_device_is_revoked(setup) -> None:
    hq, a, _b, of_a, _ = setup
    key = enrol(a, "cae-1")
    async with serve_hq(hq) as url, aiohttp.ClientSession() as session:
        await post_chain(url, a)
        data = acta_photo(of_a[0])
        signed = phone.sign(key, "cae-1", NODE_A, of_a[0], data)
        path = url + cp.PHOTO_PATH.format(sha256=signed.sha256)
        async with session.head(path, headers=signed.headers()) as resp:
            assert resp.status == 404  # verified: HQ holds none of it yet
        revoke(a, "cae-1")
        await post_chain(url, a)
        status, answer = await phone.send(session, url, signed, data)
        assert (status, answer["error"]) == (403, cp.DEVICE_REVOKED)
    assert _rows(hq) == []


def test_group_commit_keeps_each_statement_once(tmp_path: Path) -> None:
    """Threads keeping statements at once, some the same: one row each, a repeat gets the
    first receipt, exactly one caller per statement told it recorded it."""
    db = CasillaDB(tmp_path / "casilla.db")
    barrier = threading.Barrier(12)

    def keep(i: int) -> tuple[int, str, bool]:
        n = i % 4
        st = {"sha256": f"{n:064x}", "acta": f"A{n}", "node": "CATD-1", "device": "cae-1"}
        barrier.wait()
        receipt, new = db.keep(st, f"statement {n}".encode(), "sig", None, "t", f"receipt {n} by {i}")
        return n, receipt, new

    with ThreadPoolExecutor(12) as pool:
        results = list(pool.map(keep, range(12)))
    db.close()
    for n in range(4):
        mine = [(receipt, new) for m, receipt, new in results if m == n]
        assert len({receipt for receipt, _ in mine}) == 1
        assert sum(new for _, new in mine) == 1
    conn = sqlite3.connect(tmp_path / "casilla.db")
    assert conn.execute("SELECT count(*) FROM statements").fetchone() == (4,)
    conn.close()


async def test_a_piece_cut_by_the_link_keeps_what_arrived_and_the_phone_resumes(setup) -> None:
    """The phone sends the photo in one PUT; the link drops halfway: HQ keeps the bytes that
    arrived, the HEAD says so, and the phone sends only the rest."""
    hq, a, _b, of_a, _ = setup
    key = enrol(a, "cae-1")
    async with serve_hq(hq) as url, aiohttp.ClientSession() as session:
        await post_chain(url, a)
        data = acta_photo(of_a[0])
        assert len(data) > 8000
        signed = phone.sign(key, "cae-1", NODE_A, of_a[0], data)
        path = cp.PHOTO_PATH.format(sha256=signed.sha256)
        host, port = url.removeprefix("http://").rsplit(":", 1)
        _reader, writer = await asyncio.open_connection(host, int(port))
        head = "".join(f"{k}: {v}\r\n" for k, v in {
            **signed.headers(), protocol.UPLOAD_OFFSET: "0", protocol.UPLOAD_LENGTH: str(len(data)),
            "Content-Length": str(len(data)), "Host": host}.items())
        writer.write(f"PUT {path} HTTP/1.1\r\n{head}\r\n".encode() + data[:5000])
        await writer.drain()
        await asyncio.sleep(0.2)
        writer.close()   # the link drops: 5000 of the bytes arrived
        deadline = time.monotonic() + 5
        while True:
            async with session.head(url + path, headers=signed.headers()) as resp:
                if resp.headers[protocol.UPLOAD_OFFSET] == "5000" or time.monotonic() > deadline:
                    break
            await asyncio.sleep(0.05)
        assert resp.status == 404 and resp.headers[protocol.UPLOAD_OFFSET] == "5000"
        sent: list[int] = []
        trace = aiohttp.TraceConfig()

        async def on_chunk(_s: object, _c: object, params: aiohttp.TraceRequestChunkSentParams) -> None:
            sent.append(len(params.chunk))

        trace.on_request_chunk_sent.append(on_chunk)
        async with aiohttp.ClientSession(trace_configs=[trace]) as resuming:
            status, answer = await phone.send(resuming, url, signed, data)
        assert status == 201, answer
        assert sum(sent) == len(data) - 5000   # only the rest went again
    assert hq.blobs().read(signed.sha256) == data
    assert not list((hq.uploads_dir / "casilla").glob("*.partial"))
