"""Directory descriptors that never follow a link: the building blocks issue 12's fix stands on."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from scanners import nofollow
from scanners.nofollow import Dir, LinkInPath


def test_free_name_never_clobbers_a_file_or_a_link(tmp_path: Path) -> None:
    with Dir.root(tmp_path) as top:
        assert nofollow.free_name(top, "a.jpg") == "a.jpg"
        (tmp_path / "a.jpg").write_bytes(b"1")
        assert nofollow.free_name(top, "a.jpg") == "a.1.jpg"
        os.symlink(tmp_path / "nowhere", tmp_path / "a.1.jpg")  # dangling: still taken
        assert nofollow.free_name(top, "a.jpg") == "a.2.jpg"
        assert nofollow.free_name(top, "sub") == "sub"


def test_child_refuses_a_link_or_a_file_where_a_folder_should_be(tmp_path: Path) -> None:
    (tmp_path / "real" / "deep").mkdir(parents=True)
    os.symlink(tmp_path / "real", tmp_path / "link")
    (tmp_path / "file").write_bytes(b"x")
    with Dir.root(tmp_path) as top:
        with top.child(("real", "deep")) as deep:
            assert deep.path == tmp_path / "real" / "deep"
        for parts in (("link",), ("link", "deep"), ("file",), ("..",), ("a/b",)):
            with pytest.raises(LinkInPath):
                top.child(parts)
    with pytest.raises(LinkInPath):
        Dir.root(tmp_path / "link")
    Dir.root(tmp_path / "link", follow=True).close()  # processed/ may be linked by its owner


def test_make_numbered_steps_around_a_link_and_strict_refuses(tmp_path: Path) -> None:
    outside = tmp_path / "fuera"
    outside.mkdir()
    (tmp_path / "base").mkdir()
    os.symlink(outside, tmp_path / "base" / "sub")
    with Dir.root(tmp_path / "base") as base:
        with base.make(("sub", "x"), numbered=True) as made:
            assert made.path == tmp_path / "base" / "sub.1" / "x"
        with pytest.raises(LinkInPath):
            base.make(("sub",))
    assert list(outside.iterdir()) == []


def test_still_at_tells_a_moved_folder(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    with Dir.root(tmp_path) as top, top.child(("sub",)) as sub:
        assert nofollow.still_at(top, ("sub",), sub)
        (tmp_path / "sub").rename(tmp_path / "moved")
        (tmp_path / "sub").mkdir()
        assert not nofollow.still_at(top, ("sub",), sub)
        (tmp_path / "sub").rmdir()
        os.symlink(tmp_path / "moved", tmp_path / "sub")  # the same folder, through a link
        assert not nofollow.still_at(top, ("sub",), sub)


def test_move_takes_a_link_as_itself(tmp_path: Path) -> None:
    (tmp_path / "target").write_bytes(b"secret")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    os.symlink(tmp_path / "target", tmp_path / "a" / "link")
    with Dir.root(tmp_path / "a") as a, Dir.root(tmp_path / "b") as b:
        nofollow.move(a, "link", b, "link")
    assert (tmp_path / "b" / "link").is_symlink()
    assert (tmp_path / "target").read_bytes() == b"secret"


def test_write_text_replaces_a_link_instead_of_writing_through_it(tmp_path: Path) -> None:
    (tmp_path / "target").write_bytes(b"secret")
    os.symlink(tmp_path / "target", tmp_path / "why.txt")
    with Dir.root(tmp_path) as top:
        nofollow.write_text(top, "why.txt", "motivo")
    assert (tmp_path / "target").read_bytes() == b"secret"
    assert not (tmp_path / "why.txt").is_symlink()
    assert (tmp_path / "why.txt").read_text(encoding="utf-8") == "motivo"


@pytest.fixture
def other_fs(tmp_path: Path) -> Iterator[Path]:
    """A folder on another file system than tmp_path (/dev/shm), for the copy-then-unlink move."""
    shm = Path("/dev/shm")
    if not shm.is_dir() or shm.stat().st_dev == tmp_path.stat().st_dev:
        pytest.skip("no second file system at /dev/shm")
    folder = Path(tempfile.mkdtemp(dir=shm))
    yield folder
    shutil.rmtree(folder)


def test_move_across_file_systems_copies_files_and_links(tmp_path: Path, other_fs: Path) -> None:
    (other_fs / "scan.jpg").write_bytes(b"image bytes")
    os.symlink(tmp_path / "target", other_fs / "link")
    (tmp_path / "target").write_bytes(b"secret")
    with Dir.root(other_fs) as src, Dir.root(tmp_path) as dst:
        nofollow.move(src, "scan.jpg", dst, "scan.jpg")
        nofollow.move(src, "link", dst, "link")
    assert (tmp_path / "scan.jpg").read_bytes() == b"image bytes"
    assert (tmp_path / "link").is_symlink() and (tmp_path / "target").read_bytes() == b"secret"
    assert list(other_fs.iterdir()) == []
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".moving")]
