"""Claim a finished file before working on it: an atomic rename into `<folder>/.claimed/<token>/`.

Two workers renaming the same file cannot both succeed, so no file is taken twice; whatever is
left in `.claimed/` after a crash is finished or ingested again at the next start (invariant 1).
The token keeps every claim distinct, even when a scanner reuses a file name later.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from catd_node.blobs import fsync_dir
from scanners import names

log = logging.getLogger("catd.scan")


@dataclass(frozen=True)
class Source:
    """Where a file came from: a scanner folder or a phone's upload folder."""

    kind: str  # "scanner" | "upload"
    id: str

    def body(self) -> dict[str, str]:
        return {"kind": self.kind, "id": self.id}

    def folder(self) -> PurePosixPath:
        """Its sub-folder in processed/ and quarantine/."""
        sid = names.safe_component(self.id)
        return PurePosixPath("uploads", sid) if self.kind == "upload" else PurePosixPath(sid)


@dataclass(frozen=True)
class Claimed:
    """A file renamed into `.claimed/<token>/<relative>` of its drop folder."""

    root: Path
    source: Source
    token: str
    relative: PurePosixPath  # name inside the drop folder (may hold surrogate escapes)
    sidecar: Path | None = None

    @property
    def path(self) -> Path:
        return self.root / names.CLAIMED / self.token / self.relative

    @property
    def key(self) -> str:
        """Unique forever: the claim's row in scan_claims."""
        return f"{self.source.kind}:{self.source.id}/{self.token}"

    @property
    def name(self) -> str:
        """The relative name as valid UTF-8, for packets and logs."""
        return names.printable(str(self.relative))


def claim(root: Path, path: Path, source: Source) -> Claimed | None:
    """Rename `path` (inside `root`) into `.claimed/`; None when another worker took it first."""
    relative = PurePosixPath(path.relative_to(root).as_posix())
    claimed = Claimed(root, source, names.new_token(), relative)
    claimed.path.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.rename(path, claimed.path)
    except FileNotFoundError:
        _prune(claimed)
        return None
    sidecar = _claim_sidecar(path, claimed)
    fsync_dir(path.parent)
    fsync_dir(claimed.path.parent)
    return Claimed(root, source, claimed.token, relative, sidecar)


def _claim_sidecar(original: Path, claimed: Claimed) -> Path | None:
    for candidate in names.sidecars(original):
        if candidate.is_file() and not candidate.is_symlink():
            target = claimed.path.parent / candidate.name
            try:
                os.rename(candidate, target)
            except FileNotFoundError:
                continue
            return target
    return None


def recover(root: Path, source: Source) -> Iterator[Claimed]:
    """Claims left by an earlier run (crash or stop mid-way), oldest token first."""
    base = root / names.CLAIMED
    if not base.is_dir():
        return
    for token_dir in sorted(base.iterdir()):
        if not token_dir.is_dir() or token_dir.is_symlink():
            continue
        files = [p for p in _walk(token_dir) if not names.is_sidecar(p.name)]
        sidecars = [p for p in _walk(token_dir) if names.is_sidecar(p.name)]
        if not files:
            # Only a sidecar (crash between the two renames) or nothing: give it back.
            for stray in sidecars:
                move(stray, names.free_path(root, stray.relative_to(token_dir).as_posix()))
            shutil.rmtree(token_dir, ignore_errors=True)
            continue
        for image in files:
            relative = PurePosixPath(image.relative_to(token_dir).as_posix())
            found = next((s for s in sidecars if s.parent == image.parent), None)
            yield Claimed(root, source, token_dir.name, relative, found)


def _walk(directory: Path) -> Iterator[Path]:
    for entry in sorted(directory.iterdir()):
        if entry.is_dir() and not entry.is_symlink():
            yield from _walk(entry)
        else:
            yield entry


def move(src: Path, dst: Path) -> None:
    """Move a file (or a symlink itself) durably; copy then unlink across file systems."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.rename(src, dst)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        tmp = dst.with_name(f".{dst.name}.moving")
        if src.is_symlink():
            tmp.unlink(missing_ok=True)
            os.symlink(os.readlink(src), tmp)
        else:
            with src.open("rb") as fin, tmp.open("wb") as fout:
                shutil.copyfileobj(fin, fout)
                fout.flush()
                os.fsync(fout.fileno())
        os.rename(tmp, dst)
        fsync_dir(dst.parent)
        src.unlink()
    else:
        fsync_dir(dst.parent)
    fsync_dir(src.parent)


def unclaim(claimed: Claimed) -> Path:
    """Give a file back to its folder (it changed after the claim: still being written)."""
    back = names.free_path(claimed.root, claimed.relative)
    move(claimed.path, back)
    if claimed.sidecar is not None and claimed.sidecar.exists():
        move(claimed.sidecar, names.free_path(back.parent, claimed.sidecar.name))
    _prune(claimed)
    return back


def release(claimed: Claimed, destination: Path) -> Path:
    """Move a finished claim (and its sidecar) to `destination`, then drop its token folder."""
    if claimed.path.exists() or claimed.path.is_symlink():
        move(claimed.path, destination)
    if claimed.sidecar is not None and claimed.sidecar.exists():
        move(claimed.sidecar, names.free_path(destination.parent, destination.name + names.SIDECAR_SUFFIX))
    _prune(claimed)
    return destination


def _prune(claimed: Claimed) -> None:
    """Remove the token folder once nothing is left in it."""
    token_dir = claimed.root / names.CLAIMED / claimed.token
    for directory in sorted((p for p in token_dir.rglob("*") if p.is_dir()), reverse=True):
        try:
            directory.rmdir()
        except OSError:
            pass
    try:
        token_dir.rmdir()
    except OSError as exc:
        if exc.errno not in (errno.ENOENT, errno.ENOTEMPTY):
            log.warning("claim folder not removed path=%s error=%s", token_dir, exc)
