"""Every kind of tampering with a stored ledger makes `catd-node verify` exit 1 naming it."""

from __future__ import annotations

import json
import sqlite3

import pytest

from catd_node import canonical, cli, keys, packets
from catd_node.datadir import DataDir
from tests.node import tamper


@pytest.fixture
def blob_names(node_dir: DataDir) -> list[str]:
    return tamper.populate(node_dir)


@pytest.fixture
def node(node_dir: DataDir, blob_names: list[str]) -> DataDir:
    return node_dir


def verify(node: DataDir, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, dict]:
    """Run `catd-node verify` twice (text and --json); return the exit code, text, JSON."""
    code = cli.main(["verify", "-d", str(node.root)])
    out = capsys.readouterr()
    json_code = cli.main(["verify", "-d", str(node.root), "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert json_code == code
    return code, out.out + out.err, doc


def failed_at(node: DataDir, capsys: pytest.CaptureFixture[str], seq: int) -> str:
    code, text, doc = verify(node, capsys)
    assert code == 1, text
    assert f"FAILED: seq {seq}:" in text
    assert doc["ok"] is False and doc["bad_seq"] == seq and doc["head"]["seq"] == seq - 1
    return text


def test_untouched_ledger_verifies(node, capsys):
    code, text, doc = verify(node, capsys)
    assert code == 0, text
    assert doc == {"ok": True, "packets": 10, "head": doc["head"], "blobs": 3, "receipts": 0,
                   "bad_seq": None, "bad_blob": None, "bad_receipt": None, "reason": None, "problems": []}
    assert doc["head"]["seq"] == 10


def test_triggers_refuse_update_and_delete(node):
    conn = sqlite3.connect(str(node.db_path))
    try:
        with pytest.raises(sqlite3.IntegrityError, match="UPDATE refused"):
            conn.execute("UPDATE packets SET kind = 'acta.verified' WHERE seq = 2")
        with pytest.raises(sqlite3.IntegrityError, match="DELETE refused"):
            conn.execute("DELETE FROM packets WHERE seq = 10")
        with pytest.raises(sqlite3.IntegrityError):
            conn.execute("UPDATE packets SET canonical = canonical || x'00'")
    finally:
        conn.close()
    assert tamper.row(node.db_path, 10)[1]


def test_dropped_triggers_alone_fail_verify(node, capsys):
    conn = sqlite3.connect(str(node.db_path))
    conn.execute("DROP TRIGGER packets_no_delete")
    conn.commit()
    conn.close()
    code, text, doc = verify(node, capsys)
    assert code == 1
    assert "packets_no_delete" in text and "packets_no_delete" in doc["reason"]


@pytest.mark.parametrize("offset", [0, 17, -1])
def test_flip_one_byte_of_canonical(node, capsys, offset):
    data, _, _ = tamper.row(node.db_path, 4)
    changed = bytearray(data)
    changed[offset] ^= 0x01
    with tamper.opened(node.db_path) as conn:
        conn.execute("UPDATE packets SET canonical = ? WHERE seq = 4", (bytes(changed),))
    assert "hash does not match" in failed_at(node, capsys, 4)


def test_sql_replace_turns_canonical_into_text(node, capsys):
    """An edit with SQL string functions stores TEXT; verify still reads the bytes."""
    with tamper.opened(node.db_path) as conn:
        conn.execute("UPDATE packets SET canonical = replace(canonical, '\"PAN\":11', '\"PAN\":99')"
                     " WHERE seq = 7")
        assert conn.execute("SELECT typeof(canonical) FROM packets WHERE seq = 7").fetchone()[0] == "text"
    failed_at(node, capsys, 7)


def _rewrite_body(node: DataDir, seq: int) -> tuple[bytes, bytes]:
    data, _, _ = tamper.row(node.db_path, seq)
    envelope = canonical.decode(data)
    envelope["body"]["values"]["PAN"] = 450
    new = canonical.encode(envelope)
    return new, packets.digest(new)


def test_body_changed_rehashed_not_resigned(node, capsys):
    new, raw = _rewrite_body(node, 4)
    with tamper.opened(node.db_path) as conn:
        conn.execute("UPDATE packets SET canonical = ?, hash = ? WHERE seq = 4", (new, raw.hex()))
    assert "signature does not verify" in failed_at(node, capsys, 4)


def test_body_changed_resigned_with_another_key(node, capsys):
    new, raw = _rewrite_body(node, 4)
    with tamper.opened(node.db_path) as conn:
        conn.execute("UPDATE packets SET canonical = ?, hash = ?, sig = ? WHERE seq = 4",
                     (new, raw.hex(), keys.generate().sign(raw)))
    assert "signature does not verify" in failed_at(node, capsys, 4)


def test_body_changed_with_the_stolen_node_key_breaks_the_next_link(node, capsys):
    new, raw = _rewrite_body(node, 4)
    with tamper.opened(node.db_path) as conn:
        conn.execute("UPDATE packets SET canonical = ?, hash = ?, sig = ? WHERE seq = 4",
                     (new, raw.hex(), node.private_key().sign(raw)))
    assert "does not link" in failed_at(node, capsys, 5)


@pytest.mark.parametrize("seq", [1, 5])
def test_drop_a_row(node, capsys, seq):
    with tamper.opened(node.db_path) as conn:
        conn.execute("DELETE FROM blob_refs WHERE seq = ?", (seq,))
        conn.execute("DELETE FROM packets WHERE seq = ?", (seq,))
    text = failed_at(node, capsys, seq)
    assert f"missing (the next stored packet is seq {seq + 1})" in text


def test_reorder_two_rows(node, capsys):
    with tamper.opened(node.db_path) as conn:
        conn.execute("UPDATE packets SET seq = 1000 WHERE seq = 6")
        conn.execute("UPDATE packets SET seq = 6 WHERE seq = 5")
        conn.execute("UPDATE packets SET seq = 5 WHERE seq = 1000")
    assert "envelope seq 6 differs from stored seq 5" in failed_at(node, capsys, 5)


def test_swap_signatures_between_packets(node, capsys):
    _, _, sig5 = tamper.row(node.db_path, 5)
    _, _, sig6 = tamper.row(node.db_path, 6)
    with tamper.opened(node.db_path) as conn:
        conn.execute("UPDATE packets SET sig = ? WHERE seq = 5", (sig6,))
        conn.execute("UPDATE packets SET sig = ? WHERE seq = 6", (sig5,))
    assert "signature does not verify" in failed_at(node, capsys, 5)


def test_replace_node_pub(node, capsys):
    node.pub_path.write_bytes(keys.public_pem(keys.generate().public_key()))
    assert "signature does not verify" in failed_at(node, capsys, 1)


def test_chain_must_start_with_genesis(tmp_path, capsys, node_dir):
    """A ledger rebuilt without its genesis, every packet signed by the node key, still fails."""
    key = node_dir.private_key()
    with tamper.opened(node_dir.db_path) as conn:
        conn.execute("DELETE FROM packets")
        p = packets.seal(key, node="CATD-14-01", seq=1, prev=packets.ZERO_HASH,
                         kind="acta.acopio", body={"acta": "X"})
        conn.execute("INSERT INTO packets (seq, hash, kind, at, canonical, sig)"
                     " VALUES (1, ?, ?, ?, ?, ?)", (p.hash, p.kind, p.at, p.canonical, p.sig))
    assert "must start with node.genesis" in failed_at(node_dir, capsys, 1)


def _blob_failure(node: DataDir, capsys: pytest.CaptureFixture[str], sha: str, why: str) -> None:
    code, text, doc = verify(node, capsys)
    assert code == 1, text
    assert sha in text and why in text and "referenced by seq 6" in text
    assert doc["bad_blob"] == sha and doc["bad_seq"] is None


def test_delete_a_blob(node, blob_names, capsys):
    sha = blob_names[1]
    node.blobs().path(sha).unlink()
    _blob_failure(node, capsys, sha, "missing")


def test_alter_a_blobs_bytes(node, blob_names, capsys):
    sha = blob_names[1]
    path = node.blobs().path(sha)
    data = bytearray(path.read_bytes())
    data[100] ^= 0x40
    path.write_bytes(bytes(data))
    _blob_failure(node, capsys, sha, "not to its name")


def test_every_bad_blob_is_listed(node, blob_names, capsys):
    for sha in blob_names:
        node.blobs().path(sha).unlink()
    _, _, doc = verify(node, capsys)
    assert doc["bad_blob"] == blob_names[0]
    assert [p.split()[1] for p in doc["problems"]] == blob_names


def test_damaged_database_file_is_a_failed_check(node, capsys):
    with node.db_path.open("r+b") as f:
        f.seek(0)
        f.write(b"garbage" * 20)
    code = cli.main(["verify", "-d", str(node.root)])
    assert code == 1
    assert "database unreadable" in capsys.readouterr().err


def test_missing_public_key_is_bad_input(node, capsys):
    node.pub_path.unlink()
    assert cli.main(["verify", "-d", str(node.root)]) == 2
    assert "node.pub" in capsys.readouterr().err


def test_ledger_cut_short_below_what_hq_acknowledged(node, capsys, monkeypatch):
    """Dropping the last packets leaves a valid chain; HQ's receipts show the cut."""
    from catd_node import status

    with tamper.opened(node.db_path) as conn:
        conn.execute("DELETE FROM packets WHERE seq >= 9")
    code, text, _ = verify(node, capsys)
    assert code == 0, text  # the chain alone cannot show a cut at its end
    monkeypatch.setattr(status, "hq_summary", lambda conn: {"acked_seq": 10})
    text = failed_at(node, capsys, 9)
    assert "HQ acknowledged packets up to seq 10" in text
