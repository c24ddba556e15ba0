"""Disk full at a CATD is a state, not a crash (issues 21, 23): under `catd-node run`, with the
data dir on a small tmpfs filled on purpose, ingest pauses with a clear status, the originals
stay in the drop folder, the web app keeps answering, and everything is ingested exactly once
once space returns — without restarting anything."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from catd_node import config, supervisor
from catd_node.datadir import DataDir
from tests.diskkit import fill, leftovers, small_disk
from tests.e2e.conftest import NODE, hq_cli, hq_status, make_node, node_cli, start_hq, wait_for
from tests.e2e.test_supervisor import drop_scan, hq_holds_head, web_answers

pytestmark = pytest.mark.slow


def node_status(node: DataDir) -> dict[str, Any]:
    done = node_cli("status", "-d", str(node.root), "--json")
    assert done.returncode == 0, done.stderr
    doc: dict[str, Any] = json.loads(done.stdout)
    return doc


def web_status(node: DataDir, port: int) -> dict[str, Any]:
    token = node.status_token_path.read_text().strip()
    req = urllib.request.Request(f"http://127.0.0.1:{port}/status",
                                 headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=5) as answer:
        assert answer.status == 200
        doc: dict[str, Any] = json.loads(answer.read())
        return doc


def digitized_counts(node: DataDir) -> dict[str, int]:
    conn = node.reader()
    try:
        rows = conn.execute("SELECT acta, COUNT(*) FROM packets WHERE kind='acta.digitized' GROUP BY acta")
        return {str(k): int(n) for k, n in rows}
    finally:
        conn.close()


def drop_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix == ".jpg")


def test_node_pauses_on_a_full_disk_and_resumes_by_itself(tmp_path, election_file):
    hq_dir, hq_port, hq = start_hq(tmp_path, election_file)
    with small_disk(tmp_path / "catd", "24m") as disk:
        node, web_port = make_node(tmp_path, election_file, hq_dir, hq_port)
        drop = tmp_path / "drop"  # the scanner writes to another disk: only the data dir fills up
        cfg = config.load(node.config_path)
        node.config_path.write_text(config.render(dataclasses.replace(
            cfg, scan=dataclasses.replace(cfg.scan, folders={"scanner-1": str(drop)}))))
        node = DataDir(node.root)
        run = subprocess.Popen([sys.executable, "-m", "catd_node.cli", "run", "-d", str(node.root)],
                               stderr=subprocess.PIPE, text=True)
        keys = sorted(node.election.actas)[:5]
        try:
            wait_for(lambda: web_answers(web_port), 30, "the web app to answer")
            for n, key in enumerate(keys[:2]):
                drop_scan(node, key, shade=30 + 40 * n)
            wait_for(lambda: len(digitized_counts(node)) == 2, 30, "the first two scans ingested")

            filler = fill(disk)
            for n, key in enumerate(keys[2:]):
                drop_scan(node, key, shade=120 + 40 * n)
            (drop / "basura.jpg").write_bytes(b"not an image at all" * 50)  # a quarantine commit
            full = wait_for(lambda: (d := node_status(node)["disk"])["state"] == "full" and d, 30,
                            "status to say the disk is full")
            assert full["needed_bytes"] > full["free_bytes"]
            assert Path(full["path"]).is_relative_to(disk)
            # The originals wait in the drop folder, not in .claimed/; nothing half-written.
            wait_for(lambda: len(drop_files(drop)) == 4 and node_status(node)["disk"]["claimed_waiting"] == 0,
                     15, "the four originals back in the drop folder")
            assert len(digitized_counts(node)) == 2
            assert leftovers(disk) == []
            # The supervisor and the web app stay up while the disk is full.
            assert run.poll() is None
            assert web_answers(web_port)
            seen = web_status(node, web_port)
            assert seen["disk"]["state"] == "full", seen["disk"]
            # A child dying now: the supervisor cannot rewrite run/services.json, and lives on.
            sync_pid = supervisor.read_state(node.root)["services"]["sync"]["pid"]
            if sync_pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(sync_pid, signal.SIGKILL)
            time.sleep(1.0)
            assert run.poll() is None and web_answers(web_port)

            filler.unlink()  # space returns: no restart, no operator
            wait_for(lambda: len(digitized_counts(node)) == 5, 30,
                     "all five scans ingested once space returned")
            wait_for(lambda: node_status(node)["disk"]["state"] == "ok", 10, "status back to ok")
            assert run.poll() is None and web_answers(web_port)
            wait_for(lambda: supervisor.read_state(node.root)["services"]["sync"]["pid"]
                     not in (None, sync_pid), 20, "sync restarted and run/services.json written again")
        finally:
            run.send_signal(signal.SIGTERM)
            _, err = run.communicate(timeout=30)
            hq.send_signal(signal.SIGTERM)
            hq.wait(timeout=30)
        assert run.returncode == 0, err[-3000:]
        assert digitized_counts(node) == {k: 1 for k in keys}  # each exactly once
        conn = node.reader()
        try:
            quarantined = conn.execute(
                "SELECT COUNT(*) FROM packets WHERE kind='scan.quarantined'").fetchone()[0]
        finally:
            conn.close()
        assert quarantined == 1
        assert "state_unwritable" in err
        assert drop_files(drop) == [] and not (drop / "basura.jpg").exists()
        assert leftovers(disk) == []
        assert "disk_full path=" in err and "needed_bytes=" in err and "disk_ok" in err
        done = node_cli("verify", "-d", str(node.root))
        assert done.returncode == 0, done.stdout + done.stderr


def hq_leftovers(root: Path) -> list[Path]:
    """Half-written files at HQ: upload scratch files, blob temps, cut folders being written."""
    return leftovers(root) + [p for p in root.rglob(".corte-*")]


def test_hq_answers_507_on_a_full_disk_and_the_node_drains_after(tmp_path, election_file):
    with small_disk(tmp_path / "hq", "24m") as disk:
        hq_dir, hq_port, hq = start_hq(tmp_path, election_file)
        node, web_port = make_node(tmp_path, election_file, hq_dir, hq_port)
        run = subprocess.Popen([sys.executable, "-m", "catd_node.cli", "run", "-d", str(node.root)],
                               stderr=subprocess.PIPE, text=True)
        keys = sorted(node.election.actas)[:5]
        try:
            wait_for(lambda: web_answers(web_port), 30, "the web app to answer")
            drop_scan(node, keys[0], shade=30)
            wait_for(lambda: hq_holds_head(node, hq_dir) and node_status(node)["hq"]["lag_blobs"] == 0, 45,
                     "HQ to hold the first scan")

            filler = fill(disk)
            for n, key in enumerate(keys[1:]):
                drop_scan(node, key, shade=80 + 40 * n)
            wait_for(lambda: len(digitized_counts(node)) == 5, 30, "the node to ingest while HQ is full")
            wait_for(lambda: "http_507" in str(node_status(node)["hq"]["last_error"]), 30,
                     "the node to be answered 507")
            report = hq_status(hq_dir)
            assert report["disk"]["state"] == "full", report["disk"]
            assert hq.poll() is None  # HQ did not crash
            lagging = node_status(node)["hq"]
            assert lagging["lag_packets"] > 0 or lagging["lag_blobs"] > 0  # the backlog stays
            assert hq_leftovers(disk) == []

            filler.unlink()  # space returns: the node drains by itself
            wait_for(lambda: hq_holds_head(node, hq_dir) and node_status(node)["hq"]["lag_blobs"] == 0, 45,
                     "the node to drain once HQ has room")
            report = hq_status(hq_dir)
            assert report["disk"]["state"] == "ok", report["disk"]
            assert report["nodes"][NODE]["blobs_missing"] == 0
            assert report["nodes"][NODE]["blobs_stored"] == 5
        finally:
            run.send_signal(signal.SIGTERM)
            _, err = run.communicate(timeout=30)
            hq.send_signal(signal.SIGTERM)
            hq.wait(timeout=30)
        assert run.returncode == 0, err[-3000:]
        assert hq_leftovers(disk) == []
        assert hq_cli("verify", "-d", str(hq_dir)).returncode == 0
        assert node_cli("verify", "-d", str(node.root)).returncode == 0


def test_a_cut_on_a_full_disk_is_exit_5_and_leaves_nothing(tmp_path, election_file):
    """The disk fills while a cut is written (64 KiB left: the store opens, the cut does not
    fit): exit 5 naming the disk, no temp file or cut folder left behind."""
    with small_disk(tmp_path / "hq", "16m") as disk:
        hq_dir = disk / "data"
        assert hq_cli("init", "-d", str(hq_dir), "--election", str(election_file)).returncode == 0
        reserve = disk / "reserve.bin"
        reserve.write_bytes(b"\0" * (64 << 10))
        filler = fill(disk)
        reserve.unlink()
        done = hq_cli("publish", "-d", str(hq_dir), "--at", "2026-06-07T20:00:00-06:00")
        assert done.returncode == 5, done.stderr[-2000:]
        assert "disk full" in done.stderr and str(disk) in done.stderr and "Traceback" not in done.stderr
        assert hq_leftovers(disk) == []
        filler.unlink()


def test_scan_once_on_a_full_disk_exits_5_and_keeps_the_original(tmp_path, election_file):
    with small_disk(tmp_path / "disk", "16m") as disk:
        done = node_cli("init", "-d", str(disk / "catd"), "--node-id", NODE, "--election", str(election_file))
        assert done.returncode == 0, done.stderr
        node = DataDir(disk / "catd")
        drop = tmp_path / "drop"
        cfg = config.load(node.config_path)
        node.config_path.write_text(config.render(dataclasses.replace(
            cfg, scan=dataclasses.replace(cfg.scan, folders={"scanner-1": str(drop)}, settle_ms=200))))
        node = DataDir(node.root)
        drop.mkdir()
        assert node_cli("scan", "--once", "-d", str(node.root)).returncode == 0  # run/disk.json made
        key = sorted(node.election.actas)[0]
        drop_scan(node, key, shade=60)
        filler = fill(disk)
        done = node_cli("scan", "--once", "-d", str(node.root))
        assert done.returncode == 5, done.stderr[-2000:]
        # Paused mid-ingest (disk_full …) or unable to open catd.db at all: exit 5 either way.
        assert "disk_full path=" in done.stderr or "disk full" in done.stderr, done.stderr[-2000:]
        assert drop_files(drop) == [drop / f"{key}.jpg"]
        assert leftovers(disk) == []
        filler.unlink()
        done = node_cli("scan", "--once", "-d", str(node.root))
        assert done.returncode == 0, done.stderr[-2000:]
        assert digitized_counts(node) == {key: 1} and drop_files(drop) == []
