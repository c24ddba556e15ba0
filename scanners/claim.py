"""Claim a finished file before working on it: an atomic rename into `<folder>/.claimed/<token>/`.

Two workers renaming the same file cannot both succeed, so no file is taken twice; whatever is
left in `.claimed/` after a crash is finished or ingested again at the next start (invariant 1).
The token keeps every claim distinct, even when a scanner reuses a file name later.

Every step goes through `nofollow`: a drop folder is writable by the scanners' users, who can
swap any folder on a claim's way — `.claimed/` itself too — for a symlink (issue 12).
"""

from __future__ import annotations

import errno
import logging
import os
import stat as stat_mod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from scanners import names, nofollow
from scanners.nofollow import Dir, LinkInPath

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
    sidecar: str | None = None  # the sidecar's name, beside the claimed file

    @property
    def folder_parts(self) -> tuple[str, ...]:
        """The claimed file's folder below the drop folder's root."""
        return (names.CLAIMED, self.token, *self.relative.parent.parts)

    @property
    def path(self) -> Path:
        """For messages and tests only: the service never opens a claim by its path."""
        return self.root / names.CLAIMED / self.token / self.relative

    @property
    def key(self) -> str:
        """Unique forever: the claim's row in scan_claims."""
        return f"{self.source.kind}:{self.source.id}/{self.token}"

    @property
    def name(self) -> str:
        """The relative name as valid UTF-8, for packets and logs."""
        return names.printable(str(self.relative))

    def folder(self, top: Dir) -> Dir:
        """The claimed file's folder, opened from the drop folder's root without following links."""
        return top.child(self.folder_parts)


def claim(root: Path, path: Path, source: Source) -> Claimed | None:
    """Rename `path` (inside `root`) into `.claimed/`; None when another worker took it first,
    or when a folder on its way is (or just became) a symlink: refused and logged, not followed."""
    claimed = Claimed(root, source, names.new_token(), PurePosixPath(path.relative_to(root).as_posix()))
    try:
        done = _rename_in(claimed)
    except LinkInPath as exc:
        log.warning("refused file=%s why=link_in_path path=%s (a symlink is never followed)",
                    claimed.name, names.printable(str(exc.filename)))
        done = None
    except FileNotFoundError:
        done = None
    if done is None:
        _prune(claimed)
    return done


def _rename_in(claimed: Claimed) -> Claimed | None:
    """The rename itself, relative to descriptors; None when the file is gone or a folder moved."""
    where = claimed.relative.parent.parts
    name = claimed.relative.name
    with Dir.root(claimed.root) as top, top.child(where) as here, _make_claims(top) as claims, \
            claims.make((claimed.token, *where)) as dest:
        # Just before the rename: are both folders still where their paths say? One moved out
        # of the drop folder (a symlink put in its place) is neither renamed from nor into.
        if not (nofollow.still_at(top, where, here) and nofollow.still_at(top, claimed.folder_parts, dest)):
            log.warning("refused file=%s why=folder_moved (a folder on its path changed just before "
                        "the claim)", claimed.name)
            return None
        try:
            os.rename(name, name, src_dir_fd=here.fd, dst_dir_fd=dest.fd)
        except FileNotFoundError:
            return None
        sidecar = _claim_sidecar(here, dest, name)
        here.fsync()
        dest.fsync()
    return Claimed(claimed.root, claimed.source, claimed.token, claimed.relative, sidecar)


def _claim_sidecar(here: Dir, dest: Dir, name: str) -> str | None:
    for candidate in names.sidecar_names(name):
        try:
            st = here.lstat(candidate)
        except OSError as exc:
            if exc.errno != errno.ENAMETOOLONG:  # a 252-byte image name has no sidecar name
                raise
            continue
        if st is None or not stat_mod.S_ISREG(st.st_mode):
            continue
        try:
            os.rename(candidate, candidate, src_dir_fd=here.fd, dst_dir_fd=dest.fd)
        except FileNotFoundError:
            continue
        return candidate
    return None


def _open_claims(top: Dir) -> Dir | None:
    """`.claimed/` when it is a real folder; anything else under that name is moved aside."""
    try:
        return top.child((names.CLAIMED,))
    except FileNotFoundError:
        return None
    except LinkInPath:
        # A symlink a LAN user put there: moved aside (never followed, never deleted: evidence).
        aside = nofollow.free_name(top, f"{names.CLAIMED}.not-a-folder")
        os.rename(names.CLAIMED, aside, src_dir_fd=top.fd, dst_dir_fd=top.fd)
        top.fsync()
        log.warning("claimed_folder_replaced folder=%s moved_to=%s (it was not a real folder)",
                    names.printable(str(top.path)), aside)
        return None


def _make_claims(top: Dir) -> Dir:
    found = _open_claims(top)
    return found if found is not None else top.make((names.CLAIMED,))


def recover(root: Path, source: Source) -> Iterator[Claimed]:
    """Claims left by an earlier run (crash or stop mid-way), oldest token first."""
    found: list[Claimed] = []
    try:
        with Dir.root(root) as top:
            claims = _open_claims(top)
            if claims is None:
                return iter(())
            with claims:
                for entry in claims.listdir():
                    found.extend(_recover_token(top, claims, entry.name, source))
    except (LinkInPath, FileNotFoundError) as exc:
        log.warning("recover_failed folder=%s error=%s", names.printable(str(root)), exc)
    return iter(found)


def _recover_token(top: Dir, claims: Dir, token: str, source: Source) -> list[Claimed]:
    try:
        with claims.child((token,)) as token_dir:
            entries = list(_walk(token_dir, PurePosixPath()))
    except LinkInPath:
        log.warning("claim_skipped folder=%s token=%s why=link_in_path (not followed)",
                    names.printable(str(top.path)), names.printable(token))
        return []
    files = [p for p in entries if not names.is_sidecar(p.name)]
    sidecars = [p for p in entries if names.is_sidecar(p.name)]
    if not files:
        # Only a sidecar (crash between the two renames) or nothing: give it back.
        for stray in sidecars:
            try:
                with claims.child((token, *stray.parent.parts)) as here:
                    _give_back(top, here, stray)
            except LinkInPath:
                continue
        claims.rmtree(token)
        return []
    return [Claimed(top.path, source, token, image,
                    next((s.name for s in sidecars if s.parent == image.parent), None))
            for image in files]


def _walk(directory: Dir, prefix: PurePosixPath) -> Iterator[PurePosixPath]:
    """Everything below `directory`; a symlink is an entry like a file, never entered."""
    for entry in directory.listdir():
        relative = prefix / entry.name
        if entry.is_dir(follow_symlinks=False):
            try:
                with directory.child((entry.name,)) as sub:
                    yield from _walk(sub, relative)
                continue
            except LinkInPath:
                pass  # swapped for a link meanwhile: the link is the entry
        yield relative


def _give_back(top: Dir, here: Dir, relative: PurePosixPath) -> Path:
    """Move `here/<name>` back to `relative` in the drop folder (a free name beside it)."""
    with top.make(relative.parent.parts, numbered=True) as back:
        name = nofollow.free_name(back, relative.name)
        nofollow.move(here, relative.name, back, name)
        return back.path / name


def unclaim(claimed: Claimed) -> Path:
    """Give a file back to its folder (it changed after the claim: still being written)."""
    with Dir.root(claimed.root) as top, claimed.folder(top) as here:
        back = _give_back(top, here, claimed.relative)
        if claimed.sidecar is not None and here.lstat(claimed.sidecar) is not None:
            _give_back(top, here, claimed.relative.with_name(claimed.sidecar))
    _prune(claimed)
    return back


def destination(base: Path, parts: Sequence[str]) -> Dir:
    """`base/parts…` in processed/ or quarantine/, created as needed; a name there taken by
    something that is not a real folder (a quarantined symlink) is never entered (`NAME.1`)."""
    with Dir.root(base, follow=True) as top:
        return top.make(parts, numbered=True)


def release(claimed: Claimed, dest: Dir, name: str) -> Path:
    """Move a finished claim (and its sidecar) to `dest/name`, then drop its token folder."""
    try:
        with Dir.root(claimed.root) as top, claimed.folder(top) as here:
            if here.lstat(claimed.relative.name) is not None:
                nofollow.move(here, claimed.relative.name, dest, name)
            if claimed.sidecar is not None and here.lstat(claimed.sidecar) is not None:
                nofollow.move(here, claimed.sidecar, dest,
                              nofollow.free_name(dest, name + names.SIDECAR_SUFFIX))
    except FileNotFoundError:
        pass  # moved already (finished twice) or removed by hand: its packet is committed
    except LinkInPath as exc:
        log.warning("claim_unreachable file=%s path=%s (a folder became a symlink: not followed; "
                    "its packet is committed)", claimed.name, names.printable(str(exc.filename)))
    _prune(claimed)
    return dest.path / name


def _prune(claimed: Claimed) -> None:
    """Remove the token folder once nothing is left in it."""
    try:
        with Dir.root(claimed.root) as top, top.child((names.CLAIMED,)) as claims:
            _remove_empty(claims, claimed.token)
    except (LinkInPath, FileNotFoundError):
        return


def _remove_empty(parent: Dir, name: str) -> None:
    """rmdir `name` and its empty sub-folders, deepest first; a folder with anything left stays."""
    try:
        with parent.child((name,)) as here:
            for entry in here.listdir():
                if entry.is_dir(follow_symlinks=False):
                    _remove_empty(here, entry.name)
    except (LinkInPath, FileNotFoundError):
        return
    try:
        os.rmdir(name, dir_fd=parent.fd)
    except OSError as exc:
        if exc.errno not in (errno.ENOENT, errno.ENOTEMPTY, errno.EEXIST):
            log.warning("claim folder not removed path=%s error=%s",
                        names.printable(str(parent.path / name)), exc)
