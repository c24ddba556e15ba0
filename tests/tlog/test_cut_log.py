"""Cuts and the transparency log: each cut names HQ's checkpoint and carries its leaves;
verify-release refuses a cut whose packets are not in the log, a forged cut that the log
does not hold (even between two real cuts that are not adjacent), and, with --witnesses, a
checkpoint without a quorum of cosignatures."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import timedelta
from pathlib import Path

import pytest

from catd_node import tlog, tlog_note, witness
from hq import tlog as hq_tlog
from hq.release import cut
from hq.store.base import writing
from tests.hq import cutkit
from tests.hq.cutkit import FIRST_CUT, Verdict, members, rewrite, tool_verdict
from tests.hq.cutkit import hq_verdict as _hq_verdict


def hq_verdict(capsys: pytest.CaptureFixture[str], *args: str) -> Verdict:
    """Both verifiers, which must agree: catd-hq's, and tools/verify_release.py run apart."""
    ours, theirs = _hq_verdict(capsys, *args), tool_verdict(*args)
    assert (ours.code, ours.subject) == (theirs.code, theirs.subject), (ours.text, theirs.text)
    return ours


@pytest.fixture(scope="module")
def cuts(tmp_path_factory: pytest.TempPathFactory) -> tuple[cutkit.Published, list[Path]]:
    pub = cutkit.published_hq(tmp_path_factory.mktemp("tlogcut"))
    paths = [pub.zip] + [cut.publish(pub.hq, at=FIRST_CUT + timedelta(minutes=15 * i)).path
                         for i in (1, 2, 3)]
    return pub, paths


def test_a_cut_names_the_checkpoint_and_passes(cuts, capsys) -> None:
    pub, paths = cuts
    files = members(paths[0])
    note = tlog_note.parse_note(files[hq_tlog.REGISTRO_CHECKPOINT])
    cp = tlog_note.parse_checkpoint_text(note.text)
    assert tlog.root_of_hashes([files[hq_tlog.REGISTRO_HASHES][i:i + 32]
                                for i in range(0, 32 * cp.size, 32)]) == cp.root
    verdict = hq_verdict(capsys, str(paths[0]))
    assert verdict.code == 0, verdict.text
    assert hq_verdict(capsys, str(paths[1]), str(paths[3])).code == 0
    # publicacion/registro/: the log as static tiles, as a mirror carries it
    folder = paths[0].parent / cut.REGISTRO
    note = tlog_note.parse_note((folder / "checkpoint").read_bytes())
    tlog_note.verify_by(note, tlog_note.log_verifier(pub.hq.public_key()))
    latest = tlog_note.parse_checkpoint_text(note.text)
    src = tlog.TileSource(latest.size, lambda path: (folder / path).read_bytes())
    assert tlog.root_from(src.node, latest.size) == latest.root
    bundle = tlog.unbundle((folder / tlog.tile_path("entries", 0, min(256, latest.size))).read_bytes())
    line = members(paths[3])["evidencia.ndjson"].split(b"\n", 1)[0]
    index = bundle.index(line)
    tlog.verify_inclusion(index, latest.size, tlog.leaf_hash(line),
                          tlog.inclusion_proof(src.node, index, latest.size), latest.root)
    # each acta page offers the inclusion proof of the packets behind its row
    proofs = sorted((paths[0].parent / "sitio").rglob("*.prueba.json"))
    assert proofs
    conn = pub.hq.connect()
    try:
        for path in proofs[:3]:
            doc = json.loads(path.read_text())
            assert path.with_name(doc["acta"] + ".html").exists() and doc["packets"]
            acta_note = tlog_note.parse_note(doc["checkpoint"])
            tlog_note.verify_by(acta_note, tlog_note.log_verifier(pub.hq.public_key()))
            cp = tlog_note.parse_checkpoint_text(acta_note.text)
            for p in doc["packets"]:
                row = conn.execute("SELECT seq, canonical, hash, sig FROM packets WHERE node = ? AND seq = ?",
                                   (p["node"], p["seq"])).fetchone()
                leaf = hq_tlog.wire_entry(row[0], bytes(row[1]), row[2], bytes(row[3]))
                tlog.verify_inclusion(p["index"], cp.size, tlog.leaf_hash(leaf),
                                      [bytes.fromhex(h) for h in p["proof"]], cp.root)
    finally:
        conn.close()
    last = tlog.cut_leaf(paths[3].name, hashlib.sha256(members(paths[3])["MANIFEST.json"]).hexdigest())
    assert bundle[-1] == last  # the last cut is the log's last leaf


def _relog(src: Path, dst: Path, key, hashes: list[bytes], edit=None) -> Path:  # type: ignore[no-untyped-def]
    """HQ itself re-signing a cut over another log of its making."""
    v = tlog_note.log_verifier(key.public_key())
    root = tlog.root_of_hashes(hashes)
    note = tlog_note.sign_note(tlog_note.Checkpoint(v.name, len(hashes), root).text(), v.name, key)

    def change(doc):  # type: ignore[no-untyped-def]
        doc["log"] = {"origin": v.name, "size": len(hashes), "root": base64.b64encode(root).decode()}
        if edit is not None:
            edit(doc)
    return rewrite(src, dst, replace={hq_tlog.REGISTRO_CHECKPOINT: note.render().encode(),
                                      hq_tlog.REGISTRO_HASHES: b"".join(hashes)},
                   resign=key, edit=change)


def test_a_packet_hq_left_out_of_its_log_is_refused(cuts, capsys, tmp_path) -> None:
    pub, paths = cuts
    raw = members(paths[0])[hq_tlog.REGISTRO_HASHES]
    hashes = [raw[i:i + 32] for i in range(0, len(raw), 32)]
    first_line = members(paths[0])["evidencia.ndjson"].split(b"\n", 1)[0]
    dropped = [h for h in hashes if h != tlog.leaf_hash(first_line)]
    assert len(dropped) == len(hashes) - 1
    verdict = hq_verdict(capsys, str(_relog(paths[0], tmp_path / "x.zip", pub.hq.private_key(), dropped)))
    assert verdict.code == 1 and "evidencia.ndjson line 1" in verdict.text, verdict.text


def test_a_forged_cut_between_two_real_ones_is_refused(cuts, capsys, tmp_path) -> None:
    pub, paths = cuts
    # HQ makes another cut 2, signed and self-consistent, never published
    forged = rewrite(paths[1], tmp_path / "forged.zip", resign=pub.hq.private_key(),
                     edit=lambda doc: doc["previous"].update(name="otro.zip"))
    assert hq_verdict(capsys, str(forged)).code == 0        # alone, it holds
    verdict = hq_verdict(capsys, str(forged), str(paths[3]))  # cut 2 and cut 4 are not adjacent
    assert verdict.code == 1 and "is not in its transparency log" in verdict.text, verdict.text
    assert hq_verdict(capsys, str(paths[1]), str(paths[3])).code == 0
    # a later log that does not extend the earlier one (HQ rewrote history)
    raw = members(paths[3])[hq_tlog.REGISTRO_HASHES]
    hashes = [raw[i:i + 32] for i in range(0, len(raw), 32)]
    hashes[0] = hashlib.sha256(b"rewritten").digest()
    rewritten = _relog(paths[3], tmp_path / "r.zip", pub.hq.private_key(), hashes)
    verdict = hq_verdict(capsys, str(paths[1]), str(rewritten))
    assert verdict.code == 1, verdict.text


def test_witness_quorum(cuts, capsys, tmp_path) -> None:
    pub, paths = cuts
    folder = tmp_path / "publicacion"
    folder.mkdir()
    zip_path = folder / paths[0].name
    zip_path.write_bytes(paths[0].read_bytes())
    log_vkey = tlog_note.log_verifier(pub.hq.public_key()).vkey()
    ws = [witness.init(tmp_path / n, n, log_vkey, "") for n in ("partido-a", "partido-b", "observador")]
    (tmp_path / "testigos.txt").write_text("\n".join([*(w.verifier.vkey() for w in ws), "quorum 2", ""]))
    args = (str(zip_path), "--witnesses", str(tmp_path / "testigos.txt"))
    verdict = hq_verdict(capsys, *args)
    assert verdict.code == 1 and "0 of the named witnesses" in verdict.text, verdict.text
    # two witnesses cosign HQ's latest checkpoint (later than the cut: three cuts since)
    conn, key = pub.hq.connect(), pub.hq.private_key()
    try:
        policy = tlog_note.parse_policy((tmp_path / "testigos.txt").read_text())
        latest = hq_tlog.checkpoint(conn, key).render().encode()
        for w in ws[:2]:
            signed, _ = w.cosign(latest)
            with writing(conn):
                hq_tlog.add_cosignature(conn, key, policy, signed.render().encode())
        assert hq_tlog.refresh_sidecars(conn, key, folder) == 1
    finally:
        conn.close()
    sidecar = Path(str(zip_path) + hq_tlog.SIDECAR)
    verdict = hq_verdict(capsys, *args)
    assert verdict.code == 0, verdict.text
    # a consistency proof that does not hold (HQ's witnesses saw another tree)
    doc = json.loads(sidecar.read_text())
    doc["consistency"][0] = "00" * 32
    sidecar.write_text(json.dumps(doc))
    verdict = hq_verdict(capsys, *args)
    assert verdict.code == 1 and verdict.subject == sidecar.name, verdict.text
    (tmp_path / "bad.txt").write_text("quorum 2\n")
    assert hq_verdict(capsys, str(zip_path), "--witnesses", str(tmp_path / "bad.txt")).code == 2
