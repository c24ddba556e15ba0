"""HQ fixtures and helpers for the HQ, sync client and e2e tests (a plugin of the root conftest).

Every test that uses an HQ fixture runs twice, once per store: `[sqlite]` (hq.db) and
`[postgres]` (a fresh schema on a PostgreSQL server the session starts: tests/pgserver.py).
CATD_TEST_STORES=sqlite (or =postgres) runs one store only.

- `hq_store_kind`: "sqlite" or "postgres"; `hq_db`: the PostgreSQL URL of this test, or None.
- `pg_server`: the session's PostgreSQL server (`.create()` gives a new schema's URL).
- `hq_dir`: an initialised HQ data dir (key pair, hq.db or database.url, the example election).
- `hq_node`: a node data dir whose catd.toml trusts the HQ key, registered at `hq_dir`
  (its [hq].urls are empty: use `with_hq_urls(node, [url])` once a server runs).
- `hq_server`: the HQ app served in-process on 127.0.0.1, port 0 (aiohttp test server); `.url`.
- `hq_process`: a real `catd-hq serve --port 0` child process (start/stop/kill/restart, `.url`),
  for clients that block, SIGKILL and restart tests.
- helpers: `with_hq_urls`, `append_actas` (a small hand-made chain), `append_image`, `wire_body`,
  `post_chain`, `blob_headers` (a node's signed HEAD/PUT headers), `serve_hq` (an in-process
  HQ with chosen upload limits).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import suppress
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from catd_node import config, datadir
from catd_node.datadir import DataDir
from catd_node.packets import Packet
from hq import store as hq_store
from hq.app import create_app
from hq.state import UploadLimits
from hq.store import HQDir
from sync import protocol
from tests import pgserver

ROOT = Path(__file__).resolve().parents[1]
ELECTION = ROOT / "catd_node" / "data" / "election.json"
NODE_ID = "CATD-14-01"
STORES = [s for s in os.environ.get("CATD_TEST_STORES", "sqlite,postgres").split(",") if s]


def with_hq_urls(node: DataDir, urls: list[str]) -> DataDir:
    """Rewrite the node's catd.toml with these [hq].urls; return a fresh DataDir (config re-read)."""
    cfg = node.config
    new = dataclasses.replace(cfg, hq=dataclasses.replace(cfg.hq, urls=tuple(urls)))
    node.config_path.write_text(config.render(new), encoding="utf-8")
    return DataDir(node.root)


def make_node(root: Path, hq: HQDir, node_id: str = NODE_ID, election: Path = ELECTION) -> DataDir:
    """An initialised node data dir trusting `hq`'s key, and registered at `hq`."""
    node = datadir.init(root, node_id, election, hq_urls=(), hq_pubkey=hq.pub_path)
    conn = hq.connect()
    try:
        hq_store.add_node(conn, node_id, node.pub_path.read_bytes())
    finally:
        conn.close()
    return node


def wire_body(packets: list[Packet]) -> bytes:
    return protocol.frame(packets)


VALUES_A = {"PAN": 100, "PRI": 80, "PRD": 10, "PVEM": 5, "PT": 7, "MC": 12, "MORENA": 150,
            "CNR": 0, "NULOS": 6, "TOTAL_ASENTADO": 370, "PERSONAS_VOTARON": 370,
            "REPRESENTANTES_VOTARON": 4, "BOLETAS_SOBRANTES": 240}


def append_actas(node: DataDir, actas: dict[str, dict[str, Any]]) -> list[Packet]:
    """Append acta.digitized, acta.captured and acta.verified for each acta key → values.

    Returns the appended packets. The image of acta K has bytes b"image of K" (stored in the
    node's blob store), so HQ blob uploads can be exercised.
    """
    from catd_node.actas import classify

    election = node.election
    blobs = node.blobs()
    ledger = node.ledger()
    out: list[Packet] = []
    try:
        for key, values in actas.items():
            image = f"image of {key}".encode()
            sha = blobs.put(image)
            out.append(ledger.append("acta.digitized", {
                "image": {"sha256": sha, "bytes": len(image), "format": "webp", "width": 1700,
                          "height": 2200, "dpi": 200},
                "original": {"sha256": sha, "bytes": len(image), "name": f"{key}.jpg"},
                "source": {"kind": "scanner", "id": "scanner-1"}, "acta": key, "identified_by": "filename",
            }))
            captured = ledger.append("acta.captured", {
                "acta": key, "image_sha256": sha, "values": values, "by": "ana", "round": 1})
            out.append(captured)
            cls = classify(election, key, values)
            out.append(ledger.append("acta.verified", {
                "acta": key, "image_sha256": sha, "values": values, "class": cls.cls,
                "observations": list(cls.observations), "total": cls.total,
                "captured_seq": captured.seq, "by": "beto",
            }))
    finally:
        ledger.close()
    return out


def append_image(node: DataDir, data: bytes, acta: str | None = None) -> str:
    """Store `data` as a node image and append the acta.digitized packet referencing it."""
    sha = node.blobs().put(data)
    ledger = node.ledger()
    try:
        ledger.append("acta.digitized", {
            "image": {"sha256": sha, "bytes": len(data), "format": "webp", "width": 1, "height": 1,
                      "dpi": 200},
            "original": {"sha256": sha, "bytes": len(data), "name": "x.jpg"},
            "source": {"kind": "scanner", "id": "scanner-1"}, "acta": acta, "identified_by": None})
    finally:
        ledger.close()
    return sha


async def post_chain(url: str, node: DataDir) -> None:
    """Send the node's whole chain to HQ in one batch (HQ then awaits its images)."""
    ledger = node.ledger()
    try:
        body = protocol.frame(ledger.packets())
    finally:
        ledger.close()
    async with aiohttp.ClientSession() as session:
        async with session.post(url + protocol.PACKETS_PATH, data=body) as resp:
            assert resp.status == 200, await resp.text()


def blob_headers(node: DataDir, method: str, sha: str, offset: int | None = None,
                 length: int | None = None, now: float | None = None) -> dict[str, str]:
    """The headers of `node`'s signed blob request (as the sync client sends them)."""
    return protocol.sign_blob_request(node.private_key(), method, sha, node.config.node_id,
                                      time.time() if now is None else now, offset, length)


@contextlib.asynccontextmanager
async def serve_hq(hq: HQDir, limits: UploadLimits | None = None) -> AsyncIterator[str]:
    """An HQ app for `hq` served in-process with these upload limits; yields its base URL."""
    server = TestServer(create_app(hq, limits=limits), host="127.0.0.1", port=0)
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


def rewrite_packet(hq: HQDir, seq: int, change: Callable[[bytes], bytes], node: str = NODE_ID) -> None:
    """Change a stored packet's canonical bytes behind HQ's back (an attacker with the database):
    the append-only trigger is switched off for this one UPDATE."""
    conn = hq.connect()
    try:
        canonical = bytes(conn.execute("SELECT canonical FROM packets WHERE node = ? AND seq = ?",
                                       (node, seq)).fetchone()[0])
        if isinstance(conn, sqlite3.Connection):
            conn.execute("DROP TRIGGER packets_no_update")
        else:
            conn.execute("ALTER TABLE packets DISABLE TRIGGER packets_no_update")
        conn.execute("UPDATE packets SET canonical = ? WHERE node = ? AND seq = ?",
                     (change(canonical), node, seq))
    finally:
        conn.close()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[pgserver.PGServer]:
    server = pgserver.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=STORES)
def hq_store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def new_hq_db(request: pytest.FixtureRequest, hq_store_kind: str) -> Iterator[Callable[[], str | None]]:
    """A maker of stores for HQs made in this test: None (SQLite, hq.db in each data dir) or,
    on PostgreSQL, the URL of a new schema (all dropped after the test)."""
    if hq_store_kind == "sqlite":
        yield lambda: None
        return
    server: pgserver.PGServer = request.getfixturevalue("pg_server")
    made: list[str] = []

    def new() -> str:
        made.append(server.create())
        return made[-1]

    try:
        yield new
    finally:
        for url in made:
            with suppress(Exception):  # the server itself is removed at the session's end
                server.drop(url)


@pytest.fixture
def hq_db(new_hq_db: Callable[[], str | None]) -> str | None:
    """None for SQLite; for PostgreSQL, the URL of a schema made for this test (dropped after)."""
    return new_hq_db()


@pytest.fixture
def hq_dir(tmp_path: Path, hq_db: str | None) -> HQDir:
    return hq_store.init(tmp_path / "hq", ELECTION, hq_db)


@pytest.fixture
def hq_node(tmp_path: Path, hq_dir: HQDir) -> DataDir:
    return make_node(tmp_path / "node", hq_dir)


class Server:
    """An HQ app served in-process; `url` is its base URL."""

    def __init__(self, server: TestServer) -> None:
        self.server = server
        self.url = str(server.make_url("")).rstrip("/")


@pytest.fixture
async def hq_server(hq_dir: HQDir) -> AsyncIterator[Server]:
    server = TestServer(create_app(hq_dir), host="127.0.0.1", port=0)
    await server.start_server()
    try:
        yield Server(server)
    finally:
        await server.close()


_URL = re.compile(r"catd-hq serving (http://\S+)")


class HQProcess:
    """`catd-hq serve` as a child process; `start` waits for its URL line (with a deadline)."""

    def __init__(self, hq: HQDir, log_path: Path, **popen: Any) -> None:
        self.hq = hq
        self.log_path = log_path
        self.popen = popen  # more subprocess.Popen arguments, e.g. preexec_fn for resource limits
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""
        self.port = 0

    def start(self, port: int | None = None, timeout: float = 20.0) -> str:
        port = self.port if port is None else port
        log = self.log_path.open("a")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "hq.cli", "-d", str(self.hq.root), "serve",
             "--host", "127.0.0.1", "--port", str(port)],
            stdout=subprocess.PIPE, stderr=log, text=True, cwd=ROOT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"}, **self.popen,
        )
        log.close()
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            match = _URL.search(line)
            if match:
                self.url = match.group(1)
                self.port = int(self.url.rsplit(":", 1)[1])
                return self.url
        raise RuntimeError(f"catd-hq serve did not start; see {self.log_path}")

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM and wait: the graceful path."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self._reap(timeout)

    def kill(self) -> int:
        assert self.proc is not None
        self.proc.kill()
        return self._reap(10.0)

    def restart(self) -> str:
        """Stop (SIGTERM) and start again on the same port."""
        if self.proc is not None and self.proc.poll() is None:
            self.stop()
        return self.start(self.port)

    def _reap(self, timeout: float) -> int:
        assert self.proc is not None
        code = self.proc.wait(timeout)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        return code


@pytest.fixture
def hq_process(hq_dir: HQDir, tmp_path: Path) -> Iterator[HQProcess]:
    proc = HQProcess(hq_dir, tmp_path / "hq-serve.log")
    proc.start(0)
    try:
        yield proc
    finally:
        if proc.proc is not None and proc.proc.poll() is None:
            proc.kill()
