"""Drop-folder names: temporary ones, sidecars, printable names, claim tokens."""

from __future__ import annotations

import os

import pytest

from scanners import names


@pytest.mark.parametrize(("name", "temp"), [
    ("scan1.jpg", False), ("DIP-14-01-0123-B01.png", False), (".scan1.jpg", True),
    (".upload-abc.part", True), ("x.TMP", True), ("x.crdownload", True), ("x~", True),
    ("thumbs.db", True), ("Desktop.ini", True), (".DS_Store", True), ("~lock.jpg", False),
])
def test_is_temp(name: str, temp: bool) -> None:
    assert names.is_temp(name) is temp


def test_sidecars_are_not_candidates() -> None:
    assert not names.is_candidate("scan1.json")
    assert names.sidecar_names("scan1.jpg") == ["scan1.jpg.json", "scan1.json"]


def test_printable_replaces_undecodable_bytes() -> None:
    raw = os.fsdecode(b"acta-\xff\xfe.jpg")
    assert names.printable(raw) == "acta-\ufffd\ufffd.jpg"
    assert names.printable("acción.jpg") == "acción.jpg"
    names.printable(raw).encode("utf-8")  # valid for canonical JSON


@pytest.mark.parametrize(("raw", "safe"), [("scanner-1", "scanner-1"), ("../etc", "_etc"), ("a/b", "a_b"),
                                           ("..", "_"), ("", "_")])
def test_safe_component(raw: str, safe: str) -> None:
    assert names.safe_component(raw) == safe


def test_tokens_are_unique_and_ordered() -> None:
    tokens = [names.new_token() for _ in range(200)]
    assert len(set(tokens)) == 200
