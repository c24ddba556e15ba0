"""Capture centres (CCV) per district: the catalog's `ccv`, the count's rule (the first report
of the acta's CATD and its district's CCV counts, the other is a conflict), the node's check
of a photo pulled as CCV, and both release verifiers on a photo recorded by a node that is
not the district's CCV or signed by a key the CATD's chain never enrolled."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from catd_node import catalog
from catd_node.errors import BadInput
from hq import count as hq_count
from hq import store as hq_store
from hq.casilla import phone
from hq.release import cut
from sync import casilla
from tests.casilla.casillakit import NODE_A, NODE_B, TWO_CATD, acta_photo, enrol
from tests.casilla.test_ccv_e2e import CCV, ccv_election
from tests.hq import countkit as ck
from tests.hq.cutkit import FIRST_CUT, hq_verdict, tool_verdict
from tests.hqkit import make_node


def _with(ccv: object) -> dict[str, object]:
    data = json.loads(TWO_CATD.read_text(encoding="utf-8"))
    data["ccv"] = ccv
    return data


def test_the_catalog_names_a_capture_centre_per_district() -> None:
    election = catalog.parse(_with({"1": CCV}), "e.json")
    of_1 = [k for k, s in election.actas.items() if s.distrito == 1]
    of_2 = [k for k, s in election.actas.items() if s.distrito == 2]
    assert election.ccv == {1: CCV} and sorted(election.ccv_actas(CCV)) == sorted(of_1)
    assert all(election.capturers(k) == (NODE_A, CCV) for k in of_1)
    assert election.may_capture(of_1[0], CCV) and election.may_capture(of_1[0], NODE_A)
    assert not election.may_capture(of_1[0], NODE_B)
    assert not any(election.may_capture(k, CCV) for k in of_2 if election.owner(k) is not None)
    assert catalog.parse(_with({}), "e.json").ccv == {}
    for bad, where, why in [({"9": CCV}, "e.json: ccv.9", "no acta of the catalog is in district 9"),
                            ({"uno": CCV}, "e.json: ccv.uno", "expected"),
                            ({"1": "no es un nodo"}, "e.json: ccv.1", "is not a node id"),
                            ({"1": 7}, "e.json: ccv.1", "expected")]:
        with pytest.raises(BadInput) as caught:
            catalog.parse(_with(bad), "e.json")
        assert caught.value.what == where and why in caught.value.why


def _counted(tmp_path: Path, first: str, first_values: dict[str, object]) -> tuple[hq_count.Count, str]:
    """The CCV election at HQ; `first` (the CATD or the CCV) reports `first_values`, HQ receives
    it, then the other reports valid values (PAN 14) and a third node reports too."""
    election = ccv_election(tmp_path)
    hq = hq_store.init(tmp_path / "hq", election, None)
    nodes = {n: make_node(tmp_path / n, hq, n, election) for n in (NODE_A, CCV, NODE_B)}
    acta = next(k for k, s in nodes[NODE_A].election.actas.items() if s.distrito == 1)
    second = CCV if first == NODE_A else NODE_A
    ck.report(nodes[first], acta, first_values)
    ck.deliver(hq, nodes[first])
    time.sleep(0.01)
    for node in (second, NODE_B):
        ck.report(nodes[node], acta, ck.values(acta, PAN=14))
        ck.deliver(hq, nodes[node])
    conn = hq.connect()
    try:
        return hq_count.count(conn, hq.election()), acta
    finally:
        conn.close()


@pytest.mark.parametrize("first", [NODE_A, CCV])
def test_the_first_report_of_catd_and_ccv_counts_and_the_other_is_a_conflict(tmp_path: Path,
                                                                             first: str) -> None:
    election = catalog.load(ccv_election(tmp_path))
    acta = next(k for k, s in election.actas.items() if s.distrito == 1)
    counted, _ = _counted(tmp_path, first, ck.values(acta, PAN=41))
    record = counted.actas[acta]
    assert record.node == first and record.values["PAN"] == 41
    second = CCV if first == NODE_A else NODE_A
    mine = sorted((c.node, c.reason) for c in counted.conflicts if c.key == acta)
    assert mine == sorted([(second, "otro_catd"), (NODE_B, "otro_catd")]), mine
    assert all(f"counts from {first}, whose report HQ received first" in c.detail
               for c in counted.conflicts if c.key == acta)


def test_a_first_report_that_does_not_stand_leaves_the_acta_to_the_other(tmp_path: Path) -> None:
    """The CCV's report arrives first but its values are refused: the CATD's valid report
    counts (it is not an otro_catd conflict), and the CCV's refusal is listed."""
    election = catalog.load(ccv_election(tmp_path))
    acta = next(k for k, s in election.actas.items() if s.distrito == 1)
    counted, _ = _counted(tmp_path, CCV, ck.values(acta, PAN=-5))
    record = counted.actas[acta]
    assert record.node == NODE_A and record.values["PAN"] == 14
    mine = {(c.node, c.reason) for c in counted.conflicts if c.key == acta}
    assert (CCV, "valores_invalidos") in mine and (NODE_A, "otro_catd") not in mine


def _item(ident: int, signed: phone.Signed, data: bytes, device_key: str | None) -> dict[str, object]:
    item: dict[str, object] = {"id": ident, "statement": base64.b64encode(signed.statement).decode("ascii"),
                               "sig": signed.sig, "image": base64.b64encode(data).decode("ascii")}
    if device_key is not None:
        item["device_key"] = device_key
    return item


def test_a_node_records_another_catds_phone_only_as_its_districts_ccv(tmp_path: Path) -> None:
    election = ccv_election(tmp_path)
    hq = hq_store.init(tmp_path / "hq", election, None)
    catd = make_node(tmp_path / "catd", hq, NODE_A, election)
    ccv = make_node(tmp_path / "ccv", hq, CCV, election)
    other = make_node(tmp_path / "other", hq, NODE_B, election)
    key = enrol(catd, "cae-1")
    pub = phone.pubkey_b64(key)
    acta = next(k for k, s in catd.election.actas.items() if s.distrito == 1)
    of_2 = next(k for k, s in catd.election.actas.items() if s.distrito == 2 and s.catd == NODE_B)
    data = acta_photo(acta)
    signed = phone.sign(key, "cae-1", NODE_A, acta, data)
    assert casilla.record(other, [_item(1, signed, data, pub)]) == 0          # not its district's CCV
    assert casilla.record(ccv, [_item(1, signed, data, None)]) == 0           # no key to check it with
    assert casilla.record(ccv, [_item(1, signed, data, phone.pubkey_b64(Ed25519PrivateKey.generate()))]) == 0
    elsewhere = phone.sign(key, "cae-1", NODE_A, of_2, data)                   # an acta of district 2
    assert casilla.record(ccv, [_item(2, elsewhere, data, pub)]) == 0
    assert casilla.record(ccv, [_item(3, signed, data, pub)]) == 1
    assert casilla.record(ccv, [_item(3, signed, data, pub)]) == 0            # once


def _photo_recorded_by(tmp_path: Path, recorder_id: str,
                       signer: Ed25519PrivateKey | None) -> tuple[Path, str]:
    """A cut in which `recorder_id` recorded (and reported) a photo of district 1 carrying a
    statement naming the CATD's phone, signed by `signer` (None: the enrolled phone key)."""
    election = ccv_election(tmp_path)
    hq = hq_store.init(tmp_path / "hq", election, None)
    catd = make_node(tmp_path / "catd", hq, NODE_A, election)
    recorder = make_node(tmp_path / "rec", hq, recorder_id, election)
    key = enrol(catd, "cae-1")
    acta = next(k for k, s in catd.election.actas.items() if s.distrito == 1)
    data = acta_photo(acta)
    signed = phone.sign(signer or key, "cae-1", NODE_A, acta, data)
    held = {"statement": base64.b64encode(signed.statement).decode("ascii"), "sig": signed.sig}
    packet = ck.digitize(recorder, acta, source="upload", image=data, origen="CASILLA",
                         digitalizacion="MOVIL", casilla=held)
    ck.report(recorder, acta, ck.values(acta, PAN=41), sha=packet.body["image"]["sha256"])
    ck.deliver(hq, catd)
    ck.deliver(hq, recorder)
    return cut.publish(hq, at=FIRST_CUT).path, acta


def test_both_verifiers_accept_a_ccv_photo_of_the_catds_phone(tmp_path: Path, capsys) -> None:
    published, _ = _photo_recorded_by(tmp_path, CCV, None)
    ours, theirs = hq_verdict(capsys, str(published)), tool_verdict(str(published))
    assert (ours.code, theirs.code) == (0, 0), (ours.text, theirs.text)


@pytest.mark.parametrize(("recorder", "forged", "why"), [
    (NODE_B, False, f"the catalog does not name {NODE_B} capture centre of the district"),
    (CCV, True, "signature does not verify against a key CATD-09-01's chain enrolled for 'cae-1'"),
])
def test_both_verifiers_refuse_a_phone_photo_of_another_catd_not_backed(
        tmp_path: Path, capsys, recorder: str, forged: bool, why: str) -> None:
    published, _ = _photo_recorded_by(tmp_path, recorder, Ed25519PrivateKey.generate() if forged else None)
    ours, theirs = hq_verdict(capsys, str(published)), tool_verdict(str(published))
    assert ours.code == theirs.code == 1, (ours.text, theirs.text)
    assert why in ours.text and why in theirs.text, (ours.text, theirs.text)
