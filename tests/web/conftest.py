"""Fixtures for the web app: a data dir with clerks, an injected clock, browser-like clients."""

from __future__ import annotations

import dataclasses
import io
import json
import re
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from PIL import Image

from catd_node import config, store
from catd_node.datadir import DataDir
from catd_node.web import passwords, users
from catd_node.web.app import create_app

PASSWORD = "contraseña-segura"
CLERKS = {"ana": "capturista", "beto": "verificador", "carla": "verificador", "coco": "coordinador"}
CHEAP = passwords.Params(memory_kib=1024, iterations=1, lanes=1)


class FakeClock:
    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def jpeg(seed: int, size: tuple[int, int] = (120, 160)) -> bytes:
    """A small real JPEG, different for each seed."""
    img = Image.new("RGB", size, ((seed * 37) % 256, (seed * 91) % 256, (seed * 13) % 256))
    for x in range(0, size[0], 7):
        img.putpixel((x, (x * seed) % size[1]), (0, 0, 0))
    out = io.BytesIO()
    img.save(out, "JPEG", quality=70)
    return out.getvalue()


def digitize(datadir: DataDir, key: str | None, seed: int) -> str:
    """Store an image and append its acta.digitized packet, as the scanner service would."""
    data = jpeg(seed)
    sha = datadir.blobs().put(data)
    ledger = datadir.ledger()
    try:
        ledger.append("acta.digitized", {
            "image": {"sha256": sha, "bytes": len(data), "format": "jpeg", "width": 120, "height": 160,
                      "dpi": 200},
            "original": {"sha256": sha, "bytes": len(data), "name": f"scan-{seed}.jpg"},
            "source": {"kind": "scanner", "id": "scanner-1"},
            "acta": key, "identified_by": "filename" if key else None,
        })
    finally:
        ledger.close()
    return sha


def digitize_pool(datadir: DataDir, keys: list[str]) -> str:
    """One image bound to each of `keys` (acta.digitized, one transaction): for load tests, where
    every capture needs an image bound to its acta and one blob write per acta would dominate."""
    data = jpeg(999)
    sha = datadir.blobs().put(data)
    ledger = datadir.ledger()
    try:
        with ledger.transaction() as tx:
            for key in keys:
                tx.append("acta.digitized", {
                    "image": {"sha256": sha, "bytes": len(data), "format": "jpeg", "width": 120,
                              "height": 160, "dpi": 200},
                    "original": {"sha256": sha, "bytes": len(data), "name": f"{key}.jpg"},
                    "source": {"kind": "scanner", "id": "scanner-1"}, "acta": key,
                    "identified_by": "filename"})
    finally:
        ledger.close()
    return sha


def packets_of(datadir: DataDir, kind: str) -> list[dict[str, Any]]:
    conn = store.connect(datadir.db_path)
    try:
        rows = conn.execute("SELECT seq, canonical FROM packets WHERE kind = ? ORDER BY seq", (kind,))
        return [{"seq": seq, **json.loads(bytes(data))["body"]} for seq, data in rows]
    finally:
        conn.close()


def values_form(values: dict[str, str]) -> dict[str, str]:
    return {f"v_{k}": v for k, v in values.items()}


GOOD = {"PAN": "120", "PRI": "98", "PRD": "10", "PVEM": "7", "PT": "5", "MC": "30", "MORENA": "150",
        "CNR": "0", "NULOS": "12", "TOTAL_ASENTADO": "432", "PERSONAS_VOTARON": "430",
        "REPRESENTANTES_VOTARON": "2", "BOLETAS_SOBRANTES": "180"}


class Browser:
    """A clerk's browser: its own cookie jar; state changes carry Sec-Fetch-Site like a real one."""

    def __init__(self, base: str) -> None:
        self.base = base.rstrip("/")
        self.session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))

    async def get(self, path: str, **kw: Any) -> tuple[int, str]:
        async with self.session.get(self.base + path, **kw) as r:
            return r.status, await r.text()

    async def post(self, path: str, data: dict[str, str], *, headers: dict[str, str] | None = None,
                   follow: bool = True) -> tuple[int, str]:
        h = {"Sec-Fetch-Site": "same-origin"} if headers is None else headers
        async with self.session.post(self.base + path, data=data, headers=h, allow_redirects=follow) as r:
            return r.status, await r.text()

    async def login(self, name: str, password: str = PASSWORD) -> tuple[int, str]:
        return await self.post("/login", {"usuario": name, "contrasena": password})

    def cookie(self, name: str = "catd_session") -> str | None:
        for c in self.session.cookie_jar:
            if c.key == name:
                return c.value
        return None

    async def close(self) -> None:
        await self.session.close()


def hidden(html: str, name: str) -> str:
    m = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert m, f"no hidden field {name}"
    return m.group(1)


def with_web(datadir: DataDir, **web: Any) -> DataDir:
    """`datadir` with these [web] keys written to its catd.toml (a fresh DataDir re-reads it)."""
    cfg = datadir.config
    datadir.config_path.write_text(config.render(dataclasses.replace(
        cfg, web=dataclasses.replace(cfg.web, **web))), encoding="utf-8")
    return DataDir(datadir.root)


@pytest.fixture(autouse=True)
def cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(passwords, "PARAMS", CHEAP)


@pytest.fixture
def clerks(node_dir: DataDir) -> DataDir:
    for name, role in CLERKS.items():
        users.add_user(node_dir, name, role, PASSWORD)
    return node_dir


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def server(aiohttp_server: Any, clerks: DataDir, clock: FakeClock) -> Any:
    return await aiohttp_server(create_app(clerks, clock=clock))


@pytest.fixture
async def browser(server: Any) -> AsyncIterator[Callable[[], Browser]]:
    opened: list[Browser] = []

    def make() -> Browser:
        b = Browser(str(server.make_url("/")))
        opened.append(b)
        return b

    yield make
    for b in opened:
        await b.close()


@pytest.fixture
async def signed_in(browser: Callable[[], Browser]) -> Callable[[str], Any]:
    async def sign_in(name: str) -> Browser:
        b = browser()
        status, _ = await b.login(name)
        assert status == 200 and b.cookie(), f"{name} could not sign in"
        return b
    return sign_in


CLI = [sys.executable, "-m", "catd_node.cli"]


def start_web(datadir: DataDir, **popen: Any) -> tuple[subprocess.Popen[str], str]:
    """`catd-node web` on 127.0.0.1, a free port; `popen` e.g. preexec_fn for resource limits."""
    proc = subprocess.Popen([*CLI, "web", "-d", str(datadir.root), "--host", "127.0.0.1", "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, **popen)
    assert proc.stdout is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        m = re.search(r"(http://127\.0\.0\.1:\d+)/", line)
        if m:
            return proc, m.group(1)
        if not line and proc.poll() is not None:
            break
    proc.kill()
    raise AssertionError("catd-node web did not print its URL")


__all__ = ["Path"]
