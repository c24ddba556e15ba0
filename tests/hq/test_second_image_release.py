"""A node's chain with a second image of an acta and the coordinator's `acta.image_kept`
(issue 22) goes through HQ's receive path, its cut passes both verifiers, and the row rests on
the image the node kept."""

from __future__ import annotations

import zipfile

from hq.release import cut
from tests.hq import countkit as ck
from tests.hq.cutkit import FIRST_CUT, RESULTS, hq_verdict, tool_verdict


def test_a_kept_second_image_is_received_published_and_verified(tmp_path, capsys):
    hq, a, _ = ck.hq_two_catd(tmp_path)
    report = ck.report(a, ck.A1, ck.values(ck.A1, PAN=30, PRI=20))
    kept = report["digitized"].body["image"]["sha256"]
    other = ck.digitize(a, ck.A1, image=b"another photo of the same acta").body["image"]["sha256"]
    ledger = a.ledger()   # the node's own ledger: the body is checked as the web app writes it
    try:
        ledger.append("acta.image_kept", {"acta": ck.A1, "image_sha256": kept, "other_sha256": other,
                                          "by": "coordinadora"})
    finally:
        ledger.close()
    ck.deliver(hq, a)
    conn = hq.connect()
    try:
        kinds = [k for (k,) in conn.execute("SELECT kind FROM packets WHERE node = ? ORDER BY seq",
                                            (ck.NODE_A,))]
    finally:
        conn.close()
    assert kinds[-1] == "acta.image_kept"

    path = cut.publish(hq, at=FIRST_CUT).path
    assert hq_verdict(capsys, str(path)).code == 0
    assert tool_verdict(str(path)).code == 0
    with zipfile.ZipFile(path) as archive:
        text = archive.read(RESULTS).decode("utf-8-sig")
    [row] = [line for line in text.splitlines() if ck.A1 in line]
    assert other.upper() not in row and other not in row
