"""catd-witness against an honest HQ (real server) and a lying one (HQ's key signing trees
that drop a packet, fork, or differ per witness): the witness never cosigns an inconsistent
checkpoint, across restarts, outages and checkpoints given out of order."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from catd_node import tlog, tlog_note, witness
from hq import tlog as hq_tlog
from hq.store import HQDir
from tests.hqkit import VALUES_A, append_actas, post_chain
from tests.ports import free_port as _free_port


def _tree_node(leaves: list[bytes]) -> tlog.NodeFn:
    hashes = [tlog.leaf_hash(x) for x in leaves]

    def node(level: int, index: int) -> bytes:
        return tlog.root_of_hashes(hashes[index << level:(index + 1) << level])
    return node


class LyingHQ:
    """HQ's own key signing whatever tree it likes."""

    def __init__(self) -> None:
        self.key = Ed25519PrivateKey.generate()
        self.v, _ = hq_tlog.note_signer(self.key)

    def checkpoint(self, leaves: list[bytes]) -> bytes:
        text = tlog_note.Checkpoint(self.v.name, len(leaves), tlog.root_of(leaves)).text()
        return tlog_note.sign_note(text, self.v.name, self.key).render().encode()

    @staticmethod
    def proof(old: int, leaves: list[bytes]) -> list[bytes]:
        return tlog.consistency_proof(_tree_node(leaves), old, len(leaves))


def _witness(tmp_path: Path, name: str, hq: LyingHQ) -> witness.Witness:
    return witness.init(tmp_path / name, name, hq.v.vkey(), "")


LEAVES = [f"packet {i}".encode() for i in range(12)]


def test_refuses_dropped_packet_fork_and_backwards_across_restart(tmp_path: Path) -> None:
    hq = LyingHQ()
    w = _witness(tmp_path, "observador-1", hq)
    w.cosign(hq.checkpoint(LEAVES[:5]))
    # dropped packet: a tree of 6 without leaf 2
    dropped = LEAVES[:2] + LEAVES[3:7]
    with pytest.raises(witness.Refused, match="does not extend"):
        w.cosign(hq.checkpoint(dropped), hq.proof(5, dropped))
    # forked: leaf 3 rewritten, grown to 8
    forked = [*LEAVES[:3], b"forged", *LEAVES[4:8]]
    with pytest.raises(witness.Refused, match="does not extend"):
        w.cosign(hq.checkpoint(forked), hq.proof(5, forked))
    # same size, other root
    with pytest.raises(witness.Refused, match="SPLIT VIEW"):
        w.cosign(hq.checkpoint([*LEAVES[:4], b"other"]))
    assert len(list((tmp_path / "observador-1" / "refused").iterdir())) == 3
    # out of order: 9 first, then 7 (refused: backwards), after a restart
    w.cosign(hq.checkpoint(LEAVES[:9]), hq.proof(5, LEAVES[:9]))
    w = witness.Witness(tmp_path / "observador-1")
    with pytest.raises(witness.Refused, match="behind"):
        w.cosign(hq.checkpoint(LEAVES[:7]))
    note, moved = w.cosign(hq.checkpoint(LEAVES[:12]), hq.proof(9, LEAVES))
    assert moved
    assert tlog_note.cosigners(note, [w.verifier]) == ["observador-1"]
    # a proof for the wrong tree never passes, even a "proof" that is honest for another one
    with pytest.raises(witness.Refused):
        w.cosign(hq.checkpoint([*LEAVES, b"x"]), hq.proof(12, [*LEAVES[:11], b"y", b"x"]))
    view = w.view()
    assert view is not None and tlog_note.parse_checkpoint_text(view["checkpoint"]).size == 12
    # a note not signed by HQ's log key
    other = LyingHQ()
    with pytest.raises(witness.Refused, match="not a checkpoint signed"):
        w.cosign(other.checkpoint([*LEAVES, b"z"]))


def test_compare_names_a_split_view(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    hq = LyingHQ()
    a, b, c = (_witness(tmp_path, n, hq) for n in ("partido-a", "partido-b", "observador"))
    a.cosign(hq.checkpoint(LEAVES[:6]))
    b.cosign(hq.checkpoint([*LEAVES[:5], b"the other story"]))  # shown another tree of size 6
    c.cosign(hq.checkpoint(LEAVES[:4]))
    assert witness.main(["compare", str(tmp_path / "partido-a"), str(tmp_path / "partido-b"), "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["split"] and "two trees of size 6" in out["why"]
    # c's smaller view vs a: consistent with the honest proof, split against the fork
    assert witness.compare(c.view(), a.view(), hq.proof(4, LEAVES[:6])) is None  # type: ignore[arg-type]
    forked = [*LEAVES[:3], b"forged", *LEAVES[4:6]]
    a2 = _witness(tmp_path, "partido-c", hq)
    a2.cosign(hq.checkpoint(forked))
    why = witness.compare(c.view(), a2.view(), hq.proof(4, forked))  # type: ignore[arg-type]
    assert why is not None and "does not extend" in why
    assert witness.main(["compare", str(tmp_path / "partido-a"), str(tmp_path / "observador")]) == 2


async def test_honest_hq_gathers_a_quorum(tmp_path: Path, hq_node, hq_dir: HQDir, hq_server) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(hq_server.url + "/v1/log/vkey") as resp:
            log_vkey = (await resp.text()).strip()
    names = ("partido-a", "observador-1")
    vkeys = []
    for name in names:
        assert await asyncio.to_thread(witness.main, ["init", str(tmp_path / name), "--name", name,
                                                      "--log-vkey", log_vkey, "--url", hq_server.url]) == 0
        vkeys.append(witness.Witness(tmp_path / name).verifier.vkey())
    (hq_dir.root / "witnesses.txt").write_text("\n".join([*vkeys, "quorum 2", ""]), encoding="utf-8")
    append_actas(hq_node, {"DIP-14-01-0123-B01": VALUES_A})
    await post_chain(hq_server.url, hq_node)
    for name in names:
        assert await asyncio.to_thread(witness.main, ["cosign", str(tmp_path / name)]) == 0
    append_actas(hq_node, {"DIP-14-01-0123-B02": VALUES_A})
    await post_chain(hq_server.url, hq_node)
    for name in names:  # consistency proof from HQ, checked
        assert await asyncio.to_thread(witness.main, ["cosign", str(tmp_path / name), "--json"]) == 0
    async with aiohttp.ClientSession() as session:
        async with session.get(hq_server.url + "/v1/checkpoint") as resp:
            note = tlog_note.parse_note(await resp.read())
        policy = tlog_note.parse_policy((hq_dir.root / "witnesses.txt").read_text())
        assert sorted(policy.check(note)) == sorted(names)
        # a witness HQ does not list is refused
        stranger = witness.init(tmp_path / "stranger", "stranger", log_vkey, hq_server.url)
        signed, _ = stranger.cosign(tlog_note.Note(note.text, note.sigs[:1]).render().encode())
        async with session.post(hq_server.url + "/v1/log/cosignature", data=signed.render()) as resp:
            assert resp.status == 422 and "witnesses.txt" in (await resp.json())["detail"]
    # HQ offline: exit 3, the view stays as it was
    before = (tmp_path / names[0] / "view.json").read_bytes()
    cfg = json.loads((tmp_path / names[0] / "witness.json").read_text())
    cfg["url"] = f"http://127.0.0.1:{_free_port()}"
    (tmp_path / names[0] / "witness.json").write_text(json.dumps(cfg))
    assert await asyncio.to_thread(witness.main, ["cosign", str(tmp_path / names[0])]) == 3
    assert (tmp_path / names[0] / "view.json").read_bytes() == before
