"""`catd-node init`, `status` and `export` driven in process, as a user would run them."""

from __future__ import annotations

import io
import json
import stat
from pathlib import Path

import pytest

from catd_node import cli, config, keys, packets, verify
from catd_node.datadir import DataDir
from tests.node import tamper


def init(root: Path, election: Path, *extra: str) -> int:
    return cli.main(["init", "-d", str(root), "--node-id", "CATD-14-01", "--election", str(election),
                     *extra])


def test_init_then_verify(tmp_path, election_file, capsys):
    root = tmp_path / "catd"
    assert init(root, election_file, "--hq-url", "http://127.0.0.1:8700") == 0
    assert "initialised CATD-14-01" in capsys.readouterr().out
    for name in ("catd.toml", "node.key", "node.pub", "catd.db", "election.json"):
        assert (root / name).is_file(), name
    for name in ("blobs", "inbox/scanner-1", "processed", "quarantine"):
        assert (root / name).is_dir(), name
    assert stat.S_IMODE((root / "node.key").stat().st_mode) == 0o600
    assert (root / "node.key").read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    cfg = config.load(root / "catd.toml")
    assert cfg.node_id == "CATD-14-01" and cfg.hq.urls == ("http://127.0.0.1:8700",)
    d = DataDir(root)
    assert keys.public_pem(d.private_key().public_key()) == (root / "node.pub").read_bytes()
    genesis = d.ledger().packets(1)[0]
    assert genesis.kind == "node.genesis" and genesis.prev == packets.ZERO_HASH
    assert genesis.body["pubkey"] == (root / "node.pub").read_text()
    assert genesis.body["actas_expected"] == 20
    assert cli.main(["verify", "-d", str(root)]) == 0
    assert "ok: 1 packets" in capsys.readouterr().out


def test_init_twice_refuses_and_keeps_the_key(tmp_path, election_file, capsys):
    root = tmp_path / "catd"
    assert init(root, election_file) == 0
    key = (root / "node.key").read_bytes()
    capsys.readouterr()
    assert init(root, election_file) == 2
    err = capsys.readouterr().err
    assert "node.key" in err and "refusing to overwrite" in err
    assert (root / "node.key").read_bytes() == key
    assert cli.main(["verify", "-d", str(root)]) == 0


def test_init_refuses_a_dir_with_a_database(tmp_path, election_file, capsys):
    root = tmp_path / "catd"
    assert init(root, election_file) == 0
    (root / "node.key").unlink()
    assert init(root, election_file) == 2
    assert "catd.db" in capsys.readouterr().err
    assert not (root / "node.key").exists()


def test_write_private_refuses_overwrite(tmp_path):
    path = tmp_path / "k"
    keys.write_private(path, keys.generate())
    before = path.read_bytes()
    with pytest.raises(Exception, match="refusing to overwrite"):
        keys.write_private(path, keys.generate())
    assert path.read_bytes() == before


def test_init_bad_election_names_the_field_and_creates_nothing(tmp_path, election_file, capsys):
    data = json.loads(election_file.read_text(encoding="utf-8"))
    data["actas"][3]["lista_nominal"] = "mucho"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data), encoding="utf-8")
    root = tmp_path / "catd"
    assert init(root, bad) == 2
    assert f"error: {bad}: actas[3].lista_nominal: expected int" in capsys.readouterr().err
    assert not root.exists()


@pytest.mark.parametrize("extra, named", [
    (["--hq-url", "ftp://hq"], "--hq-url"),
    (["--hq-pubkey", "/nonexistent/hq.pub"], "hq.pub"),
])
def test_init_bad_hq_options(tmp_path, election_file, capsys, extra, named):
    assert init(tmp_path / "catd", election_file, *extra) == 2
    assert named in capsys.readouterr().err
    assert not (tmp_path / "catd" / "node.key").exists()


def test_init_bad_node_id(tmp_path, election_file, capsys):
    assert cli.main(["init", "-d", str(tmp_path / "c"), "--node-id", "CATD 14/01",
                     "--election", str(election_file)]) == 2
    assert "--node-id" in capsys.readouterr().err


def test_init_with_hq_pubkey(tmp_path, election_file):
    hq = tmp_path / "hq.pub"
    keys.write_public(hq, keys.generate().public_key())
    assert init(tmp_path / "catd", election_file, "--hq-pubkey", str(hq)) == 0
    d = DataDir(tmp_path / "catd")
    assert d.config.hq.pubkey == "hq.pub" and d.hq_public_key() is not None


def test_data_dir_from_environment(tmp_path, election_file, monkeypatch, capsys):
    monkeypatch.setenv("CATD_DATA_DIR", str(tmp_path / "env-catd"))
    assert cli.main(["init", "--node-id", "CATD-14-01", "--election", str(election_file)]) == 0
    assert cli.main(["verify"]) == 0
    assert (tmp_path / "env-catd" / "node.key").exists()


def test_commands_on_a_missing_dir_are_bad_input(tmp_path, capsys):
    for command in (["verify"], ["status", "--json"], ["export", "--packets", "-"]):
        assert cli.main([*command, "-d", str(tmp_path / "nothing")]) == 2
        assert "catd-node init" in capsys.readouterr().err


def test_status_json_has_the_contract_keys(node_dir, capsys):
    tamper.populate(node_dir, actas=2)
    assert cli.main(["status", "-d", str(node_dir.root), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert set(doc) == {"node_id", "head", "packets", "actas", "quarantined", "hq", "disk"}
    assert doc["disk"]["state"] == "ok" and doc["disk"]["claimed_waiting"] == 0
    assert doc["disk"]["free_bytes"] > 0 and set(doc["disk"]["free_by_place"]) == {"blobs", "db"}
    assert set(doc["head"]) == {"seq", "hash"} and set(doc["hq"]) >= {
        "acked_seq", "last_receipt_at", "last_error"}
    assert doc["node_id"] == "CATD-14-01" and doc["packets"] == 7 and doc["head"]["seq"] == 7
    assert doc["actas"]["expected"] == 20
    assert doc["actas"]["received"] == 2 and doc["actas"]["digitized"] == 2
    assert doc["actas"]["captured"] == 2 and doc["actas"]["verified"] == 0
    assert doc["quarantined"] == 0
    assert cli.main(["status", "-d", str(node_dir.root)]) == 0
    assert "CATD-14-01: 7 packets" in capsys.readouterr().out


def test_export_lines_parse_and_reverify(node_dir, tmp_path, capsys):
    tamper.populate(node_dir)
    out = tmp_path / "packets.ndjson"
    assert cli.main(["export", "-d", str(node_dir.root), "--packets", str(out)]) == 0
    lines = out.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 10
    exported = [packets.from_wire(line, f"line {n}") for n, line in enumerate(lines, 1)]
    assert [p.seq for p in exported] == list(range(1, 11))
    report = verify.verify_chain(iter(exported), keys.read_public(node_dir.pub_path), "CATD-14-01", None)
    assert report.ok and report.packets == 10
    conn = node_dir.reader()
    assert exported[-1].hash == conn.execute("SELECT hash FROM packets WHERE seq = 10").fetchone()[0]
    conn.close()
    capsys.readouterr()
    assert cli.main(["export", "-d", str(node_dir.root), "--packets", "-"]) == 0
    assert capsys.readouterr().out.splitlines() == lines
    # an auditor's copy with one changed line fails verification at that line
    doc = json.loads(lines[4])
    doc["canonical"] = doc["canonical"].replace('"by":"ana"', '"by":"eva"')
    changed = [*exported[:4], packets.from_wire(json.dumps(doc), "line 5"), *exported[5:]]
    bad = verify.verify_chain(iter(changed), keys.read_public(node_dir.pub_path), "CATD-14-01", None)
    assert not bad.ok and bad.bad_seq == 5


def test_export_of_damaged_bytes_names_the_seq(node_dir, tmp_path, capsys):
    tamper.populate(node_dir)
    with tamper.opened(node_dir.db_path) as conn:
        conn.execute("UPDATE packets SET canonical = ? WHERE seq = 4", (b"\xff\xfe not utf-8",))
    capsys.readouterr()
    out = tmp_path / "packets.ndjson"
    assert cli.main(["export", "-d", str(node_dir.root), "--packets", str(out)]) == 1
    err = capsys.readouterr().err
    assert "seq 4" in err and "not UTF-8" in err
    assert len(out.read_text(encoding="utf-8").splitlines()) == 3  # what was sound is kept


@pytest.mark.parametrize("argv", [
    ["user", "-d", "{root}", "add", "rosa", "--role", "capturista"],  # before: -d was reset by `add`
    ["user", "add", "rosa", "--role", "capturista", "-d", "{root}"],
    ["-d", "{root}", "user", "add", "rosa", "--role", "capturista"],  # before: -d unknown up front
])
def test_user_add_honours_d_wherever_it_is_given(tmp_path, election_file, monkeypatch, capsys, argv):
    root = tmp_path / "catd"
    assert init(root, election_file) == 0
    monkeypatch.chdir(tmp_path)  # ./catd-data does not exist here: only -d can name the dir
    monkeypatch.delenv("CATD_DATA_DIR", raising=False)
    monkeypatch.setattr("sys.stdin", io.StringIO("rosa-captura-2027\n"))
    code = cli.main([a.replace("{root}", str(root)) for a in argv])
    assert code == 0, capsys.readouterr().err
    conn = DataDir(root).reader()
    try:
        assert conn.execute("SELECT role FROM web_users WHERE name = 'rosa'").fetchone() == ("capturista",)
    finally:
        conn.close()


@pytest.mark.parametrize("place", ["before", "after"])
def test_both_clis_take_d_before_or_after_the_command(tmp_path, election_file, capsys, place):
    from hq import cli as hq_cli

    root, hq_root = tmp_path / "catd", tmp_path / "hq"
    assert init(root, election_file) == 0
    assert hq_cli.main(["init", "-d", str(hq_root)]) == 0
    capsys.readouterr()
    node_argv = (["-d", str(root), "status", "--json"] if place == "before"
                 else ["status", "--json", "-d", str(root)])
    assert cli.main(node_argv) == 0
    assert json.loads(capsys.readouterr().out)["node_id"] == "CATD-14-01"
    hq_argv = (["-d", str(hq_root), "status", "--json"] if place == "before"
               else ["status", "--json", "-d", str(hq_root)])
    assert hq_cli.main(hq_argv) == 0
    assert "nodes" in json.loads(capsys.readouterr().out)
