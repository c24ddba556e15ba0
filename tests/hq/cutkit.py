"""A published HQ for the release tests, and the tampering a cut may suffer.

`published_hq` builds a real hq.db through HQ's own receive path (tests/hq/countkit.py): two
CATDs reporting every class — counted (with acopio), excede, a sin acta undone and then
reported, a sin acta, an acta of no CATD, one outside the catalog — and one report of another
CATD's acta (a conflict, not counted). `rewrite` copies a cut with members changed and, when
asked, a manifest rebuilt and re-signed (by HQ's key: HQ itself lying; by another: a forger).
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from catd_node.datadir import DataDir
from hq import cli
from hq.release import cut
from hq.store import HQDir
from tests.hq import countkit as ck

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / "tools" / "verify_release.py"
RESULTS = "CDMX_GUB_2024.csv"
FIRST_CUT = datetime(2024, 6, 2, 20, 0)


@dataclass
class Published:
    hq: HQDir
    a: DataDir
    b: DataDir
    zip: Path


def report_everything(hq: HQDir, a: DataDir, b: DataDir, deliver: bool = True) -> None:
    ck.acopio(a, ck.A1, mecanismo_traslado="F")
    ck.report(a, ck.A1, ck.values(ck.A1, PAN=30, PRI=20, MORENA=25))
    ck.report(a, ck.A2, ck.values(ck.A2, MORENA=500))                 # excede
    undone = ck.sin_acta(b, ck.B1)
    ck.sin_acta_undone(b, ck.B1, undone.seq)
    ck.report(b, ck.B1, ck.values(ck.B1, PAN=10))
    ck.sin_acta(b, ck.BS)
    ck.report(a, ck.ANY, ck.values(ck.ANY, PAN=1))                    # no CATD in the catalog
    ck.report(b, ck.OUTSIDE, ck.values(ck.OUTSIDE, PAN=3))            # fuera de catálogo
    ck.report(b, ck.A1, ck.values(ck.A1, PAN=99))                     # A's acta: a conflict
    if deliver:
        ck.deliver(hq, a)
        ck.deliver(hq, b)


def published_hq(tmp: Path) -> Published:
    hq, a, b = ck.hq_two_catd(tmp)
    report_everything(hq, a, b)
    return Published(hq, a, b, cut.publish(hq, at=FIRST_CUT).path)


def members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def rewrite(src: Path, dst: Path, *, replace: dict[str, bytes] | None = None, drop: tuple[str, ...] = (),
            resign: Ed25519PrivateKey | None = None,
            edit: Callable[[dict[str, Any]], None] | None = None) -> Path:
    """A copy of cut `src` at `dst` with members replaced or dropped; with `resign`, the
    manifest's file hashes are brought up to date (and `edit` applied) and it is signed anew."""
    files = members(src)
    files.update(replace or {})
    for name in drop:
        files.pop(name)
    if resign is not None:
        doc = json.loads(files["MANIFEST.json"])
        doc["files"] = {n: hashlib.sha256(files[n]).hexdigest() for n in doc["files"] if n in files}
        if edit is not None:
            edit(doc)
        body = (json.dumps(doc, sort_keys=True, indent=1, ensure_ascii=False) + "\n").encode()
        files["MANIFEST.json"] = body
        files["MANIFEST.json.sig"] = base64.b64encode(resign.sign(body)) + b"\n"
    dst.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return dst


def results_lines(data: bytes) -> list[str]:
    return data.decode("utf-8-sig").split("\r\n")


def join_lines(lines: list[str]) -> bytes:
    return b"\xef\xbb\xbf" + "\r\n".join(lines).encode("utf-8")


def edit_cell(data: bytes, key: str, column: str, value: str) -> bytes:
    """The results CSV with one cell of acta `key`'s row changed."""
    lines = results_lines(data)
    header = lines[4].split("|")
    for i, line in enumerate(lines[5:], 5):
        cells = line.split("|")
        if len(cells) > 1 and cells[1] == f'="{key}"':
            cells[header.index(column)] = value
            lines[i] = "|".join(cells)
            return join_lines(lines)
    raise AssertionError(f"no row for {key}")


def drop_row(data: bytes, key: str) -> bytes:
    return join_lines([line for line in results_lines(data) if f'|="{key}"|' not in line])


def drop_index(data: bytes, key: str) -> bytes:
    mark = f"{key}|".encode()
    return b"".join(line for line in data.splitlines(keepends=True) if not line.startswith(mark))


@dataclass
class Verdict:
    code: int
    subject: str      # what the first fault names: the text before its first ": "
    text: str


def _verdict(code: int, err: str, out: str) -> Verdict:
    line = next((x for x in err.splitlines() if x.startswith("FAIL ")), "")
    return Verdict(code, line[5:].split(": ")[0] if line else "", line or out)


def hq_verdict(capsys: Any, *args: str) -> Verdict:
    """`catd-hq verify-release ARGS` in process."""
    capsys.readouterr()
    code = cli.main(["verify-release", *args])
    got = capsys.readouterr()
    return _verdict(code, got.err, got.out)


def tool_verdict(*args: str) -> Verdict:
    """tools/verify_release.py in an isolated interpreter (-I: no PYTHONPATH, no project on
    the path), from a directory holding nothing of ours: what a party representative runs."""
    run = subprocess.run([sys.executable, "-I", str(TOOL), *args], capture_output=True, text=True,
                         cwd="/", timeout=120)
    return _verdict(run.returncode, run.stderr, run.stdout)
