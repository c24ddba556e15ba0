"""A local root against a node HQ has acknowledged: `catd-node verify` uses every piece of
evidence the node holds — HQ's signed receipts and the key the genesis names — so re-signing,
rewriting or cutting the chain short is found even when the chain itself links and verifies."""

from __future__ import annotations

import dataclasses
import json

import pytest

from catd_node import cli, config, keys
from catd_node.datadir import DataDir
from catd_node.errors import CheckFailed
from hq.store import HQDir
from sync import client, receipts
from tests.hqkit import with_hq_urls
from tests.node import tamper
from tests.sync.replay_helpers import FakeClock, fast_policy, fast_settings

RECEIPTS = [4, 7, 10]  # one sync after each acta's acopio, digitized and captured packets


async def sync(node: DataDir) -> None:
    await client.once(node, fast_policy(FakeClock()), fast_settings())


@pytest.fixture
async def synced(hq_node: DataDir, hq_server, hq_dir: HQDir) -> DataDir:
    """A node whose 10 packets HQ holds, with HQ's receipts for seq 4, 7 and 10."""
    node = with_hq_urls(hq_node, [hq_server.url])
    for first in range(3):
        tamper.populate(node, actas=1, first=first)
        await sync(node)
    conn = node.reader()
    try:
        assert [r.seq for r in receipts.receipts(conn)] == RECEIPTS
    finally:
        conn.close()
    return node


def verify(node: DataDir, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, dict]:
    """`catd-node verify` and `--json`: the exit code, the text and the JSON document."""
    code = cli.main(["verify", "-d", str(node.root)])
    out = capsys.readouterr()
    json_code = cli.main(["verify", "-d", str(node.root), "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert json_code == code
    return code, out.out + out.err, doc


def pan_450(seq: int):
    """An edit: the captured PAN votes of packet `seq` become 450."""
    def edit(at: int, envelope: dict) -> None:
        if at == seq:
            envelope["body"]["values"]["PAN"] = 450
    return edit


def name_key(key):
    """An edit: the genesis names `key` as the node key."""
    def edit(seq: int, envelope: dict) -> None:
        if seq == 1:
            envelope["body"]["pubkey"] = keys.public_pem(key.public_key()).decode("ascii")
    return edit


async def test_clean_synced_chain_with_its_receipts_verifies(synced, capsys):
    code, text, doc = verify(synced, capsys)
    assert code == 0, text
    assert doc["ok"] is True and doc["receipts"] == len(RECEIPTS) and doc["bad_receipt"] is None
    assert doc["problems"] == [] and doc["head"]["seq"] == 10


async def test_chain_resigned_with_a_new_key_is_caught_by_the_genesis_key_and_the_receipts(
        synced, capsys):
    """Root edits seq 7 and re-signs the whole chain with a key of its own; node.pub now names
    that key, so every signature verifies. The genesis still names the original key, and HQ's
    receipts for seq 7 and 10 name the original hashes, and HQ's log proof for seq 4 names the
    wire line HQ logged, whose signature the new key cannot reproduce."""
    new = keys.generate()
    tamper.reseal(synced.db_path, new, edit=pan_450(7))
    tamper.replace_node_key(synced, new)
    code, text, doc = verify(synced, capsys)
    assert code == 1, text
    assert doc["bad_seq"] == 1 and "seq 1: node.genesis names a different node key" in doc["reason"]
    assert doc["bad_receipt"] == 4 and "log proof for seq 4 no longer holds" in doc["problems"][1]
    assert [p.split(":")[0] for p in doc["problems"]] == [
        "seq 1", "receipt seq 4", "receipt seq 7", "receipt seq 10"]
    assert "FAILED: seq 1: node.genesis names a different node key" in text


async def test_chain_and_genesis_resigned_with_a_new_key_is_caught_by_the_receipts(synced, capsys):
    """Root also rewrites the genesis to name its key: the chain is consistent in itself, and
    only HQ's receipts (signed by HQ, for the original hashes) show it is not the chain HQ holds."""
    new = keys.generate()
    tamper.reseal(synced.db_path, new, edit=name_key(new))
    tamper.replace_node_key(synced, new)
    code, text, doc = verify(synced, capsys)
    assert code == 1, text
    assert doc["bad_receipt"] == 4 and doc["bad_seq"] == 4
    assert "receipt seq 4: HQ acknowledged" in doc["reason"]
    assert len(doc["problems"]) == len(RECEIPTS)
    assert "FAILED: receipt seq 4: HQ acknowledged" in text
    with pytest.raises(CheckFailed, match="fork"):  # and HQ's own copy refuses it
        await sync(synced)


async def test_chain_cut_short_with_acked_seq_lowered_is_caught_by_the_receipts(synced, capsys):
    """Root drops the last two packets and lowers the unsigned acked_seq row to match; the
    chain and sync_link agree, but HQ's signed receipt for seq 10 is still there."""
    tamper.cut_short(synced, keep=8)
    code, text, doc = verify(synced, capsys)
    assert code == 1, text
    assert doc["bad_receipt"] == 10 and doc["bad_seq"] == 9
    assert "ledger ends at seq 8" in doc["reason"]
    assert "FAILED: receipt seq 10:" in text
    with pytest.raises(CheckFailed, match="hq_ahead"):  # and HQ's own copy is longer
        await sync(synced)


async def test_forged_receipts_for_a_rewritten_chain_are_caught_by_the_hq_signature(synced, capsys):
    """Root edits seq 7 and re-signs from there with the node key on disk, then rewrites the
    receipts that no longer match — but cannot sign them as HQ."""
    tamper.reseal(synced.db_path, synced.private_key(), start=7, edit=pan_450(7))
    assert tamper.forge_receipts(synced, keys.generate(), start=7) == [7, 10]
    code, text, doc = verify(synced, capsys)
    assert code == 1, text
    assert doc["bad_receipt"] == 7 and doc["bad_seq"] is None
    assert "receipt seq 7: receipt signature does not verify against the HQ key" in doc["reason"]
    assert len(doc["problems"]) == 2


async def test_receipts_are_not_left_unchecked_when_hq_pubkey_is_dropped(synced, capsys):
    """Dropping hq.pubkey from catd.toml does not turn the receipt signatures off: the node
    stored them only after checking them, so receipts without a key to check are a failure."""
    tamper.reseal(synced.db_path, synced.private_key(), start=7, edit=pan_450(7))
    tamper.forge_receipts(synced, keys.generate(), start=7)
    cfg = synced.config
    synced.config_path.write_text(config.render(
        dataclasses.replace(cfg, hq=dataclasses.replace(cfg.hq, pubkey=None))), encoding="utf-8")
    code, text, doc = verify(DataDir(synced.root), capsys)
    assert code == 1, text
    assert "no hq.pubkey" in doc["reason"]


def test_new_key_before_the_first_sync_is_caught_by_the_genesis_key(node_dir, capsys):
    """No receipt exists yet; the genesis key alone still shows a chain re-signed with a new key."""
    tamper.populate(node_dir)
    new = keys.generate()
    tamper.reseal(node_dir.db_path, new, edit=pan_450(4))
    tamper.replace_node_key(node_dir, new)
    code, text, doc = verify(node_dir, capsys)
    assert code == 1, text
    assert doc["bad_seq"] == 1 and "node.genesis names a different node key" in doc["reason"]
