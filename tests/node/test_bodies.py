"""The packet bodies as one module (catd_node/bodies.py): every kind the code writes is declared
with its fields, the vocabularies are the code's own, the vectors still verify byte for byte,
docs/packets.md is generated from it, and the ledger refuses what it does not declare."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

from catd_node import actas, bodies, canonical, packets
from catd_node.datadir import DataDir
from catd_node.web import users
from scanners import quarantine
from tests.vectors import generate

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("catd_node", "scanners", "sync", "hq", "simulacro")
KIND_TEXT = re.compile(r"(node|acta|scan|user|device|session)\.[a-z_]+")
FILE_NAMES = frozenset({"node.key", "node.pub", "scan.lock", "acta.html"})  # look like kinds, are files


def _sources() -> list[tuple[Path, ast.AST]]:
    return [(path, ast.parse(path.read_text(encoding="utf-8"), str(path)))
            for package in PACKAGES for path in sorted((REPO / package).rglob("*.py"))]


def _constants(node: ast.AST) -> list[str]:
    """The kinds a first argument can be: a literal, or either branch of `a if c else b`."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.IfExp):
        return _constants(node.body) + _constants(node.orelse)
    return []


def _appends() -> list[tuple[str, str, ast.Call]]:
    """(where, kind, call) for every `<x>.append("<kind>", …)` in the production code."""
    found = []
    for path, tree in _sources():
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "append" and len(node.args) == 2):
                for kind in _constants(node.args[0]):
                    if KIND_TEXT.fullmatch(kind):
                        found.append((f"{path.relative_to(REPO)}:{node.lineno}", kind, node))
    return found


def test_every_kind_the_code_appends_is_declared_with_its_fields():
    appends = _appends()
    assert len(appends) >= 20, "the scan for appends found too little to mean anything"
    problems = []
    for where, kind, call in appends:
        if kind not in bodies.KINDS:
            problems.append(f"{where}: {kind} is not declared")
            continue
        body = call.args[1]
        if isinstance(body, ast.Dict) and all(isinstance(k, ast.Constant) for k in body.keys):
            keys = {k.value for k in body.keys if isinstance(k, ast.Constant)}
            typed = bodies.BODIES[kind]
            if extra := keys - typed.__required_keys__ - typed.__optional_keys__:
                problems.append(f"{where}: {kind} writes undeclared {sorted(extra)}")
            if missing := typed.__required_keys__ - keys:
                problems.append(f"{where}: {kind} lacks {sorted(missing)}")
    assert not problems, problems


def test_every_kind_named_in_the_code_is_declared():
    """A reader of a kind nobody declares (like the stale `acta.resolved`) is found too."""
    named = {}
    for path, tree in _sources():
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                if KIND_TEXT.fullmatch(node.value) and node.value not in FILE_NAMES:
                    named.setdefault(node.value, f"{path.relative_to(REPO)}:{node.lineno}")
    assert {k: w for k, w in named.items() if k not in bodies.KINDS} == {}
    assert packets.KINDS == bodies.KINDS


def test_vocabularies_are_the_codes_own():
    assert {c.value for c in bodies.Class} == set(actas.CLASS_LABELS) == set(actas.CONTABILIZADA)
    assert {r.value for r in bodies.SinActaReason} == set(actas.SIN_ACTA_REASONS)
    assert [r.value for r in bodies.Role] == list(users.ROLES)
    identify_source = (REPO / "scanners" / "identify.py").read_text(encoding="utf-8")
    scanner_ways = set(bodies.IdentifiedBy) - {bodies.IdentifiedBy.CASILLA}  # the phone's statement
    assert all(f'"{how.value}"' in identify_source for how in scanner_ways)
    assert {"scanner", "upload"} == {k.value for k in bodies.SourceKind}
    assert quarantine.REASONS  # scan.quarantined.reason: a code of this table (open: decoders add)


@pytest.mark.parametrize("vector", json.loads(generate.VECTORS.read_text(encoding="utf-8"))["packets"],
                         ids=lambda v: v["envelope"]["kind"])
def test_the_vectors_match_their_bodies_and_keep_their_bytes(vector):
    envelope = vector["envelope"]
    assert bodies.check(envelope["kind"], envelope["body"]) == []
    assert canonical.encode(envelope).decode("utf-8") == vector["canonical"]  # not one byte moved


def test_docs_packets_md_is_generated_from_bodies():
    doc = (REPO / "docs" / "packets.md").read_text(encoding="utf-8")
    assert doc == bodies.render_markdown(), "run: python -m catd_node.bodies > docs/packets.md"
    for kind in bodies.KINDS:
        assert f"## `{kind}`" in doc


def test_the_ledger_refuses_a_body_its_kind_does_not_declare(node_dir: DataDir):
    """Before: any kind and any fields were signed (packets.KINDS was checked by nobody)."""
    ledger = node_dir.ledger()
    try:
        with pytest.raises(packets.PacketError) as err:
            ledger.append("acta.resolved", {"acta": "A"})
        assert "not declared" in err.value.why
        with pytest.raises(packets.PacketError) as err:
            ledger.append("acta.digitized", {
                "image": {"sha256": "a" * 64, "bytes": 1, "format": "webp", "width": 1, "height": 1,
                          "dpi": 200},
                "original": {"sha256": "b" * 64, "bytes": 1, "name": "x.jpg"},
                "source": {"kind": "telefono", "id": "x"}, "acta": None, "identified_by": None,
                "origen": "OFICINA"})
        assert "body.source.kind" in err.value.why and "body.origen" in err.value.why
        assert ledger.head().seq == 1  # nothing appended
        ledger.append("acta.acopio", {"acta": "DIP-14-01-0123-B01", "by": "ana", "in_catalog": True,
                                      "mecanismo_traslado": None, "tipo_documento": "RPP"})
    finally:
        ledger.close()
