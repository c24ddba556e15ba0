"""Trust from outside the cut (issue 23): HQ, lying with its own key, cannot make up a CATD or
rewrite the catalog and be told ok by either verifier given the keys published before the night
(`catd-hq keys publish`). Every forged cut here is written by HQ's own publisher and signed by
HQ's own key, from real node chains delivered through HQ's receive path (tests/hq/cutkit.py)."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest

from catd_node import datadir
from hq import cli
from hq.release import cut, trust
from tests.hq import countkit as ck
from tests.hq import cutkit
from tests.hq.cutkit import Verdict, hq_verdict, tool_verdict
from tests.hqkit import make_node

FAKE = "CATD-09-99"
LATER = datetime(2024, 6, 2, 20, 30)


def both(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[Verdict, Verdict]:
    return hq_verdict(capsys, *args), tool_verdict(*args)


def refused(capsys: pytest.CaptureFixture[str], zip_path: Path, subject: str, *extra: str,
            says: str = "") -> None:
    ours, theirs = both(capsys, str(zip_path), *extra)
    assert (ours.code, ours.subject) == (1, subject), ours.text
    assert (theirs.code, theirs.subject) == (1, subject), theirs.text
    assert says in ours.text and says in theirs.text, (ours.text, theirs.text)


@pytest.fixture()
def keyed(tmp_path: Path) -> tuple[cutkit.Published, Path]:
    """A published HQ whose keys file was published before the night, and a party's copy of it."""
    hq, a, b = ck.hq_two_catd(tmp_path)
    assert cli.main(["-d", str(hq.root), "keys", "publish"]) == 0
    party = tmp_path / "party-keys"
    shutil.copytree(trust.folder(hq), party)
    cutkit.report_everything(hq, a, b)
    return cutkit.Published(hq, a, b, cut.publish(hq, at=cutkit.FIRST_CUT).path), party


def hq_catalog(p: cutkit.Published, edit: Callable[[dict], object]) -> None:
    """HQ rewrites the election file it publishes (the node-signed evidence untouched)."""
    doc = json.loads(p.hq.election_path.read_text(encoding="utf-8"))
    edit(doc)
    p.hq.election_path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")


def acta(doc: dict, key: str) -> dict:
    return next(a for a in doc["actas"] if a["clave_acta"] == key)


def test_the_honest_cut_passes_with_the_published_keys_and_says_where_keys_came_from(keyed, capsys):
    p, party = keyed
    doc = json.loads((party / trust.NAME).read_bytes())
    assert sorted(doc["nodes"]) == [ck.NODE_A, ck.NODE_B]
    assert doc["election_sha256"] == hashlib.sha256(ck.TWO_CATD.read_bytes()).hexdigest()
    assert (p.a.root / "election.json").read_bytes() == ck.TWO_CATD.read_bytes()   # copied byte for byte
    ours, theirs = both(capsys, str(p.zip), "--keys", str(party))
    assert (ours.code, theirs.code) == (0, 0), (ours.text, theirs.text)
    for text in (ours.text, theirs.text):   # each chain, and the key it was checked with
        for node in (ck.NODE_A, ck.NODE_B):
            assert f"key: {node}: from {party / 'nodos' / (node + '.pub')}" in text, text
        assert "taken from the cut" not in text
    ours, theirs = both(capsys, str(p.zip))
    assert (ours.code, theirs.code) == (0, 0), (ours.text, theirs.text)
    for text in (ours.text, theirs.text):
        for node in (ck.NODE_A, ck.NODE_B):
            assert f"note: {node}: key taken from the cut (nodos/{node}.pub)" in text, text
        assert "nothing against HQ" in text
    # The site offers the keys folder, usable as it is, and names the catalog the count used.
    site = p.zip.parent / "sitio"
    page = (site / "descargas.html").read_text(encoding="utf-8")
    assert 'href="llaves/llaves.json"' in page and doc["election_sha256"] in page
    ours, theirs = both(capsys, str(p.zip), "--keys", str(site / "llaves"))
    assert (ours.code, theirs.code) == (0, 0), (ours.text, theirs.text)


def test_a_catd_hq_made_up_is_refused_naming_it(keyed, capsys, tmp_path):
    """HQ makes a key for CATD-09-99, a chain reporting A1 with 20 votes moved, ships the key in
    the cut and assigns A1 to it in the catalog."""
    p, party = keyed
    forged_catalog = tmp_path / "forged.json"
    doc = json.loads(ck.TWO_CATD.read_text(encoding="utf-8"))
    acta(doc, ck.A1)["catd"] = FAKE
    forged_catalog.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    fake = make_node(tmp_path / "fake", p.hq, FAKE, forged_catalog)   # registered behind the file's back
    ck.report(fake, ck.A1, ck.values(ck.A1, PAN=10, PRI=20, MORENA=45))  # 20 of PAN's moved to MORENA
    ck.deliver(p.hq, fake)
    shutil.copyfile(forged_catalog, p.hq.election_path)
    lying = cut.publish(p.hq, at=LATER).path
    assert f"nodos/{FAKE}.pub" in cutkit.members(lying)
    refused(capsys, lying, FAKE, "--keys", str(party), says="HQ made up")
    # Without keys the catalog still gives it away: the real CATDs were installed with another.
    refused(capsys, lying, "catalogo.json", says=ck.NODE_A)


def test_a_lista_nominal_lowered_is_refused(keyed, capsys):
    """A1 (75 votes) with a lista nominal of 50 would become EXCEDE LISTA NOMINAL."""
    p, party = keyed
    hq_catalog(p, lambda doc: acta(doc, ck.A1).update(lista_nominal=50))
    lying = cut.publish(p.hq, at=LATER).path
    refused(capsys, lying, "catalogo.json", "--keys", str(party), says=ck.NODE_A)
    refused(capsys, lying, "catalogo.json", says="node.genesis")


def test_an_acta_reassigned_to_a_catd_that_reported_nothing_is_refused(keyed, capsys):
    p, party = keyed
    hq_catalog(p, lambda doc: acta(doc, ck.A1).update(catd="CATD-09-03"))
    lying = cut.publish(p.hq, at=LATER).path
    assert '="090001B0100A01"' not in cutkit.members(lying)[cutkit.RESULTS].decode("utf-8-sig")
    refused(capsys, lying, "catalogo.json", "--keys", str(party), says=ck.NODE_A)


def test_a_catalog_other_than_the_published_one_is_refused(keyed, capsys, tmp_path):
    """Even if every CATD had been installed with it, the party's own catalogo.json decides."""
    p, party = keyed
    held = tmp_path / "held"
    shutil.copytree(party, held)
    (held / "catalogo.json").write_bytes((held / "catalogo.json").read_bytes() + b"\n")
    refused(capsys, p.zip, "llaves.json", "--keys", str(held), says="another election file")
    # Keys gathered by hand (no keys file): the catalog held is still compared.
    (held / trust.NAME).unlink()
    refused(capsys, p.zip, "catalogo.json", "--keys", str(held), says=str(held))


def test_add_node_after_publication_is_recorded_and_named(keyed, capsys, tmp_path):
    p, party = keyed
    node = datadir.init(tmp_path / "late", "CATD-09-03", ck.TWO_CATD, hq_pubkey=p.hq.pub_path)
    assert cli.main(["-d", str(p.hq.root), "add-node", "--node-id", "CATD-09-03",
                     "--pubkey", str(node.pub_path)]) == 0
    doc = trust.read(p.hq)
    assert doc is not None and doc["version"] == 2
    assert list(doc["added_after_publication"]) == ["CATD-09-03"]
    ck.deliver(p.hq, node)
    later = cut.publish(p.hq, at=LATER).path
    named = json.loads(cutkit.members(later)["MANIFEST.json"])["llaves"]
    assert named["version"] == 2 and "CATD-09-03" in named["added_after_publication"]
    # The party holding the first version: refused, told why the key is not there.
    refused(capsys, later, "CATD-09-03", "--keys", str(party), says="registered it after the keys")
    # With the later version: ok, the node reported apart.
    ours, theirs = both(capsys, str(later), "--keys", str(trust.folder(p.hq)))
    assert (ours.code, theirs.code) == (0, 0), (ours.text, theirs.text)
    for text in (ours.text, theirs.text):
        assert "key: CATD-09-03: from" in text and "registered after the keys were published" in text
    before = (trust.folder(p.hq) / trust.NAME).read_bytes()
    assert cli.main(["-d", str(p.hq.root), "keys", "publish"]) == 2    # written once
    assert "already published" in capsys.readouterr().err
    assert (trust.folder(p.hq) / trust.NAME).read_bytes() == before


def test_a_keys_folder_that_does_not_hold_together_is_refused(keyed, capsys, tmp_path):
    """The party's folder checks itself: llaves.json signed by its hq.pub, listing its keys."""
    p, party = keyed
    swapped = tmp_path / "swapped"
    shutil.copytree(party, swapped)
    shutil.copyfile(p.b.pub_path, swapped / "nodos" / f"{ck.NODE_A}.pub")
    refused(capsys, p.zip, "llaves.json", "--keys", str(swapped), says=ck.NODE_A)
    edited = tmp_path / "edited"
    shutil.copytree(party, edited)
    doc = json.loads((edited / trust.NAME).read_bytes())
    doc["nodes"][FAKE] = "0" * 64
    (edited / trust.NAME).write_text(json.dumps(doc), encoding="utf-8")
    refused(capsys, p.zip, "llaves.json", "--keys", str(edited), says="not signed")


def test_a_late_node_is_named_from_the_keys_file_even_if_the_manifest_hides_it(keyed, capsys, tmp_path):
    p, _ = keyed
    node = datadir.init(tmp_path / "late", "CATD-09-03", ck.TWO_CATD, hq_pubkey=p.hq.pub_path)
    assert cli.main(["-d", str(p.hq.root), "add-node", "--node-id", "CATD-09-03",
                     "--pubkey", str(node.pub_path)]) == 0
    ck.deliver(p.hq, node)
    later = cut.publish(p.hq, at=LATER).path
    hidden = cutkit.rewrite(later, tmp_path / "hidden" / later.name, resign=p.hq.private_key(),
                            edit=lambda doc: doc.pop("llaves"))
    ours, theirs = both(capsys, str(hidden), "--keys", str(trust.folder(p.hq)))
    assert (ours.code, theirs.code) == (0, 0), (ours.text, theirs.text)
    for text in (ours.text, theirs.text):
        assert "key: CATD-09-03: from" in text and "registered after the keys were published" in text
