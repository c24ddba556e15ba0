"""The election catalog: contests, their fields, and the actas expected at this CATD."""

from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from catd_node.errors import BadInput


@dataclass(frozen=True)
class Contest:
    id: str
    name: str
    votes: tuple[str, ...]      # parties, coalitions, candidates, CNR, NULOS
    controls: tuple[str, ...]   # TOTAL_ASENTADO, PERSONAS_VOTARON, …

    @property
    def fields(self) -> tuple[str, ...]:
        return self.votes + self.controls


@dataclass(frozen=True)
class ActaSpec:
    key: str
    contest: str
    seccion: int
    casilla: str
    lista_nominal: int


@dataclass(frozen=True)
class Election:
    name: str
    contests: dict[str, Contest]
    actas: dict[str, ActaSpec]

    def contest_of(self, key: str) -> Contest | None:
        spec = self.actas.get(key)
        return self.contests.get(spec.contest) if spec else None


def _at(where: str, key: str) -> str:
    """`file: actas[3]` + `lista_nominal` → `file: actas[3].lista_nominal`; top level `file: key`."""
    return f"{where} {key}" if where.endswith(":") else f"{where}.{key}"


def _field(obj: Any, key: str, kind: type, where: str) -> Any:
    if not isinstance(obj, dict):
        raise BadInput(where.rstrip(":"), "expected a JSON object")
    if key not in obj:
        raise BadInput(_at(where, key), "missing")
    value = obj[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise BadInput(_at(where, key), f"expected {kind.__name__}, got {value!r}")
    return value


def _names(obj: Any, key: str, where: str) -> tuple[str, ...]:
    items = _field(obj, key, list, where)
    for i, item in enumerate(items):
        if not isinstance(item, str) or not item:
            raise BadInput(f"{where}.{key}[{i}]", f"expected a non-empty string, got {item!r}")
        if not unicodedata.is_normalized("NFC", item):
            raise BadInput(f"{where}.{key}[{i}]", "not in Unicode NFC form (packets refuse it)")
    if len(set(items)) != len(items):
        raise BadInput(f"{where}.{key}", "names repeat")
    return tuple(items)


def parse(data: Any, source: str = "election") -> Election:
    """Build an Election from parsed JSON, naming the bad field (e.g. `actas[3].lista_nominal`)."""
    top = f"{source}:"
    name = _field(data, "election", str, top)
    contests: dict[str, Contest] = {}
    for i, raw in enumerate(_field(data, "contests", list, top)):
        where = f"{source}: contests[{i}]"
        contest = Contest(
            id=_field(raw, "id", str, where), name=_field(raw, "name", str, where),
            votes=_names(raw, "votes", where), controls=_names(raw, "controls", where),
        )
        if not contest.votes:
            raise BadInput(f"{where}.votes", "a contest needs at least one vote field")
        if contest.id in contests:
            raise BadInput(f"{where}.id", f"contest {contest.id!r} is defined twice")
        if set(contest.votes) & set(contest.controls):
            raise BadInput(where, "a field cannot be both a vote and a control")
        contests[contest.id] = contest
    actas: dict[str, ActaSpec] = {}
    for i, raw in enumerate(_field(data, "actas", list, top)):
        where = f"{source}: actas[{i}]"
        spec = ActaSpec(
            key=_field(raw, "key", str, where), contest=_field(raw, "contest", str, where),
            seccion=_field(raw, "seccion", int, where), casilla=_field(raw, "casilla", str, where),
            lista_nominal=_field(raw, "lista_nominal", int, where),
        )
        if not spec.key.strip() or len(spec.key) > 64:
            raise BadInput(f"{where}.key", "must be 1–64 characters")
        if not unicodedata.is_normalized("NFC", spec.key):
            raise BadInput(f"{where}.key", "not in Unicode NFC form (packets refuse it)")
        if spec.contest not in contests:
            raise BadInput(f"{where}.contest", f"unknown contest {spec.contest!r}")
        if spec.lista_nominal < 0:
            raise BadInput(f"{where}.lista_nominal", "must be ≥ 0")
        if spec.key in actas:
            raise BadInput(f"{where}.key", f"acta {spec.key!r} is listed twice")
        actas[spec.key] = spec
    return Election(name=name, contests=contests, actas=actas)


def load(path: Path) -> Election:
    """Read and validate an election file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise BadInput(str(path), "election file not found") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadInput(str(path), f"not valid JSON ({exc})") from exc
    return parse(data, str(path))
