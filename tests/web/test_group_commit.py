"""Group commit keeps the procedure's rules: submits that share one transaction stay atomic,
in order, and isolated from each other's failures; every answered submit is durable."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest

from catd_node import store
from catd_node.ledger import Transaction
from catd_node.verify import verify_store
from catd_node.web import rules
from catd_node.web.db import Database
from catd_node.web.state import DB
from tests.web.conftest import (
    CLI,
    GOOD,
    PASSWORD,
    digitize,
    digitize_pool,
    packets_of,
    start_web,
    values_form,
)

KEY = "DIP-14-01-0123-B01"
OTHER = "DIP-14-01-0124-B01"


async def until(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.005)


class Gate:
    """A step that holds the writer thread (a commit in flight) until opened."""

    def __init__(self) -> None:
        self.running = threading.Event()
        self.open = threading.Event()

    def step(self, tx: Transaction) -> None:
        self.running.set()
        assert self.open.wait(10), "gate never opened"


async def hold_writer(db: Database) -> tuple[Gate, asyncio.Task[Any]]:
    gate = Gate()
    task = asyncio.ensure_future(db.write(gate.step))
    await until(gate.running.is_set, "the gate step to run on the writer")
    return gate, task


async def test_two_clerks_verifying_the_same_acta_in_one_group_make_one_verified(server, clerks, signed_in):
    sha = digitize(clerks, KEY, seed=7)
    ana, beto, carla = await signed_in("ana"), await signed_in("beto"), await signed_in("carla")
    status, _ = await ana.post("/captura", {"acta": KEY, "imagen": sha, **values_form(GOOD)}, follow=False)
    assert status == 303
    db = server.app[DB]
    gate, held = await hold_writer(db)
    form = {"acta": KEY, "imagen": sha, **values_form(GOOD)}
    both = asyncio.gather(beto.post("/verificacion", form, follow=False),
                          carla.post("/verificacion", form, follow=False))
    await until(lambda: db.waiting() == 2, "both verifications to queue behind the commit in flight")
    groups_before = db.stats.groups
    gate.open.set()
    answers = await both
    await held
    assert db.stats.groups == groups_before + 2 and db.stats.sizes[-1] == 2  # gate, then both together
    assert sorted(s for s, _ in answers) == [303, 409]
    refused = next(page for s, page in answers if s == 409)
    assert "ya está verificada" in refused
    [verified] = packets_of(clerks, "acta.verified")
    rounds = [p["round"] for p in packets_of(clerks, "acta.captured")]
    assert rounds == [1, 2] and verified["by"] in ("beto", "carla")
    assert not packets_of(clerks, "acta.mismatch")


def _boom(tx: Transaction) -> None:
    tx.append("acta.captured", {"acta": "DIP-14-01-0999-B01", "image_sha256": None, "values": {},
                                "by": "nadie", "round": 1})
    tx.conn.execute("INSERT INTO web_devices (id, token_sha256, created_by, created_at, active)"
                    " VALUES ('fantasma', 'x', 'nadie', 'ahora', 1)")
    raise RuntimeError("falla a medio paso")


async def test_a_failing_submit_in_a_group_does_not_undo_the_others(server, clerks):
    db = server.app[DB]
    values = {k: int(v) for k, v in GOOD.items()}
    sha, other_sha = digitize(clerks, KEY, seed=8), digitize(clerks, OTHER, seed=9)
    gate, held = await hold_writer(db)
    submits = [asyncio.ensure_future(db.write(*call)) for call in (
        (rules.capture, KEY, sha, values, "ana"),
        (rules.capture, KEY, sha, values, "beto"),       # refused: already captured in this group
        (_boom,),                                        # appends and writes a row, then raises
        (rules.capture, OTHER, other_sha, values, "carla"),
    )]
    await until(lambda: db.waiting() == 4, "four submits to queue behind the commit in flight")
    gate.open.set()
    await held
    first, refused, boom, other = await asyncio.gather(*submits, return_exceptions=True)
    assert db.stats.sizes[-1] == 4
    assert isinstance(refused, rules.Refused) and "ya fue capturada" in refused.why
    assert isinstance(boom, RuntimeError)
    assert other.seq == first.seq + 1  # the undone packet left no hole: the head was restored
    captured = packets_of(clerks, "acta.captured")
    assert [(p["acta"], p["by"]) for p in captured] == [(KEY, "ana"), (OTHER, "carla")]
    conn = store.connect(clerks.db_path)
    try:
        assert conn.execute("SELECT COUNT(*) FROM web_devices WHERE id = 'fantasma'").fetchone()[0] == 0
        report = verify_store(conn, clerks.public_key(), clerks.config.node_id, clerks.blobs())
    finally:
        conn.close()
    assert report.ok, report.reason
    # the writer keeps working after a group with failures
    again = await db.write(rules.acopio, KEY, "ana", True)
    assert again is not None and again.seq == other.seq + 1


async def test_a_lone_submit_commits_without_waiting_for_company(server, clerks):
    db = server.app[DB]
    before = db.stats.groups
    packet = await db.write(rules.acopio, KEY, "ana", True)
    assert packet is not None and db.stats.groups == before + 1 and db.stats.sizes[-1] == 1


async def _login(session: aiohttp.ClientSession, url: str, name: str) -> None:
    async with session.post(f"{url}/login", data={"usuario": name, "contrasena": PASSWORD},
                            headers={"Sec-Fetch-Site": "same-origin"}) as r:
        assert r.status == 200 and "Hola" in await r.text(), f"{name} could not sign in"


POOL = 3000


@pytest.mark.slow
async def test_every_answered_submit_survives_sigkill_mid_burst(clerks):
    """Capturistas and verificadores hammer a real `catd-node web`; it is SIGKILLed while
    submits are in flight. Every submit answered 303 (saved) must be in the chain."""
    pool = [f"DIP-14-01-{9000 + i:04d}-B01" for i in range(POOL)]
    sha = digitize_pool(clerks, pool)  # every capture needs an image bound to its acta
    proc, url = start_web(clerks)
    answered: list[tuple[str, str, str]] = []  # (stage, acta, clerk)
    failed = [0]
    to_verify: asyncio.Queue[str] = asyncio.Queue()
    keys = iter(pool)
    sessions: list[aiohttp.ClientSession] = []

    async def worker(session: aiohttp.ClientSession, name: str, stage: str) -> None:
        form = values_form(GOOD)
        while True:
            key = next(keys, None) if stage == "captura" else await to_verify.get()
            if key is None:
                return  # the pool ran out before the kill: the assertions below say if that is too soon
            try:
                async with session.post(f"{url}/{'captura' if stage == 'captura' else 'verificacion'}",
                                        data={"acta": key, "imagen": sha, **form}, allow_redirects=False,
                                        headers={"Sec-Fetch-Site": "same-origin"}) as r:
                    await r.read()
                    status = r.status
            except (TimeoutError, aiohttp.ClientError):
                failed[0] += 1
                return
            if status == 303:
                answered.append((stage, key, name))
                if stage == "captura":
                    to_verify.put_nowait(key)

    try:
        plan = {"ana": "captura", "coco": "captura", "beto": "verificacion", "carla": "verificacion"}
        for name in plan:
            s = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True),
                                      timeout=aiohttp.ClientTimeout(total=30))
            sessions.append(s)
            await _login(s, url, name)
        workers = [asyncio.ensure_future(worker(s, name, stage))
                   for s, (name, stage) in zip(sessions, plan.items(), strict=True) for _ in range(4)]
        await until(lambda: sum(a[0] == "verificacion" for a in answered) >= 20, "a burst of submits", 60)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        await until(lambda: all(w.done() for w in workers[:8]), "capturistas to see the server gone", 30)
        for w in workers[8:]:  # verificadores may wait on an empty queue; an answer can't come now
            w.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
    finally:
        for s in sessions:
            await s.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert failed[0] >= 1, "the kill interrupted no submit: not mid-burst"
    captured = {(p["acta"], p["by"], p["round"]) for p in packets_of(clerks, "acta.captured")}
    verified = {(p["acta"], p["by"]) for p in packets_of(clerks, "acta.verified")}
    for stage, key, name in answered:
        if stage == "captura":
            assert (key, name, 1) in captured, f"answered capture of {key} by {name} lost"
        else:
            assert (key, name, 2) in captured and (key, name) in verified, f"answered verify of {key} lost"
    assert len(answered) >= 40
    done = subprocess.run([*CLI, "verify", "-d", str(clerks.root)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ok:")
