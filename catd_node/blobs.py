"""Content-addressed blob store: a file named by the SHA-256 of its bytes, written durably.

Images are stored once (DESIGN invariant 2); the name is the acta's código de integridad.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Iterable
from pathlib import Path

from catd_node.errors import BadInput

_SHA = re.compile(r"[0-9a-f]{64}")
CHUNK = 1 << 20


def sha256_hex(data: bytes) -> str:
    """Lowercase hex SHA-256 of `data`."""
    return hashlib.sha256(data).hexdigest()


def check_name(sha: str) -> str:
    """Return `sha` if it is 64 lowercase hex digits, else raise BadInput (no path tricks)."""
    if not _SHA.fullmatch(sha):
        raise BadInput(f"blob {sha[:80]!r}", "a blob name is 64 lowercase hex digits")
    return sha


def fsync_dir(path: Path) -> None:
    """Make a rename or creation in directory `path` durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class BlobStore:
    """Blobs under `root/aa/<sha256>`; writes go to a temp file, fsync, rename, fsync dir."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, sha: str) -> Path:
        check_name(sha)
        return self.root / sha[:2] / sha

    def has(self, sha: str) -> bool:
        return self.path(sha).is_file()

    def put(self, data: bytes) -> str:
        """Store `data` durably; return its SHA-256. Storing the same bytes again is a no-op."""
        sha = sha256_hex(data)
        if not self.has(sha):
            self._write(sha, [data])
        return sha

    def put_chunks(self, sha: str, chunks: Iterable[bytes]) -> int:
        """Store streamed bytes under the name they must hash to; return the byte count.

        Raises BadInput (nothing stored) when the bytes do not hash to `sha`.
        """
        return self._write(check_name(sha), chunks)

    def read(self, sha: str) -> bytes:
        return self.path(sha).read_bytes()

    def size(self, sha: str) -> int:
        return self.path(sha).stat().st_size

    def problem(self, sha: str) -> str | None:
        """Why blob `sha` is not sound (missing, wrong bytes), or None."""
        path = self.path(sha)
        if not path.is_file():
            return "missing"
        digest = hashlib.sha256()
        with path.open("rb") as src:
            while chunk := src.read(CHUNK):
                digest.update(chunk)
        if digest.hexdigest() != sha:
            return f"content hashes to {digest.hexdigest()[:12]}…, not to its name"
        return None

    def _write(self, sha: str, chunks: Iterable[bytes]) -> int:
        target = self.path(sha)
        target.parent.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        size = 0
        fd, tmp_name = tempfile.mkstemp(prefix=".tmp-", dir=target.parent)
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out:
                for chunk in chunks:
                    digest.update(chunk)
                    size += len(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            if digest.hexdigest() != sha:
                raise BadInput(f"blob {sha}", f"bytes hash to {digest.hexdigest()}, not to the name")
            os.replace(tmp, target)
            fsync_dir(target.parent)
        finally:
            tmp.unlink(missing_ok=True)
        return size
