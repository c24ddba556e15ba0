"""Workers die with their parent: a SIGKILLed service leaves no orphans behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

SERVICE = """
import multiprocessing, os, sys
from concurrent.futures import ProcessPoolExecutor
from catd_node.lifecycle import die_with_parent

if __name__ == "__main__":
    use_it = sys.argv[1] == "with"
    pool = ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn"),
                               initializer=die_with_parent if use_it else None)
    pids = {f.result() for f in [pool.submit(os.getpid) for _ in range(8)]}
    print(" ".join(map(str, sorted(pids))), flush=True)
    sys.stdin.read()
"""


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:  # a zombie waiting for its reaper is not alive
            return stat.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


def descendants(pid: int) -> set[int]:
    """Every process below `pid` (Linux /proc children lists)."""
    found: set[int] = set()
    todo = [pid]
    while todo:
        current = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{current}/task")
        except FileNotFoundError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{current}/task/{task}/children") as children:
                    kids = {int(k) for k in children.read().split()}
            except FileNotFoundError:
                continue
            todo.extend(kids - found)
            found |= kids
    return found


def workers_after_sigkill(mode: str) -> list[int]:
    """Start a service with a pool, SIGKILL it, return the processes below it still alive.

    Every descendant counts, not only the workers that ran a task: one still starting up
    when its parent dies must not be orphaned either."""
    service = subprocess.Popen([sys.executable, "-c", SERVICE, mode], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True)
    assert service.stdout is not None
    workers = [int(p) for p in service.stdout.readline().split()]
    assert workers and all(alive(p) for p in workers)
    below = descendants(service.pid)
    assert set(workers) <= below
    service.send_signal(signal.SIGKILL)
    service.wait()
    deadline = time.monotonic() + 5
    while any(alive(p) for p in below) and time.monotonic() < deadline:
        time.sleep(0.05)
    return [p for p in below if alive(p)]


def test_pool_workers_exit_when_the_service_is_sigkilled():
    assert workers_after_sigkill("with") == []


@pytest.mark.slow
def test_without_it_workers_would_be_orphaned():
    """The failure the helper prevents (and proof the test above can fail)."""
    orphans = workers_after_sigkill("without")
    for pid in orphans:
        os.kill(pid, signal.SIGKILL)
    assert orphans, "spawned pool workers exited by themselves; die_with_parent may be unnecessary"


@pytest.mark.slow
def test_a_sigkilled_scan_service_leaves_no_pool_workers(node_dir):
    from PIL import Image

    folder = node_dir.scanner_folders()["scanner-1"]
    Image.new("RGB", (850, 1100), "white").save(folder / "DIP-14-01-0123-B01.jpg")
    scan = subprocess.Popen([sys.executable, "-m", "catd_node.cli", "scan", "-d", str(node_dir.root)],
                            stderr=subprocess.DEVNULL)
    done = node_dir.processed / "scanner-1" / "DIP-14-01-0123-B01.jpg"
    deadline = time.monotonic() + 60
    while not done.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert done.exists(), "the scan service did not ingest the file"
    below = descendants(scan.pid)
    assert below, "the service runs its pipeline in worker processes"
    scan.send_signal(signal.SIGKILL)
    scan.wait()
    deadline = time.monotonic() + 10
    while any(alive(p) for p in below) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [p for p in below if alive(p)], "processes outlived the SIGKILLed scan service"
