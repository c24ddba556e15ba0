"""docs/contracts.md and docs/design.md, held against the code: the contract documents the code
cites ship in the repository and say what the code does (issue 14). A doc that drifts is a bug."""

from __future__ import annotations

import argparse
import dataclasses
import re
import typing
from pathlib import Path

from catd_node import config, errors, packets
from catd_node.cli import build_parser as node_parser
from hq.cli import build_parser as hq_parser
from scanners import quarantine
from sync import protocol
from tests.e2e.conftest import REPO

DOCS = REPO / "docs"
CONTRACTS = (DOCS / "contracts.md").read_text(encoding="utf-8")
DESIGN = (DOCS / "design.md").read_text(encoding="utf-8")
PACKAGES = ("catd_node", "scanners", "sync", "hq", "simulacro")


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _options(parser: argparse.ArgumentParser) -> set[str]:
    return {o for a in parser._actions for o in a.option_strings
            if o.startswith("--") and o not in ("--help", "--version", "--data-dir", "--verbose")
            and a.help != argparse.SUPPRESS}


def _code() -> list[tuple[Path, str]]:
    return [(p, p.read_text(encoding="utf-8"))
            for pkg in PACKAGES for p in sorted((REPO / pkg).rglob("*.py"))]


def test_every_command_and_option_is_documented_and_nothing_else():
    missing = []
    for program, parser in (("catd-node", node_parser()), ("catd-hq", hq_parser())):
        for name, sub in _subcommands(parser).items():
            nested = _subcommands(sub)
            for full, leaf in ([(f"{program} {name} {n}", s) for n, s in nested.items()] if nested
                               else [(f"{program} {name}", sub)]):
                if f"| `{full}" not in CONTRACTS:  # its row in a command table
                    missing.append(full)
                row = CONTRACTS[CONTRACTS.find(f"| `{full}"):]
                row = row[:row.find("\n")]
                missing += [f"{full} {o}" for o in _options(leaf) if o not in row]
    assert not missing, f"docs/contracts.md does not document: {missing}"
    named = set(re.findall(r"`(catd-(?:node|hq) [a-z][a-z-]*)", CONTRACTS))
    known = {f"catd-node {n}" for n in _subcommands(node_parser())} | {
        f"catd-hq {n}" for n in _subcommands(hq_parser())}
    assert named <= known, f"docs/contracts.md names commands the code lacks: {named - known}"


def test_exit_codes_are_the_codes():
    names = [n for n in vars(errors) if n.startswith("EXIT_")]
    assert {"EXIT_OK", "EXIT_BAD_INPUT", "EXIT_CUT_HELD"} <= set(names)
    for name in names:
        assert f"| {getattr(errors, name)} |" in CONTRACTS, name


def test_every_catd_toml_key_is_documented_with_its_default():
    block = CONTRACTS[CONTRACTS.index("```toml"):]
    block = block[:block.index("```\n", 6)]
    sections = {"scan": config.ScanConfig, "image": config.ImageConfig, "web": config.WebConfig,
                "hq": config.HQConfig, "sync": config.SyncConfig}
    parsed = config.parse({"node_id": "N"})
    problems = []
    for section, cls in sections.items():
        body = block[block.index(f"[{section}]"):]
        body = body[:body.find("\n[", 1)] if "\n[" in body[1:] else body
        for field in dataclasses.fields(cls):
            if field.name == "folders":
                continue
            line = next((x for x in body.splitlines() if re.match(rf"#?\s*{field.name} = ", x)), None)
            if line is None:
                problems.append(f"[{section}] {field.name} missing")
                continue
            value = getattr(getattr(parsed, section), field.name)
            if value is not None and not line.startswith("#"):
                shown = line.split(" = ", 1)[1].split("#")[0].strip()
                want = {True: "true", False: "false"}.get(value, value) if isinstance(value, bool) else value
                if isinstance(want, tuple):
                    want = "[" + ", ".join(f'"{v}"' for v in want) + "]"
                elif isinstance(want, str) and not isinstance(value, bool):
                    want = f'"{want}"'
                if shown != str(want):
                    problems.append(f"[{section}] {field.name} shows {shown}, default is {want}")
    top = typing.get_type_hints(config.Config)
    problems += [f"{k} missing" for k in ("node_id", "election") if f"\n{k} = " not in block and k in top]
    assert not problems, problems


def test_the_api_paths_error_codes_and_limits_are_the_protocols():
    for path in (protocol.HEAD_PATH, protocol.PACKETS_PATH, protocol.BLOB_PATH, protocol.RESULTS_PATH,
                 protocol.CONFLICTS_PATH):
        assert path in CONTRACTS, path
    codes = {v for k, v in vars(protocol).items() if k.isupper() and isinstance(v, str)
             and re.fullmatch(r"[a-z_]+", v)} - {"application"}
    assert {c for c in codes if f"`{c}`" not in CONTRACTS} == set()
    assert protocol.RECEIPT_DOMAIN.decode().replace("\n", "\\n") in CONTRACTS
    assert packets.DOMAIN.decode().replace("\n", "\\n") in CONTRACTS
    batch = f"at most {protocol.MAX_BATCH_LINES} lines and {protocol.MAX_BATCH_BYTES // 2**20} MiB"
    assert batch in CONTRACTS
    assert f"at most {protocol.MAX_BLOB_BYTES // 2**20} MiB" in CONTRACTS
    for field in (*protocol.RECEIPT_FIELDS, "sig"):
        assert f'"{field}"' in CONTRACTS


def test_quarantine_reasons_and_status_fields_are_documented():
    assert [r for r in quarantine.REASONS if f"`{r}`" not in CONTRACTS] == []
    for key in ("node_id", "head", "packets", "quarantined", "actas", "hq", "configured", "problem",
                "acked_seq", "last_receipt_at", "last_error", "lag_packets", "lag_blobs", "lag_bytes"):
        assert f'"{key}"' in CONTRACTS, key


def test_the_docs_the_code_cites_ship_in_the_repository():
    """Before: the code cited CONTRACTS.md, DESIGN, PREP.md, COMMON.md, /work/notes/PROTOCOL.md and
    'anchors §4' — none of them in the repository."""
    outside = []
    for path, text in _code():
        for cited in re.findall(r"[\w./-]+\.md\b", text):
            if not (REPO / cited).is_file():
                outside.append(f"{path.relative_to(REPO)}: {cited}")
        if "anchors §" in text or "/work/" in text:
            outside.append(f"{path.relative_to(REPO)}: a document outside the repository")
    assert not outside, outside


def test_every_invariant_the_code_cites_is_in_docs_design_md():
    numbered = dict(re.findall(r"^(\d)\. \*\*([^*]+)\*\*", DESIGN, re.M))
    assert list(numbered) == [str(n) for n in range(1, 8)]
    cited = {n for _, text in _code() for n in re.findall(r"[Ii]nvariant (\d)", text)}
    assert cited and cited <= set(numbered), cited - set(numbered)
