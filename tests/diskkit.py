"""A small tmpfs mounted for one test and filled on purpose (issue 21: disk full is a state).

We run the suite as root; where `mount` is not permitted the tests that need it are skipped,
saying so."""

from __future__ import annotations

import errno
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


@contextmanager
def small_disk(where: Path, size: str = "16m") -> Iterator[Path]:
    """`where` as a fresh tmpfs of `size`, unmounted afterwards."""
    where.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs (needs root or CAP_SYS_ADMIN): {done.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


def fill(where: Path, name: str = "filler.bin") -> Path:
    """Write `where/name` until the file system has no byte left; returns the filler."""
    path = where / name
    chunk = b"\0" * (64 << 10)
    with path.open("ab", buffering=0) as out:
        for size in (64 << 10, 4096, 512, 1):
            try:
                while True:
                    out.write(chunk[:size])
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
    return path


def free(where: Path) -> int:
    st = os.statvfs(where)
    return st.f_bavail * st.f_frsize


def leftovers(root: Path) -> list[Path]:
    """Half-written files: blob temps, cross-disk copies, state temps."""
    return [p for p in root.rglob("*")
            if p.is_file() and (p.name.startswith(".tmp-") or p.name.endswith((".moving", ".tmp")))]
