"""Acta values and the official classification; node and HQ share this one implementation.

A captured value is an integer 0–99999, "ILEGIBLE" or "SIN_DATO" (left blank). An acta
counts in totals once captured and verified; ILEGIBLE/SIN_DATO vote fields count as 0 and
are listed as observations. All-unreadable actas, actas over the nominal list and actas
outside the catalog are reported with their class and left out of the totals.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from catd_node.catalog import Contest, Election
from catd_node.errors import BadInput

ILEGIBLE = "ILEGIBLE"
SIN_DATO = "SIN_DATO"
MAX_VALUE = 99_999
Value = int | str

# Classes (stable identifiers in packets, JSON and CSV) and their Spanish labels for clerks.
COUNTED = "counted"
ALL_UNREADABLE = "all_unreadable"
EXCEEDS_NOMINAL = "exceeds_lista_nominal"
OUT_OF_CATALOG = "out_of_catalog"
CLASS_LABELS = {
    COUNTED: "Contabilizada",
    ALL_UNREADABLE: "Todos los campos ilegibles o sin dato",
    EXCEEDS_NOMINAL: "Cómputo excede la lista nominal",
    OUT_OF_CATALOG: "Acta fuera del catálogo",
}
OBSERVATION_LABELS = {ILEGIBLE: "ilegible", SIN_DATO: "sin dato"}


def parse_value(raw: Any, field: str) -> Value:
    """A captured value from form or JSON input; a blank is never silently 0."""
    if isinstance(raw, bool):
        raise BadInput(field, "expected a number, ILEGIBLE or SIN_DATO")
    if isinstance(raw, int):
        value = raw
    elif isinstance(raw, str):
        text = raw.strip().upper()
        if text in (ILEGIBLE, SIN_DATO):
            return text
        if text == "":
            raise BadInput(field, "empty: type a number, or mark it ILEGIBLE or SIN_DATO")
        if not text.isdecimal() or not text.isascii():
            raise BadInput(field, f"{raw[:20]!r} is not a whole number")
        if len(text.lstrip("0")) > len(str(MAX_VALUE)):  # before int(): huge digit strings
            raise BadInput(field, f"{text[:20]}… is outside 0–{MAX_VALUE}")
        value = int(text)
    else:
        raise BadInput(field, "expected a number, ILEGIBLE or SIN_DATO")
    if not 0 <= value <= MAX_VALUE:
        raise BadInput(field, f"{value} is outside 0–{MAX_VALUE}")
    return value


def parse_values(contest: Contest, raw: dict[str, Any]) -> dict[str, Value]:
    """Every field of `contest` parsed from `raw`; unknown or missing fields are errors."""
    unknown = sorted(set(raw) - set(contest.fields))
    if unknown:
        raise BadInput(unknown[0], f"not a field of contest {contest.id}")
    missing = [f for f in contest.fields if f not in raw]
    if missing:
        raise BadInput(missing[0], "missing: type a number, or mark it ILEGIBLE or SIN_DATO")
    return {f: parse_value(raw[f], f) for f in contest.fields}


@dataclass(frozen=True)
class Classification:
    cls: str
    counted: bool
    votes: dict[str, int]          # vote fields with ILEGIBLE/SIN_DATO as 0
    total: int                     # computed total of the vote fields
    observations: tuple[str, ...]  # e.g. "PAN: ilegible"

    @property
    def label(self) -> str:
        return CLASS_LABELS[self.cls]


def classify(election: Election, key: str, values: dict[str, Value]) -> Classification:
    """The class of a captured acta under the published rules."""
    spec = election.actas.get(key)
    contest = election.contests.get(spec.contest) if spec else None
    vote_fields = contest.votes if contest else tuple(
        f for f in values if f not in ("TOTAL_ASENTADO", "PERSONAS_VOTARON",
                                       "REPRESENTANTES_VOTARON", "BOLETAS_SOBRANTES")
    )
    votes = {f: v if isinstance(v := values.get(f, SIN_DATO), int) else 0 for f in vote_fields}
    observations = tuple(
        f"{f}: {OBSERVATION_LABELS[str(values.get(f, SIN_DATO))]}"
        for f in vote_fields if not isinstance(values.get(f, SIN_DATO), int)
    )
    total = sum(votes.values())
    if spec is None:
        cls = OUT_OF_CATALOG
    elif vote_fields and len(observations) == len(vote_fields):
        cls = ALL_UNREADABLE
    else:
        reps = values.get("REPRESENTANTES_VOTARON")
        limit = spec.lista_nominal + (reps if isinstance(reps, int) else 0)
        cls = EXCEEDS_NOMINAL if total > limit else COUNTED
    return Classification(cls, cls == COUNTED, votes, total, observations)
