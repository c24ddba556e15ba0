"""Odd file names (issue 14): a name too long for `NAME.why.txt`, and a newline (or another
control character) in a name, each get a clear quarantine reason; nothing stays in .claimed/,
and neither `.why.txt` nor the service's log gains a line the name wrote."""

from __future__ import annotations

import os
import re
from pathlib import Path

from catd_node.datadir import DataDir
from tests.polling import wait_for
from tests.scanners.conftest import bodies, cli, count, drop, image_bytes, inbox

LONG_248 = "l" * 244 + ".jpg"     # NAME.why.txt would be 256 bytes
LONG_252 = "m" * 248 + ".jpg"     # NAME.jpg.json (its sidecar's name) would be 257 bytes
FORGED = "acta\nreason: empty\n2030-01-01 00:00:00,000 INFO catd.scan ingested file=x.jpg"
ESCAPE = "hoja\x1b[31m\u202eroja.jpg"  # a terminal colour and a right-to-left override
LOG_LINE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z]+ \S+ ")


def _reasons(d: DataDir) -> dict[str, str]:
    return {b["file"]: b["reason"] for b in bodies(d, "scan.quarantined")}


def test_odd_names_are_quarantined_with_their_reason(scan_dir: DataDir, scan_process) -> None:
    proc = scan_process()
    wait_for(lambda: "scan_started" in proc.text(), what="service start")
    folder = inbox(scan_dir)
    for n, name in enumerate((LONG_248, LONG_252, FORGED + ".jpg", ESCAPE)):
        tmp = folder / f".odd-{n}.part"  # a 252-byte name has no room for `.NAME.part`
        tmp.write_bytes(image_bytes(seed=40 + n))
        os.replace(tmp, folder / name)
    drop(folder / "normal.jpg", image_bytes(seed=50))

    # Before: the 248-byte name failed at NAME.why.txt and stayed claimed; the 252-byte one
    # crashed the service (ENAMETOOLONG on its sidecar's name); the others were ingested.
    wait_for(lambda: len(_reasons(scan_dir)) == 4, timeout=60, what="four odd names quarantined",
             tolerate=(AssertionError,))
    assert proc.alive(), proc.text()[-2000:]
    reasons = _reasons(scan_dir)
    assert reasons == {
        LONG_248: "name_too_long", LONG_252: "name_too_long",
        "acta\\nreason: empty\\n2030-01-01 00:00:00,000 INFO catd.scan ingested file=x.jpg.jpg":
            "name_control_chars",
        "hoja\\x1b[31m\\u202eroja.jpg": "name_control_chars",
    }
    wait_for(lambda: count(scan_dir, "acta.digitized") == 1, what="the normal file beside them")
    claims = folder / ".claimed"
    wait_for(lambda: not claims.exists() or not any(claims.iterdir()), what=".claimed/ emptied")

    q = scan_dir.quarantine / "scanner-1"
    wait_for(lambda: len(list(q.glob("*.why.txt"))) == 4, what="four .why.txt")
    for why_path in q.glob("*.why.txt"):
        why = why_path.read_text(encoding="utf-8")
        lines = why.splitlines()
        assert [line.split(":")[0] for line in lines] == [
            "motivo", "reason", "detail", "file", "source", "original_sha256", "at"], why
        assert len(os.fsencode(why_path.name)) <= 255
        kept = why_path.with_name(why_path.name.removesuffix(".why.txt"))
        assert kept.is_file(), kept  # the image itself, beside its reason
    long_why = [p.read_text(encoding="utf-8") for p in q.glob("l*.why.txt")]
    assert len(long_why) == 1 and f"file: {LONG_248}\n" in long_why[0]
    assert "nombre de archivo demasiado largo" in long_why[0]

    assert proc.terminate() == 0
    for line in proc.text().splitlines():  # every line is a log record: none was forged
        assert LOG_LINE.match(line), repr(line)
    assert "\x1b" not in proc.text() and "\u202e" not in proc.text()
    assert cli("verify", "-d", str(scan_dir.root)).returncode == 0


def test_a_long_name_claimed_before_a_restart_leaves_claimed(scan_dir: DataDir) -> None:
    """A claim of a 248-byte name left by an earlier run is quarantined at the next start."""
    folder: Path = inbox(scan_dir)
    token = folder / ".claimed" / "18c0000000000000-0badc0de"
    token.mkdir(parents=True)
    (token / LONG_248).write_bytes(image_bytes(seed=60))
    done = cli("scan", "--once", "-d", str(scan_dir.root))
    assert done.returncode == 0, done.stderr
    assert _reasons(scan_dir) == {LONG_248: "name_too_long"}
    assert not any((folder / ".claimed").iterdir())
