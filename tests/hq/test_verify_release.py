"""verify-release, both of them: `catd-hq verify-release` (project code) and
tools/verify_release.py (standard library and cryptography, run isolated). A sound cut passes
both; each tampering is caught by both, and both name the same file, packet or acta."""

from __future__ import annotations

import json
import shutil
from datetime import datetime
from pathlib import Path

import pytest

from catd_node import keys, tlog_note
from hq.release import cut
from tests.hq import countkit as ck
from tests.hq import cutkit
from tests.hq.cutkit import RESULTS, Verdict, edit_cell, hq_verdict, rewrite, tool_verdict


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> cutkit.Published:
    return cutkit.published_hq(tmp_path_factory.mktemp("published"))


def both(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[Verdict, Verdict]:
    return hq_verdict(capsys, *args), tool_verdict(*args)


def caught(capsys: pytest.CaptureFixture[str], zip_path: Path, subject: str, *extra: str) -> None:
    ours, theirs = both(capsys, str(zip_path), *extra)
    assert (ours.code, ours.subject) == (1, subject), ours.text
    assert (theirs.code, theirs.subject) == (1, subject), theirs.text


def keys_dir(published: cutkit.Published, where: Path) -> Path:
    """hq.pub and each node's .pub, as a party would get them from elsewhere."""
    where.mkdir()
    shutil.copyfile(published.hq.pub_path, where / "hq.pub")
    for node in (published.a, published.b):
        shutil.copyfile(node.pub_path, where / f"{node.config.node_id}.pub")
    return where


def test_a_sound_cut_passes_both_verifiers(published, capsys, tmp_path):
    ours, theirs = both(capsys, str(published.zip))
    assert (ours.code, theirs.code) == (0, 0), (ours.text, theirs.text)
    ours, theirs = both(capsys, str(published.zip), "--keys", str(keys_dir(published, tmp_path / "k")))
    assert (ours.code, theirs.code) == (0, 0), (ours.text, theirs.text)


def test_a_vote_changed_in_the_csv_is_caught(published, capsys, tmp_path):
    data = cutkit.members(published.zip)[RESULTS]
    forged = edit_cell(data, ck.A1, "PAN", "31")
    caught(capsys, rewrite(published.zip, tmp_path / "outsider.zip", replace={RESULTS: forged}), RESULTS)
    # HQ itself, signing the changed file: the row no longer recomputes from the CATD's packets.
    lying = rewrite(published.zip, tmp_path / "hq.zip", replace={RESULTS: forged},
                    resign=published.hq.private_key())
    caught(capsys, lying, f"acta {ck.A1}")


def test_a_row_removed_is_caught(published, capsys, tmp_path):
    files = cutkit.members(published.zip)
    without = cutkit.drop_row(files[RESULTS], ck.A2)
    caught(capsys, rewrite(published.zip, tmp_path / "outsider.zip", replace={RESULTS: without}), RESULTS)
    index = "evidencia_actas.txt"
    changed = {RESULTS: without, index: cutkit.drop_index(files[index], ck.A2)}
    lying = rewrite(published.zip, tmp_path / "hq.zip", replace=changed, resign=published.hq.private_key())
    caught(capsys, lying, f"acta {ck.A2}")


def test_an_evidence_line_altered_is_caught(published, capsys, tmp_path):
    lines = cutkit.members(published.zip)["evidencia.ndjson"].decode().splitlines(keepends=True)
    number = next(i for i, line in enumerate(lines, 1)
                  if '\\"kind\\":\\"acta.verified\\"' in line and ck.A1 in line and '\\"PAN\\":30' in line)
    seq = json.loads(lines[number - 1])["seq"]
    lines[number - 1] = lines[number - 1].replace('\\"PAN\\":30', '\\"PAN\\":31')
    altered = "".join(lines).encode()
    lying = rewrite(published.zip, tmp_path / "hq.zip", replace={"evidencia.ndjson": altered},
                    resign=published.hq.private_key())
    caught(capsys, lying, f"evidencia.ndjson line {number} ({ck.NODE_A} seq {seq})")


def test_a_manifest_resigned_with_another_key_is_caught(published, capsys, tmp_path):
    forger = keys.generate()
    forged = rewrite(published.zip, tmp_path / "forged.zip", resign=forger)
    caught(capsys, forged, "MANIFEST.json.sig")
    # The forger swaps the cut's hq.pub too (and signs the log checkpoint, docs/tlog.md, with
    # its key): only a key obtained elsewhere tells.
    cp = tlog_note.parse_checkpoint_text(tlog_note.parse_note(
        cutkit.members(published.zip)["registro/checkpoint"]).text)
    name = tlog_note.log_verifier(forger.public_key()).name
    note = tlog_note.sign_note(tlog_note.Checkpoint(name, cp.size, cp.root).text(), name, forger)
    swapped = rewrite(published.zip, tmp_path / "swapped.zip", resign=forger,
                      replace={"hq.pub": keys.public_pem(forger.public_key()),
                               "registro/checkpoint": note.render().encode()},
                      edit=lambda doc: doc["log"].update(origin=name))
    assert tool_verdict(str(swapped)).code == 0, "the cut's own key agrees with itself"
    caught(capsys, swapped, "MANIFEST.json.sig", "--keys", str(keys_dir(published, tmp_path / "k")))


def test_a_node_key_swapped_in_the_cut_is_caught_with_keys(published, capsys, tmp_path):
    other = keys.public_pem(keys.generate().public_key())
    swapped = rewrite(published.zip, tmp_path / "swapped.zip", replace={f"nodos/{ck.NODE_A}.pub": other},
                      resign=published.hq.private_key())
    caught(capsys, swapped, f"nodos/{ck.NODE_A}.pub", "--keys", str(keys_dir(published, tmp_path / "k")))


def test_later_cuts_extend_earlier_ones_and_a_swap_is_caught(capsys, tmp_path):
    p = cutkit.published_hq(tmp_path / "p")
    first = p.zip
    ck.report(p.a, "090099C0100A01", ck.values("090099C0100A01", PAN=4))    # new packets, then a cut
    ck.deliver(p.hq, p.a)
    second = cut.publish(p.hq, at=datetime(2024, 6, 2, 20, 20)).path
    ours, theirs = both(capsys, str(first), str(second))
    assert (ours.code, theirs.code) == (0, 0), (ours.text, theirs.text)
    assert f"{second.name} extends {first.name}" in ours.text
    assert f"{second.name} extends {first.name}" in theirs.text
    # An older cut offered as the later one.
    ours, theirs = both(capsys, str(second), str(first))
    assert (ours.code, ours.subject) == (theirs.code, theirs.subject) == (1, first.name), \
        (ours.text, theirs.text)
    # An older cut under the newer one's name.
    renamed = tmp_path / "swap" / second.name
    renamed.parent.mkdir()
    shutil.copyfile(first, renamed)
    caught(capsys, renamed, second.name)


def test_a_catalog_changed_between_cuts_is_caught(capsys, tmp_path):
    """HQ edits the catalog between cuts (a lista nominal): the later cut is consistent in
    its rows, but its catalogo.json is not the election file the CATDs were installed with
    (their node.genesis names its SHA-256), alone or after the earlier cut."""
    p = cutkit.published_hq(tmp_path / "p")
    doc = json.loads(p.hq.election_path.read_text(encoding="utf-8"))
    doc["actas"][0]["lista_nominal"] = 101
    p.hq.election_path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    second = cut.publish(p.hq, at=datetime(2024, 6, 2, 20, 20)).path
    for args in ((str(second),), (str(p.zip), str(second))):
        ours, theirs = both(capsys, *args)
        assert (ours.code, ours.subject) == (theirs.code, theirs.subject) == (1, "catalogo.json"), \
            (ours.text, theirs.text)


def test_reports_the_count_refuses_are_no_rows_for_either_verifier(capsys, tmp_path):
    """A capture on an image never linked to its acta, and an acta key that is a formula: the
    count refuses both (conflicts), the cut has no row for them, and neither verifier calls
    them left out."""
    hq, a, b = ck.hq_two_catd(tmp_path)
    other = ck.digitize(a, ck.A2)                                   # an image of A2 …
    vals = ck.values(ck.A1, PAN=5)
    captured = ck.append(a, "acta.captured", {"acta": ck.A1, "image_sha256": other.body["image"]["sha256"],
                                              "values": vals, "by": "ana", "round": 1})
    ck.verify(a, ck.A1, vals, other.body["image"]["sha256"], captured.seq)   # … reported as A1's
    ck.report(b, "=HYPERLINK(x)", ck.values(ck.OUTSIDE, PAN=1))
    ck.report(b, ck.B1, ck.values(ck.B1, PAN=2))
    ck.deliver(hq, a)
    ck.deliver(hq, b)
    path = cut.publish(hq, at=datetime(2024, 6, 2, 20, 0)).path
    assert [line.split("|")[1] for line in cutkit.results_lines(cutkit.members(path)[RESULTS])[5:-1]] == \
        [f'="{ck.B1}"']
    ours, theirs = both(capsys, str(path))
    assert (ours.code, theirs.code) == (0, 0), (ours.text, theirs.text)


def test_a_cut_of_a_first_form_election_passes_both_verifiers(capsys, hq_dir, hq_node):
    """The first form of the election file (no entity, keys like DIP-14-01-0123-B01) still
    publishes, and both verifiers recompute its rows."""
    from tests.hqkit import VALUES_A, append_actas

    append_actas(hq_node, {"DIP-14-01-0123-B01": VALUES_A,
                           "DIP-14-01-0124-C01": {**VALUES_A, "PAN": "ILEGIBLE"}})
    ck.deliver(hq_dir, hq_node)
    path = cut.publish(hq_dir, at=datetime(2024, 6, 2, 20, 0)).path
    assert path.name == "20240602_2000_PREP_DIP_00.zip"
    ours, theirs = both(capsys, str(path))
    assert (ours.code, theirs.code) == (0, 0), (ours.text, theirs.text)
