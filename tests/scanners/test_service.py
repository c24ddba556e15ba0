"""`catd-node scan` as a real process: watch, settle, claim, ingest, stop cleanly."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

from catd_node.datadir import DataDir
from scanners import service
from tests.polling import wait_for
from tests.scanners.conftest import (
    KEYS,
    bodies,
    cli,
    configure,
    count,
    drop,
    image_bytes,
    inbox,
)


def test_running_service_ingests_renamed_nested_and_uploaded_files(scan_dir: DataDir, scan_process) -> None:
    proc = scan_process()
    wait_for(lambda: "scan_started" in proc.text(), what="service start")
    drop(inbox(scan_dir) / f"{KEYS[0]}.jpg", image_bytes(seed=1))
    drop(inbox(scan_dir) / "lote-3" / "hoja1.png", image_bytes("PNG", seed=2))
    device = scan_dir.inbox / "uploads" / "telefono-7"
    drop(device / "foto.jpg", image_bytes(seed=3))  # device folder created while running
    wait_for(lambda: count(scan_dir, "acta.digitized") == 3, what="three packets")
    by_name = {b["original"]["name"]: b for b in bodies(scan_dir, "acta.digitized")}
    assert by_name[f"{KEYS[0]}.jpg"]["acta"] == KEYS[0]
    assert by_name["lote-3/hoja1.png"]["source"] == {"kind": "scanner", "id": "scanner-1"}
    assert by_name["foto.jpg"]["source"] == {"kind": "upload", "id": "telefono-7"}
    wait_for(lambda: (scan_dir.processed / "uploads" / "telefono-7" / "foto.jpg").exists()
             and (scan_dir.processed / "scanner-1" / "lote-3" / "hoja1.png").exists(),
             what="originals moved after their packets")
    assert proc.alive()
    assert proc.terminate() == 0
    log = proc.text()
    assert f"ingested file={KEYS[0]}.jpg page=1 acta={KEYS[0]}" in log and "scan_stopped digitized=3" in log


def test_slow_writer_is_not_taken_half_written(scan_dir: DataDir, scan_process) -> None:
    configure(scan_dir, settle_ms=800)  # pauses of 100 ms stay well below it on a loaded machine
    proc = scan_process()
    wait_for(lambda: "scan_started" in proc.text(), what="service start")
    data = image_bytes("PNG", size=(1200, 1600), seed=5)
    target = inbox(scan_dir) / "lento.png"
    step = len(data) // 8 + 1
    with target.open("wb") as out:  # written in place, in pieces, with pauses shorter than settle
        for i in range(0, len(data), step):
            out.write(data[i:i + step])
            out.flush()
            deadline = time.monotonic() + 0.1
            wait_for(lambda d=deadline: time.monotonic() >= d, what="writer pause")
            assert count(scan_dir, "acta.digitized") == 0 and count(scan_dir, "scan.quarantined") == 0
    wait_for(lambda: count(scan_dir, "acta.digitized") == 1, what="packet after the writer finished")
    [body] = bodies(scan_dir, "acta.digitized")
    assert body["original"]["bytes"] == len(data)
    assert proc.terminate() == 0


def test_once_takes_what_is_finished_and_leaves_temp_names(scan_dir: DataDir) -> None:
    drop(inbox(scan_dir) / "a.jpg", image_bytes(seed=1))
    drop(inbox(scan_dir) / "b.jpg", image_bytes(seed=2))
    (inbox(scan_dir) / ".c.jpg.part").write_bytes(image_bytes(seed=3))
    result = cli("scan", "--once", "-d", str(scan_dir.root))
    assert result.returncode == 0, result.stderr
    assert count(scan_dir, "acta.digitized") == 2
    assert (inbox(scan_dir) / ".c.jpg.part").exists()
    assert sorted(p.name for p in (scan_dir.processed / "scanner-1").iterdir()) == ["a.jpg", "b.jpg"]
    assert cli("verify", "-d", str(scan_dir.root)).returncode == 0


def test_second_service_on_same_data_dir_is_refused(scan_dir: DataDir, scan_process) -> None:
    proc = scan_process()
    wait_for(lambda: "scan_started" in proc.text(), what="service start")
    second = cli("scan", "--once", "-d", str(scan_dir.root))
    assert second.returncode == 2 and "another `catd-node scan` is running" in second.stderr
    assert proc.terminate() == 0


def test_sweep_finds_files_the_watcher_missed(scan_dir: DataDir, tmp_path: Path) -> None:
    """Events are hints: with the observer replaced by one that sees nothing, the rescan still ingests."""
    d = configure(scan_dir, rescan_s=1)
    svc = service.Service(d)

    class Deaf(service.Watcher):
        def start(self) -> None:
            self.observer = None

        def alive(self) -> bool:
            return True

    original = service.Watcher
    service.Watcher = Deaf  # type: ignore[misc]
    try:
        runner = threading.Thread(target=svc.run)
        runner.start()
        try:
            drop(inbox(d) / "perdido.jpg", image_bytes(seed=8))
            wait_for(lambda: count(d, "acta.digitized") == 1, what="ingest by rescan")
        finally:
            svc.stop()
            runner.join(timeout=30)
    finally:
        service.Watcher = original  # type: ignore[misc]
    assert not runner.is_alive()


def test_sigint_stops_the_service(scan_dir: DataDir, scan_process) -> None:
    proc = scan_process()
    wait_for(lambda: "scan_started" in proc.text(), what="service start")
    os.kill(proc.proc.pid, signal.SIGINT)
    assert proc.proc.wait(timeout=30) == 0
