"""A batch verified in runs on several workers (`receive.split` / `join`) gives exactly what one
check in order gives: the same packets, or the same first bad line with the same reason."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from catd_node import keys, packets
from hq import receive
from hq.state import HQState
from hq.store import HQDir
from sync import protocol

LENGTH = 90
MUTATIONS = ("bad_sig", "bad_hash", "other_node", "unknown_node", "blank", "garbage", "drop", "swap",
             "duplicate", "foreign_prev", "splice", "other_node_tail")


@dataclass(frozen=True)
class Material:
    pems: dict[str, str]
    lines: list[bytes]
    hashes: list[str]
    other_chain: list[bytes]  # node A equivocating: another chain under the same key
    key_a: Ed25519PrivateKey
    key_b: Ed25519PrivateKey
    stranger: Ed25519PrivateKey


def _line(key: Ed25519PrivateKey, node: str, seq: int, prev: str, acta: str) -> bytes:
    p = packets.seal(key, node=node, seq=seq, prev=prev, kind="acta.acopio",
                     body={"acta": acta, "by": "ana", "in_catalog": True}, at="2026-06-07T20:00:00.000Z")
    return packets.to_wire(p).encode()


@cache
def material() -> Material:
    key_a, key_b, stranger = keys.generate(), keys.generate(), keys.generate()
    chains: list[list[bytes]] = []
    hashes: list[str] = []
    for name in ("K", "Q"):
        chain, prev = [], packets.ZERO_HASH
        for seq in range(1, LENGTH + 1):
            chain.append(_line(key_a, "A", seq, prev, f"{name}{seq}"))
            prev = json.loads(chain[-1])["hash"]
            if name == "K":
                hashes.append(prev)
        chains.append(chain)
    pems = {"A": keys.public_pem(key_a.public_key()).decode(),
            "B": keys.public_pem(key_b.public_key()).decode()}
    return Material(pems, chains[0], hashes, chains[1], key_a, key_b, stranger)


def mutate(m: Material, kind: str, pos: int) -> list[bytes]:
    """The chain's lines with one fault at index `pos` (0-based)."""
    lines = list(m.lines)
    seq, prev = pos + 1, (m.hashes[pos - 1] if pos else packets.ZERO_HASH)
    if kind == "bad_sig":  # same packet, signed by another key
        lines[pos] = _line(m.stranger, "A", seq, prev, f"K{seq}")
    elif kind == "bad_hash":
        wire = json.loads(lines[pos])
        wire["hash"] = "0" * 64 if wire["hash"] != "0" * 64 else "1" * 64
        lines[pos] = json.dumps(wire).encode()
    elif kind == "other_node":
        lines[pos] = _line(m.key_b, "B", seq, prev, "X")
    elif kind == "unknown_node":
        lines[pos] = _line(m.stranger, "Z", seq, prev, "X")
    elif kind == "blank":
        lines[pos] = b""
    elif kind == "garbage":
        lines[pos] = b'{"seq": 1'
    elif kind == "drop":
        del lines[pos]
    elif kind == "swap" and pos + 1 < len(lines):
        lines[pos], lines[pos + 1] = lines[pos + 1], lines[pos]
    elif kind == "duplicate":
        lines.insert(pos, lines[pos])
    elif kind == "foreign_prev":  # well signed, but prev does not link
        lines[pos] = _line(m.key_a, "A", seq, "ab" * 32, f"K{seq}")
    elif kind == "other_node_tail":  # from `pos` on, node B's packets, linked to A's chain
        for i in range(pos, len(lines)):
            lines[i] = _line(m.key_b, "B", i + 1, prev, "X")
            prev = json.loads(lines[i])["hash"]
    elif kind == "splice" and pos > 0:  # from `pos` on, the other chain: links only at `pos`
        lines[pos:] = m.other_chain[pos:]
    return lines


def in_runs(lines: list[bytes], pems: dict[str, str], parts: int) -> receive.Checked:
    runs = [receive.check_batch(run, pems, first) for run, first in receive.split(lines, parts)]
    return receive.join(runs) or receive.check_batch(lines, pems)


def _same(a: receive.Checked, b: receive.Checked) -> None:
    assert a.node == b.node
    assert a.packets == b.packets
    assert (a.rejection is None) == (b.rejection is None)
    if a.rejection is not None and b.rejection is not None:
        assert (a.rejection.status, a.rejection.body) == (b.rejection.status, b.rejection.body)


@settings(max_examples=150, deadline=None)
@given(kind=st.sampled_from(MUTATIONS), pos=st.integers(0, LENGTH - 1), parts=st.integers(2, 5),
       cut=st.integers(1, LENGTH))
def test_runs_give_what_one_pass_in_order_gives(kind: str, pos: int, parts: int, cut: int) -> None:
    m = material()
    lines = mutate(m, kind, pos)[:max(cut, pos + 2)]
    one_pass = receive.check_batch(lines, m.pems)
    # every fault is found (a batch may start past seq 1 or end early, and be all node B's)…
    harmless = ((kind == "drop" and pos in (0, LENGTH - 1)) or (kind == "swap" and pos == LENGTH - 1)
                or (kind in ("splice", "other_node_tail") and pos == 0))
    assert one_pass.rejection is not None or harmless
    _same(in_runs(lines, m.pems, parts), one_pass)           # …at the same line, for the same reason


def test_faults_at_every_seam_between_runs() -> None:
    """Faults on the first and last line of each run, where runs are joined."""
    m = material()
    length = 24
    for parts in (2, 3, 4):
        firsts = [first - 1 for _run, first in receive.split(m.lines[:length], parts)]
        positions = sorted({p for f in firsts for p in (f - 1, f, f + 1) if 0 <= p < length - 1})
        for kind in MUTATIONS:
            for pos in positions:
                lines = mutate(m, kind, pos)[:length]
                _same(in_runs(lines, m.pems, parts), receive.check_batch(lines, m.pems))


def test_a_clean_batch_in_runs_keeps_every_packet_in_order() -> None:
    m = material()
    for parts in (2, 3, 4):
        checked = in_runs(m.lines, m.pems, parts)
        assert checked.rejection is None
        assert [p.seq for p in checked.packets] == list(range(1, LENGTH + 1))
        assert [p.hash for p in checked.packets] == m.hashes


async def test_hq_state_check_names_a_bad_line_in_a_later_run(hq_dir: HQDir) -> None:
    m = material()
    conn = hq_dir.connect()
    state = HQState(hq=hq_dir, conn=conn, key=hq_dir.private_key(), node_pems=m.pems,
                    blobs=hq_dir.blobs(), election=None, workers=0)
    try:
        clean = await state.check(m.lines)
        assert clean.rejection is None and len(clean.packets) == LENGTH
        bad = await state.check(mutate(m, "bad_sig", LENGTH - 3))
        assert bad.rejection is not None
        body = bad.rejection.body
        assert (body["error"], body["line"]) == (protocol.BAD_SIGNATURE, LENGTH - 2)
        assert len(bad.packets) == LENGTH - 3
    finally:
        state.close()
