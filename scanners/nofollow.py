"""Paths under a drop folder, processed/ or quarantine/, opened one component at a time, never
through a symlink.

Whoever can write to a drop folder can swap any sub-folder (or `.claimed/`) for a symlink at any
moment, and a path string handed to the kernel follows it: the service would then read, rename
or write files anywhere it can (issue 12: it renamed the node's own `node.key`). So every
operation starts from a directory descriptor and names one entry inside it; each folder on the
way is opened with O_NOFOLLOW, and a link where a folder should be is refused (`LinkInPath`),
never followed — bad input named, the service goes on (DESIGN invariant 5).
"""

from __future__ import annotations

import errno
import os
import shutil
import stat as stat_mod
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC  # never blocks on a FIFO
MAX_NUMBERED = 10_000


class LinkInPath(OSError):
    """A symlink (or a file) where a folder was expected: refused, not followed."""


class Dir:
    """An open directory descriptor and the path it was reached by (for messages and results)."""

    def __init__(self, fd: int, path: Path) -> None:
        self.fd = fd
        self.path = path

    @classmethod
    def root(cls, path: Path, *, follow: bool = False) -> Dir:
        """A configured folder. A drop folder must be a real directory itself (`follow=False`);
        processed/ and quarantine/ belong to the data dir's owner, who may link them elsewhere."""
        flags = DIR_FLAGS & ~os.O_NOFOLLOW if follow else DIR_FLAGS
        try:
            return cls(os.open(path, flags), path)
        except OSError as exc:
            _refuse(exc, str(path))
            raise

    def __enter__(self) -> Dir:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def child(self, parts: Sequence[str]) -> Dir:
        """The folder `parts` below this one, each component opened without following a link."""
        fd = os.dup(self.fd)
        path = self.path
        try:
            for part in parts:
                _check_component(part)
                path = path / part
                try:
                    nxt = os.open(part, DIR_FLAGS, dir_fd=fd)
                except OSError as exc:
                    _refuse(exc, str(path))
                    raise
                os.close(fd)
                fd = nxt
        except BaseException:
            os.close(fd)
            raise
        return Dir(fd, path)

    def make(self, parts: Sequence[str], *, numbered: bool = False) -> Dir:
        """`parts` below this folder, created as needed. With `numbered`, a component taken by
        something that is not a real folder (a quarantined symlink, a file) is left alone and
        `NAME.1`, `NAME.2`… is used instead; without it that raises LinkInPath."""
        here = self.child(())
        try:
            for part in parts:
                nxt = here._make_one(part, numbered)
                here.close()
                here = nxt
        except BaseException:
            here.close()
            raise
        return here

    def _make_one(self, name: str, numbered: bool) -> Dir:
        _check_component(name)
        for n in range(MAX_NUMBERED):
            candidate = name if n == 0 else f"{name}.{n}"
            try:
                os.mkdir(candidate, dir_fd=self.fd)
            except FileExistsError:
                pass
            try:
                return self.child((candidate,))
            except LinkInPath:
                if not numbered:
                    raise
        raise FileExistsError(errno.EEXIST, "no free folder name", str(self.path / name))

    def lstat(self, name: str) -> os.stat_result | None:
        """The entry itself (a symlink is reported, not followed), or None when it is gone."""
        _check_component(name)
        try:
            return os.stat(name, dir_fd=self.fd, follow_symlinks=False)
        except FileNotFoundError:
            return None

    def identity(self) -> tuple[int, int]:
        st = os.fstat(self.fd)
        return st.st_dev, st.st_ino

    def open_file(self, name: str) -> int:
        """A read descriptor on a file in this folder; ELOOP when it is a symlink."""
        _check_component(name)
        return os.open(name, FILE_FLAGS, dir_fd=self.fd)

    def listdir(self) -> list[os.DirEntry[str]]:
        with os.scandir(self.fd) as entries:
            return sorted(entries, key=lambda e: e.name)

    def rmtree(self, name: str) -> None:
        """Remove a sub-folder and what is in it; symlinks inside are removed, never followed."""
        shutil.rmtree(name, dir_fd=self.fd, ignore_errors=True)

    def fsync(self) -> None:
        os.fsync(self.fd)


def still_at(top: Dir, parts: Sequence[str], held: Dir) -> bool:
    """Is `held` still the folder reached by `parts` from `top`? Checked just before a rename:
    a folder moved out of the drop folder (and a link put in its place) is not renamed from."""
    try:
        with top.child(parts) as now:
            return now.identity() == held.identity()
    except (LinkInPath, FileNotFoundError):
        return False


def free_name(folder: Dir, name: str) -> str:
    """`name`, or `stem.N.ext` when taken (by anything, a symlink too): never clobbers evidence."""
    stem, dot, ext = name.rpartition(".")
    if not stem:
        stem, dot, ext = name, "", ""
    for n in range(MAX_NUMBERED):
        candidate = name if n == 0 else f"{stem}.{n}{dot}{ext}"
        if folder.lstat(candidate) is None:
            return candidate
    raise FileExistsError(errno.EEXIST, "no free name", str(folder.path / name))


def move(src: Dir, src_name: str, dst: Dir, dst_name: str) -> None:
    """Move an entry (a file, or a symlink itself) durably; copy then unlink across file systems."""
    _check_component(src_name)
    _check_component(dst_name)
    try:
        os.rename(src_name, dst_name, src_dir_fd=src.fd, dst_dir_fd=dst.fd)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        _copy(src, src_name, dst, dst_name)
        os.unlink(src_name, dir_fd=src.fd)
    dst.fsync()
    src.fsync()


def _copy(src: Dir, src_name: str, dst: Dir, dst_name: str) -> None:
    """`src/src_name` as `dst/dst_name` through a temporary name; links copied as links."""
    tmp = f".{dst_name}.moving"
    try:
        os.unlink(tmp, dir_fd=dst.fd)
    except FileNotFoundError:
        pass
    st = os.stat(src_name, dir_fd=src.fd, follow_symlinks=False)
    if stat_mod.S_ISLNK(st.st_mode):
        os.symlink(os.readlink(src_name, dir_fd=src.fd), tmp, dir_fd=dst.fd)
    else:
        out = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666,
                      dir_fd=dst.fd)
        try:
            # A FIFO or a device becomes an empty file: its why.txt says what it was.
            if stat_mod.S_ISREG(st.st_mode):
                fin = src.open_file(src_name)
                try:
                    while chunk := os.read(fin, 1 << 20):
                        os.write(out, chunk)
                finally:
                    os.close(fin)
            os.fsync(out)
        except BaseException:
            _unlink_quietly(tmp, dst)  # a full disk leaves no half-copied file behind
            raise
        finally:
            os.close(out)
    os.rename(tmp, dst_name, src_dir_fd=dst.fd, dst_dir_fd=dst.fd)


def _unlink_quietly(name: str, folder: Dir) -> None:
    try:
        os.unlink(name, dir_fd=folder.fd)
    except OSError:
        pass


def write_text(folder: Dir, name: str, text: str) -> None:
    """Write `folder/name` durably through a temporary name (replacing it; a link is replaced,
    never written through)."""
    _check_component(name)
    tmp = f".{name}.tmp"
    try:
        os.unlink(tmp, dir_fd=folder.fd)
    except FileNotFoundError:
        pass
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666,
                 dir_fd=folder.fd)
    try:
        data = text.encode("utf-8")
        while data:
            data = data[os.write(fd, data):]
        os.fsync(fd)
    except BaseException:
        _unlink_quietly(tmp, folder)
        raise
    finally:
        os.close(fd)
    os.rename(tmp, name, src_dir_fd=folder.fd, dst_dir_fd=folder.fd)
    folder.fsync()


def _check_component(name: str) -> None:
    if not name or name in (".", "..") or "/" in name or "\0" in name:
        raise LinkInPath(errno.EINVAL, "not a single path component", name)


def _refuse(exc: OSError, where: str) -> None:
    """ELOOP (a symlink under O_NOFOLLOW) and ENOTDIR (a file) become LinkInPath; others pass."""
    if exc.errno in (errno.ELOOP, errno.ENOTDIR):
        raise LinkInPath(exc.errno, "symlink or file where a folder was expected: not followed",
                         where) from exc
