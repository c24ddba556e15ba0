"""Election file and catd.toml: every bad field is named in the error."""

from __future__ import annotations

import copy
import json
import tomllib
from pathlib import Path

import pytest

from catd_node import catalog, config
from catd_node.errors import BadInput


@pytest.fixture
def election_data(election_file: Path) -> dict:
    return json.loads(election_file.read_text(encoding="utf-8"))


def load_error(tmp_path: Path, data: object) -> BadInput:
    path = tmp_path / "election.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(BadInput) as err:
        catalog.load(path)
    assert str(path) in err.value.what
    return err.value


def test_example_election_loads(election_file):
    election = catalog.load(election_file)
    assert len(election.actas) == 20 and list(election.contests) == ["DIP"]
    contest = election.contest_of("DIP-14-01-0123-B01")
    assert contest is not None and contest.votes[0] == "PAN" and "NULOS" in contest.votes
    assert contest.fields == contest.votes + contest.controls
    assert election.contest_of("NO-EXISTE") is None


@pytest.mark.parametrize("edit, field, why", [
    (lambda d: d["actas"][3].__setitem__("lista_nominal", "600"), "actas[3].lista_nominal", "expected int"),
    (lambda d: d["actas"][3].__setitem__("lista_nominal", True), "actas[3].lista_nominal", "expected int"),
    (lambda d: d["actas"][3].__setitem__("lista_nominal", 612.0), "actas[3].lista_nominal", "expected int"),
    (lambda d: d["actas"][3].__setitem__("lista_nominal", -1), "actas[3].lista_nominal", "≥ 0"),
    (lambda d: d["actas"][5].pop("casilla"), "actas[5].casilla", "missing"),
    (lambda d: d["actas"][2].__setitem__("contest", "GUB"), "actas[2].contest", "unknown contest"),
    (lambda d: d["actas"][4].__setitem__("key", d["actas"][0]["key"]), "actas[4].key", "twice"),
    (lambda d: d["actas"][4].__setitem__("key", "e\u0301"), "actas[4].key", "NFC"),
    (lambda d: d["contests"][0]["votes"].__setitem__(2, ""), "contests[0].votes[2]", "non-empty"),
    (lambda d: d["contests"][0]["votes"].append("PAN"), "contests[0].votes", "repeat"),
    (lambda d: d["contests"][0].pop("controls"), "contests[0].controls", "missing"),
    (lambda d: d.pop("election"), ": election", "missing"),
    (lambda d: d.__setitem__("actas", {}), ": actas", "expected list"),
    (lambda d: d["actas"].__setitem__(1, "DIP-1"), "actas[1]", "JSON object"),
])
def test_bad_election_field_is_named(tmp_path, election_data, edit, field, why):
    data = copy.deepcopy(election_data)
    edit(data)
    err = load_error(tmp_path, data)
    assert err.what.endswith(field), err.what
    assert why in err.why


def test_election_not_json_or_missing(tmp_path):
    path = tmp_path / "e.json"
    path.write_text('{"election": ', encoding="utf-8")
    with pytest.raises(BadInput, match="not valid JSON"):
        catalog.load(path)
    with pytest.raises(BadInput, match="not found"):
        catalog.load(tmp_path / "nope.json")


def test_config_render_parse_round_trip():
    cfg = config.Config(node_id="CATD-14-01", hq=config.HQConfig(urls=("http://a:8700", "https://b"),
                                                                 pubkey="hq.pub"))
    again = config.parse(tomllib.loads(config.render(cfg)))
    assert again == cfg
    assert again.scan.folders == {"scanner-1": "inbox/scanner-1"}


@pytest.mark.parametrize("text, field, why", [
    ('election = "e.json"', "node_id", "missing"),
    ('node_id = 7', "node_id", "expected str"),
    ('node_id = "N"\n[scan]\nsettle_ms = "1500"', "scan.settle_ms", "expected int"),
    ('node_id = "N"\n[scan]\nsettle_ms = true', "scan.settle_ms", "expected int"),
    ('node_id = "N"\n[scan]\nsettle_ms = -5', "scan", "settle_ms"),
    ('node_id = "N"\n[scan.folders]\nscanner-1 = 3', "[scan.folders]", "scanner-id"),
    ('node_id = "N"\n[image]\nformat = "png"', "image.format", "one of"),
    ('node_id = "N"\n[image]\ndpi = 72', "image.dpi", "150–600"),
    ('node_id = "N"\n[image]\nquality = 0', "image.quality", "1–100"),
    ('node_id = "N"\n[image]\ncolor = "sepia"', "image.color", "one of"),
    ('node_id = "N"\n[web]\nport = 70000', "web.port", "TCP port"),
    ('node_id = "N"\n[hq]\nurls = ["ftp://x"]', "hq.urls", "http"),
    ('node_id = "N"\nweb = 3', "[web]", "table"),
    # [sync] is read here with the rest (before: only by sync/client.py, so `catd-node web` or
    # `status` accepted a catd.toml that sync then refused)
    ('node_id = "N"\n[sync]\nretry_cap_s = "soon"', "sync.retry_cap_s", "expected number"),
    ('node_id = "N"\n[sync]\npoll_s = -1', "sync.poll_s", "≥ 0"),
    ('node_id = "N"\n[sync]\nblob_workers = 0', "sync.blob_workers", "at least 1"),
    ('node_id = "N"\n[sync]\nblob_workers = 2.5', "sync.blob_workers", "expected int"),
])
def test_bad_config_field_is_named(tmp_path, text, field, why):
    path = tmp_path / "catd.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(BadInput) as err:
        config.load(path)
    assert err.value.what.startswith(str(path)) and err.value.what.endswith(field), err.value.what
    assert why in err.value.why


def test_every_default_is_the_dataclass_field_default():
    """Defaults are declared once, on the fields: a catd.toml that names nothing gets them."""
    cfg = config.parse({"node_id": "N"})
    assert cfg == config.Config(node_id="N")
    assert cfg.sync == config.SyncConfig() and cfg.sync.blob_workers == 4
    again = config.parse(tomllib.loads(config.render(cfg)))
    assert again == cfg


def test_config_not_toml(tmp_path):
    path = tmp_path / "catd.toml"
    path.write_text("node_id = ", encoding="utf-8")
    with pytest.raises(BadInput, match="not valid TOML"):
        config.load(path)
