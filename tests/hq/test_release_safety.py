"""A hostile node's text never breaks the release: an image "SHA-256" that is a formula with
the delimiter in it, sent by a node whose key was stolen, reaches the count (the image is
linked to the acta), but the cut's CSV keeps one row per line, every cell in its column, and
no cell a spreadsheet would run; both verifiers still recompute every row."""

from __future__ import annotations

from datetime import datetime

from hq.release import cut
from hq.release import read as release_read
from tests.hq import countkit as ck
from tests.hq.cutkit import RESULTS, hq_verdict, members, tool_verdict

HOSTILE = "=cmd|' /C calc'!A0"
TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def test_a_hostile_image_name_cannot_break_or_arm_the_csv(capsys, tmp_path):
    hq, a, _ = ck.hq_two_catd(tmp_path)
    ck.append(a, "acta.digitized", {
        "image": {"sha256": HOSTILE, "bytes": 1, "format": "webp", "width": 1, "height": 1, "dpi": 200},
        "original": {"sha256": HOSTILE, "bytes": 1, "name": "x.jpg"},
        "source": {"kind": "scanner", "id": "s"}, "acta": ck.A1, "identified_by": "filename"})
    vals = ck.values(ck.A1, PAN=30)
    captured = ck.append(a, "acta.captured", {"acta": ck.A1, "image_sha256": HOSTILE, "values": vals,
                                              "by": "ana", "round": 1})
    ck.verify(a, ck.A1, vals, HOSTILE, captured.seq)
    ck.deliver(hq, a)
    path = cut.publish(hq, at=datetime(2024, 6, 2, 20, 0)).path
    lines = members(path)[RESULTS].decode("utf-8-sig").split("\r\n")[:-1]
    header = lines[4].split("|")
    assert len(lines) == 6, "one row, on one line"
    row = dict(zip(header, lines[5].split("|"), strict=True))
    for name, text in row.items():
        assert name in ("CLAVE_CASILLA", "CLAVE_ACTA") or not text.startswith(TRIGGERS), (name, text)
    assert row["CODIGO_INTEGRIDAD"] == "" and row["PAN"] == "30", "not an image's SHA-256: not printed"
    assert release_read.read(path).rows[0].votes["PAN"] == 30
    ours, theirs = hq_verdict(capsys, str(path)), tool_verdict(str(path))
    assert (ours.code, theirs.code) == (0, 0), (ours.text, theirs.text)
