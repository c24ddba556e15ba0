"""A bad-input corpus through the running service: each file gets its named reason, the service lives.

DESIGN invariant 5. The corpus: zero-byte, truncated, not an image, decompression bomb,
unsupported format, unreadable, symlink out of the folder, a FIFO, non-UTF-8 names, nested
folders, and a 0-byte file that is filled later (taken, not quarantined).
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from PIL import Image

from catd_node.datadir import DataDir
from tests.polling import wait_for
from tests.scanners.conftest import (
    bodies,
    cli,
    configure,
    count,
    drop,
    image_bytes,
    inbox,
)

NAME_BAD = os.fsdecode(b"mala-\xff.jpg")  # not UTF-8
NO_DAC = ("setpriv", "--bounding-set=-dac_override,-dac_read_search", "--")


def _bomb() -> bytes:
    out = io.BytesIO()
    Image.new("1", (8000, 8000), 1).save(out, "PNG")  # 64 MP in a few kB
    return out.getvalue()


def _gif() -> bytes:
    out = io.BytesIO()
    Image.new("P", (100, 100)).save(out, "GIF")
    return out.getvalue()


def _unreadable_prefix() -> tuple[tuple[str, ...], str | None]:
    """As root, chmod 000 does not stop reads: run the service without CAP_DAC_OVERRIDE instead."""
    if os.geteuid() != 0:
        return (), None
    if shutil.which("setpriv") is None:
        return (), "running as root and setpriv is missing: cannot make a file unreadable"
    probe = subprocess.run([*NO_DAC, "true"], capture_output=True)
    if probe.returncode != 0:
        return (), f"setpriv cannot drop CAP_DAC_OVERRIDE here: {probe.stderr.decode()[:200]}"
    return NO_DAC, None


def _quarantined(d: DataDir) -> dict[str, str]:
    return {b["file"]: b["reason"] for b in bodies(d, "scan.quarantined")}


def test_bad_input_corpus_gets_named_reasons_and_service_keeps_running(scan_dir: DataDir, tmp_path: Path,
                                                                       scan_process) -> None:
    d = configure(scan_dir, empty_s=6)
    prefix, no_unreadable = _unreadable_prefix()
    folder = inbox(d)
    outside = tmp_path / "secreto.jpg"
    outside.write_bytes(image_bytes(seed=99))
    proc = scan_process(prefix=prefix)
    wait_for(lambda: "scan_started" in proc.text(), what="service start")

    expected = {
        "vacio.jpg": "empty",
        "cortada.jpg": "truncated",
        "texto.jpg": "not_an_image",
        "bomba.png": "decompression_bomb",
        "animado.gif": "unsupported_format",
        "enlace.jpg": "path_outside_folder",
        "tubo.jpg": "not_a_regular_file",
        "sub/dir/otra/rota.png": "not_an_image",
        NAME_BAD: "not_an_image",
    }
    (folder / "vacio.jpg").write_bytes(b"")
    (folder / "llenado.jpg").write_bytes(b"")  # 0 bytes now, filled below: must be taken
    created = time.monotonic()
    drop(folder / "cortada.jpg", image_bytes("JPEG", size=(1000, 1300), seed=3)[:4000])
    drop(folder / "texto.jpg", b"acta de escrutinio")
    drop(folder / "bomba.png", _bomb())
    drop(folder / "animado.gif", _gif())
    os.symlink(outside, folder / "enlace.jpg")
    os.mkfifo(folder / "tubo.jpg")
    drop(folder / "sub" / "dir" / "otra" / "rota.png", b"\x00" * 100)
    drop(folder / NAME_BAD, b"no image")
    drop(folder / os.fsdecode(b"buena-\xe9.jpg"), image_bytes(seed=21))
    if no_unreadable is None:
        expected["cerrado.jpg"] = "unreadable"
        drop(folder / "cerrado.jpg", image_bytes(seed=22))
        os.chmod(folder / "cerrado.jpg", 0)
    # Filled after several settle periods (the service has seen it empty), long before empty_s.
    wait_for(lambda: time.monotonic() - created > 1.0, what="a second of emptiness")
    drop(tmp_path / "fill.jpg", image_bytes(seed=23))
    with (folder / "llenado.jpg").open("r+b") as out:  # filled in place, well before empty_s
        out.write((tmp_path / "fill.jpg").read_bytes())

    wait_for(lambda: len(_quarantined(d)) == len(expected), timeout=30, what="every bad file quarantined")
    got = _quarantined(d)
    assert got == {_printable(k): v for k, v in expected.items()}
    assert proc.alive()

    wait_for(lambda: count(d, "acta.digitized") == 2, what="the filled file")
    digitized = {b["original"]["name"] for b in bodies(d, "acta.digitized")}
    assert digitized == {"buena-\ufffd.jpg", "llenado.jpg"}

    # Each quarantined file sits beside its reason; the symlink moved, its target did not.
    q = d.quarantine / "scanner-1"
    wait_for(lambda: all((q / n).exists() or (q / n).is_symlink() for n in expected),
             what="every file moved after its packet")  # the move follows the commit
    for name, reason in expected.items():
        why = (q / (name + ".why.txt")).read_text(encoding="utf-8")
        assert f"reason: {reason}\n" in why, name
        assert (q / name).exists() or (q / name).is_symlink(), name
    assert (q / "enlace.jpg").is_symlink() and outside.read_bytes() == image_bytes(seed=99)

    # Still alive and still ingesting.
    drop(folder / "despues.jpg", image_bytes(seed=30))
    wait_for(lambda: count(d, "acta.digitized") == 3, what="a good file after the corpus")
    assert proc.terminate() == 0
    assert cli("verify", "-d", str(d.root)).returncode == 0
    if no_unreadable is not None:
        pytest.skip(f"unreadable case not run: {no_unreadable}")


def _printable(name: str) -> str:
    return os.fsencode(name).decode("utf-8", errors="replace")
