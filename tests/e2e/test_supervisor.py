"""`catd-node run`: each child killed with SIGKILL comes back while the others keep serving."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from PIL import Image

from catd_node import ledger, supervisor
from catd_node.datadir import DataDir
from tests.e2e.conftest import NODE, hq_cli, hq_status, make_node, node_cli, start_hq, wait_for

pytestmark = pytest.mark.slow


def drop_scan(node: DataDir, key: str, shade: int) -> None:
    """A scanner writes an acta image under a temp name, then renames it into the folder."""
    folder = node.scanner_folders()["scanner-1"]
    tmp = folder / f".{key}.part"
    Image.new("RGB", (850, 1100), (shade, 240, 230)).save(tmp, "JPEG", dpi=(100, 100))
    os.replace(tmp, folder / f"{key}.jpg")


def digitized(node: DataDir, key: str) -> bool:
    conn = node.reader()
    try:
        return (
            conn.execute("SELECT 1 FROM packets WHERE kind='acta.digitized' AND acta=?", (key,)).fetchone()
            is not None
        )
    finally:
        conn.close()


def web_answers(port: int) -> bool:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=2) as answer:
        return bool(answer.status == 200)


def hq_holds_head(node: DataDir, hq_dir: Path) -> bool:
    conn = node.reader()
    try:
        local = ledger.head(conn)
    finally:
        conn.close()
    held = hq_status(hq_dir)["nodes"].get(NODE, {})
    return bool(held.get("seq") == local.seq and held.get("hash") == local.hash)


def test_each_service_is_restarted_and_the_others_keep_serving(tmp_path, election_file):
    hq_dir, hq_port, hq = start_hq(tmp_path, election_file)
    node, web_port = make_node(tmp_path, election_file, hq_dir, hq_port)
    run = subprocess.Popen([sys.executable, "-m", "catd_node.cli", "run", "-d", str(node.root)])
    keys = iter(sorted(node.election.actas))
    try:

        def pids() -> dict[str, int | None]:
            return {name: s["pid"] for name, s in supervisor.read_state(node.root)["services"].items()}

        wait_for(lambda: all(pids().values()), 20, "all three services started")
        wait_for(lambda: web_answers(web_port), 30, "the web app to answer")
        for n, victim in enumerate(("scan", "web", "sync")):
            old = pids()[victim]
            assert old is not None
            os.kill(old, signal.SIGKILL)
            key = next(keys)
            drop_scan(node, key, shade=40 + 60 * n)
            # The others keep working: the web answers, the scan is ingested, HQ gets it all.
            if victim != "web":
                assert web_answers(web_port)
            wait_for(lambda k=key: digitized(node, k), 30, f"{key} ingested after killing {victim}")
            wait_for(lambda: hq_holds_head(node, hq_dir), 45, f"HQ to hold the head after killing {victim}")
            # …and the killed one came back as a new process.
            wait_for(lambda v=victim, o=old: pids()[v] not in (None, o), 20, f"{victim} restarted")
            state = supervisor.read_state(node.root)["services"][victim]
            assert state["restarts"] >= 1 and state["last_exit"] == -signal.SIGKILL
            wait_for(lambda: web_answers(web_port), 30, "the web app to answer again")
        final = pids()
    finally:
        run.send_signal(signal.SIGTERM)
        rc = run.wait(timeout=30)
        hq.send_signal(signal.SIGTERM)
        hq.wait(timeout=30)
    assert rc == 0
    for pid in final.values():  # SIGTERM stopped every child
        assert pid is not None
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert node_cli("verify", "-d", str(node.root)).returncode == 0
    assert hq_cli("verify", "-d", str(hq_dir)).returncode == 0
