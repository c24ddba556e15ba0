"""A node initialised before HQ exists: sync waits in a visible "HQ not configured" state and
picks the configuration up when catd.toml changes — no exit, no restart loop (issue 14)."""

from __future__ import annotations

import dataclasses
import json
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from catd_node import config, datadir
from catd_node.datadir import DataDir
from hq import store as hq_store
from tests.hqkit import ELECTION, NODE_ID, ROOT
from tests.polling import wait_for

from .replay_helpers import add_chain, assert_hq_holds_exactly
from .test_faults import _env


def _status(node: DataDir) -> dict:
    done = subprocess.run([sys.executable, "-m", "catd_node.cli", "status", "--json", "-d", str(node.root)],
                          capture_output=True, text=True, env=_env(), cwd=ROOT, timeout=60)
    assert done.returncode == 0, done.stderr
    doc: dict = json.loads(done.stdout)
    return doc


@pytest.fixture
def bare_node(tmp_path: Path, hq_dir) -> DataDir:
    """`catd-node init` with neither --hq-url nor --hq-pubkey (HQ does not exist yet)."""
    node = datadir.init(tmp_path / "catd", NODE_ID, ELECTION)
    conn = hq_dir.connect()
    try:
        hq_store.add_node(conn, NODE_ID, node.pub_path.read_bytes())
    finally:
        conn.close()
    return node


def test_status_names_what_hq_configuration_lacks(bare_node: DataDir, hq_dir) -> None:
    hq = _status(bare_node)["hq"]
    assert hq["configured"] is False and hq["problem"].startswith("catd.toml: hq.urls"), hq
    cfg = bare_node.config
    bare_node.config_path.write_text(config.render(dataclasses.replace(
        cfg, hq=dataclasses.replace(cfg.hq, urls=("http://127.0.0.1:9",)))), encoding="utf-8")
    hq = _status(bare_node)["hq"]
    assert hq["configured"] is False and hq["problem"].startswith("catd.toml: hq.pubkey"), hq


@pytest.mark.slow
def test_sync_waits_unconfigured_then_delivers_when_catd_toml_changes(bare_node: DataDir, hq_dir,
                                                                       hq_process, tmp_path: Path) -> None:
    add_chain(bare_node, images=2)
    log_path = tmp_path / "sync.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "catd_node.cli", "sync", "-d", str(bare_node.root)],
                                stdout=log, stderr=subprocess.STDOUT, env=_env(), cwd=ROOT)
    try:
        def waiting() -> bool:
            # Before: sync exited 2 at once ("no HQ URL configured") and the supervisor
            # restarted it every ≤ 30 s forever.
            assert proc.poll() is None, f"sync exited {proc.returncode}: {log_path.read_text()[-1500:]}"
            hq = _status(bare_node)["hq"]
            return hq.get("configured") is False and str(hq["last_error"]).startswith("hq_not_configured")

        wait_for(waiting, 30, "sync to wait in the hq_not_configured state")
        assert "state=hq_not_configured" in log_path.read_text()

        # HQ now exists: its URL and key are written into catd.toml; no restart.
        shutil.copyfile(hq_dir.pub_path, bare_node.root / "hq.pub")
        cfg = bare_node.config
        bare_node.config_path.write_text(config.render(dataclasses.replace(
            cfg, hq=config.HQConfig(urls=(hq_process.url,), pubkey="hq.pub"))), encoding="utf-8")
        node = DataDir(bare_node.root)

        def delivered() -> bool:
            assert proc.poll() is None, f"sync exited {proc.returncode}: {log_path.read_text()[-1500:]}"
            hq = _status(node)["hq"]
            return bool(hq["configured"] and hq["lag_packets"] == 0 and hq["lag_blobs"] == 0)

        wait_for(delivered, 60, "sync to deliver the chain once catd.toml names HQ")
        assert_hq_holds_exactly(hq_dir, node)
        assert _status(node)["hq"]["last_error"] is None
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=20)
    assert code == 0, log_path.read_text()[-1500:]
