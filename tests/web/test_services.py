"""The dashboard and /status show the services as `catd-node run` supervises them."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from catd_node import config
from catd_node.supervisor import Supervisor
from tests.ports import free_port as _free_port
from tests.web.conftest import CLI


@pytest.fixture
def idle_child() -> Iterator[subprocess.Popen[bytes]]:
    """A real live process to stand for a running service (it waits on its stdin)."""
    proc = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    yield proc
    assert proc.stdin is not None
    proc.stdin.close()
    proc.wait(timeout=10)


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait(timeout=30)
    return proc.pid


async def test_without_the_supervisor_the_dashboard_says_so(clerks, signed_in):
    coco = await signed_in("coco")
    async with coco.session.get(f"{coco.base}/status") as r:
        doc = await r.json()
    assert doc["services"] == {"supervisor": "sin supervisor", "supervisor_pid": None, "by_service": {}}
    status, page = await coco.get("/tablero")
    assert status == 200
    assert "Servicios: escaneo, web, sincronización — reinicios" in page
    assert "sin supervisor" in page and "catd-node run" in page
    status, metrics = await coco.get("/metrics")
    assert status == 200 and "catd_service_restarts" not in metrics


async def test_supervised_services_with_restarts_and_exits(clerks, signed_in, idle_child):
    supervisor = Supervisor(clerks)  # its own writer: the file format is the supervisor's
    scan, web, sync = (supervisor.children[n] for n in ("scan", "web", "sync"))
    scan.proc, scan.restarts, scan.last_exit = idle_child, 2, 1  # type: ignore[assignment]
    web.proc = idle_child  # type: ignore[assignment]
    sync.restarts, sync.last_exit = 3, -9  # died, waiting for its restart
    supervisor.write_state()

    coco = await signed_in("coco")
    async with coco.session.get(f"{coco.base}/status") as r:
        doc = (await r.json())["services"]
    assert doc["supervisor"] == "en marcha" and doc["supervisor_pid"] == os.getpid()
    pid = idle_child.pid
    assert doc["by_service"] == {
        "scan": {"label": "escaneo", "state": "en marcha", "pid": pid, "restarts": 2, "last_exit": 1,
                 "held": None},
        "web": {"label": "web", "state": "en marcha", "pid": pid, "restarts": 0, "last_exit": None,
                "held": None},
        "sync": {"label": "sincronización", "state": "reiniciando", "pid": None, "restarts": 3,
                 "last_exit": -9, "held": None},
    }
    status, page = await coco.get("/tablero")
    assert status == 200
    assert "Servicios: escaneo, web, sincronización — reinicios" in page
    assert "sin supervisor" not in page
    sync_row = page[page.index('class="service-sync"'):]
    sync_row = sync_row[:sync_row.index("</tr>")]
    assert "sincronización" in sync_row and "reiniciando" in sync_row
    assert ">3<" in sync_row and "-9" in sync_row
    status, metrics = await coco.get("/metrics")
    assert 'catd_service_restarts{service="sync"} 3' in metrics
    assert 'catd_service_up{service="scan"} 1' in metrics and 'catd_service_up{service="sync"} 0' in metrics


async def test_a_dead_supervisor_leaves_its_services_shown_as_stopped(clerks, signed_in):
    state = clerks.root / "run" / "services.json"
    state.parent.mkdir(exist_ok=True)
    gone = dead_pid()
    state.write_text(json.dumps({"supervisor_pid": gone, "stopping": False, "services": {
        "scan": {"pid": gone, "restarts": 1, "last_exit": 0},
        "web": {"pid": None, "restarts": 0, "last_exit": None}}}), encoding="utf-8")
    coco = await signed_in("coco")
    async with coco.session.get(f"{coco.base}/status") as r:
        doc = (await r.json())["services"]
    assert doc["supervisor"] == "detenido"
    assert {n: s["state"] for n, s in doc["by_service"].items()} == {"scan": "detenido", "web": "detenido"}
    state.write_text("{no es json", encoding="utf-8")
    async with coco.session.get(f"{coco.base}/status") as r:
        assert (await r.json())["services"]["supervisor"].startswith("estado ilegible")


async def _services(url: str, token: str) -> dict[str, Any] | None:
    try:
        async with aiohttp.ClientSession() as s, s.get(f"{url}/status",
                                                       headers={"Authorization": f"Bearer {token}"}) as r:
            return dict((await r.json())["services"]) if r.status == 200 else None
    except aiohttp.ClientError:
        return None  # the web service is (re)starting


async def _poll(url: str, token_file: Path, ok: Callable[[dict[str, Any]], bool], what: str,
                timeout: float = 60) -> dict[str, Any]:
    doc = None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        # the web service writes the monitoring token when it starts
        doc = await _services(url, token_file.read_text().strip()) if token_file.exists() else None
        if doc is not None and ok(doc):
            return doc
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}; last /status services: {doc}")


@pytest.mark.slow
async def test_a_real_catd_node_run_reports_the_web_service_and_its_own_restart(node_dir):
    port = _free_port()
    cfg = config.load(node_dir.config_path)
    node_dir.config_path.write_text(config.render(dataclasses.replace(
        cfg, web=dataclasses.replace(cfg.web, host="127.0.0.1", port=port))))
    url = f"http://127.0.0.1:{port}"
    run = subprocess.Popen([*CLI, "run", "-d", str(node_dir.root)], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    try:
        doc = await _poll(url, node_dir.status_token_path, lambda d: d["supervisor"] == "en marcha"
                          and d["by_service"].get("web", {}).get("state") == "en marcha", "the web service")
        assert doc["supervisor_pid"] == run.pid and set(doc["by_service"]) == {"scan", "web", "sync"}
        web_pid = doc["by_service"]["web"]["pid"]
        assert web_pid not in (None, run.pid) and doc["by_service"]["web"]["restarts"] == 0
        os.kill(web_pid, signal.SIGKILL)  # the process answering this very dashboard
        doc = await _poll(url, node_dir.status_token_path, lambda d: d["by_service"]["web"]["restarts"] == 1
                          and d["by_service"]["web"]["state"] == "en marcha", "the web service to come back")
        assert doc["by_service"]["web"]["last_exit"] == -signal.SIGKILL
        assert doc["by_service"]["web"]["pid"] != web_pid
    finally:
        run.send_signal(signal.SIGTERM)
        try:
            run.wait(timeout=30)
        except subprocess.TimeoutExpired:
            run.kill()
            run.wait()
    assert run.returncode == 0
