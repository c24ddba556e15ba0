"""`catd-node run` and a bad configuration: the child that cannot start is held, with its
reason, until catd.toml changes — not restarted every ≤ 30 s forever (issue 14)."""

from __future__ import annotations

import sqlite3
import urllib.request

import pytest

from catd_node import store, supervisor
from catd_node.datadir import DataDir
from catd_node.supervisor import Supervisor
from tests.polling import wait_for
from tests.ports import free_port as _free_port

pytestmark = pytest.mark.slow


def _set_web(node: DataDir, host: str, port: int) -> None:
    text = node.config_path.read_text(encoding="utf-8")
    text = text.replace('host = "0.0.0.0"', f'host = "{host}"').replace("port = 8080", f"port = {port}")
    node.config_path.write_text(text, encoding="utf-8")


def _sync_error(node: DataDir) -> str:
    """sync's recorded state (`status` itself cannot run on an unreadable catd.toml)."""
    conn = store.connect(node.db_path, readonly=True)
    try:
        row = conn.execute("SELECT last_error FROM sync_link WHERE id = 1").fetchone()
    except sqlite3.OperationalError:
        return ""
    finally:
        conn.close()
    return str(row[0]) if row else ""


def _answers(port: int) -> bool:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=2) as answer:
        return bool(answer.status == 200)


def test_a_child_stopped_by_bad_configuration_waits_for_catd_toml_to_change(node_dir: DataDir) -> None:
    _set_web(node_dir, "127.0.0.1", 70000)  # not a TCP port: `catd-node web` exits 2
    sup = Supervisor(node_dir, services=("web", "sync"))
    web, sync = sup.children["web"], sup.children["sync"]
    now = 0.0
    sup.reap(now)  # starts both
    try:
        def web_exited() -> bool:
            sup.reap(now)
            return web.proc is None
        wait_for(web_exited, 60, "web to exit on its bad port")
        assert web.last_exit == 2
        # Any time later it is still not restarted (before: again after 0.5 s, 1 s, … ≤ 30 s, forever).
        for later in (1.0, 31.0, 3600.0):
            sup.reap(now + later)
            assert web.proc is None and web.restarts == 0, "restarted without a configuration change"
        held = supervisor.read_state(node_dir.root)["services"]["web"]["held"]
        assert held is not None and held["what"].endswith("web.port") and "TCP port" in held["why"]

        # sync, meeting the same catd.toml, waits in a named state instead of exiting 2.
        wait_for(lambda: _sync_error(node_dir).startswith("hq_not_configured") and "web.port" in
                 _sync_error(node_dir), 60, "sync to wait, naming the bad field")
        assert sync.proc is not None and sync.proc.poll() is None and sync.restarts == 0

        port = _free_port()
        text = node_dir.config_path.read_text(encoding="utf-8").replace("port = 70000", f"port = {port}")
        node_dir.config_path.write_text(text, encoding="utf-8")
        sup.reap(now + 3601.0)
        assert web.proc is not None and web.restarts == 1 and web.held is None
        wait_for(lambda: _answers(port), 60, "the web app on the corrected port", tolerate=(OSError,))
        # sync re-read it too, and now waits for what a node before HQ lacks: HQ's URL.
        wait_for(lambda: "hq.urls" in _sync_error(node_dir), 60, "sync to re-read catd.toml")
        assert supervisor.read_state(node_dir.root)["services"]["web"]["held"] is None
    finally:
        sup.stop_all()
    assert web.history == [2] and sync.history in ([0], [-15], [])
