"""Acta values and the official classification (Anexo 13); node and HQ share this one implementation.

A captured value is an integer 0–99999, "ILEGIBLE" or "SIN_DATO" (left blank). Only the vote
fields on the acta's own ballot are captured and summed; a field not on it is published as
`-`, which is neither 0 nor SIN DATO. Control fields are captured and published but never
decide a class. See docs/rules.md for the rule as the law states it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from catd_node.catalog import CANDIDACY_KINDS, Contest, Election
from catd_node.errors import BadInput

ILEGIBLE = "ILEGIBLE"
SIN_DATO = "SIN_DATO"
NOT_ON_BALLOT = "-"
MAX_VALUE = 99_999
Value = int | str

# Classes: stable identifiers in packets, JSON and CSV.
COUNTED = "counted"
ALL_UNREADABLE = "all_unreadable"
EXCEEDS_NOMINAL = "exceeds_lista_nominal"
OUT_OF_CATALOG = "out_of_catalog"
SIN_ACTA = "sin_acta"
CLASS_LABELS = {
    COUNTED: "Contabilizada",
    ALL_UNREADABLE: "Todos ilegibles o sin dato",
    EXCEEDS_NOMINAL: "Excede lista nominal",
    OUT_OF_CATALOG: "Acta fuera de catálogo",
    SIN_ACTA: "Sin acta",
}

# OBSERVACIONES as the 2024 template (LEEME_G) words them; several join with ", ".
OBS_EXCEDE = "EXCEDE LISTA NOMINAL"
OBS_TODOS = "TODOS ILEGIBLES O SIN DATO"
OBS_ALGUN = "ALGÚN CAMPO ILEGIBLE O SIN DATO"
OBS_FUERA = "FUERA DE CATÁLOGO"
# Reasons an expected acta never arrived (stable id → published observation).
SIN_ACTA_REASONS = {
    "paquete_no_entregado": "SIN ACTA POR PAQUETE NO ENTREGADO",
    "casilla_no_instalada": "SIN ACTA POR CASILLA NO INSTALADA",
    "paquete_sin_bolsa": "SIN ACTA POR PAQUETE ENTREGADO SIN BOLSA",
}
SIN_ACTA_LABELS = {
    "paquete_no_entregado": "Paquete no entregado",
    "casilla_no_instalada": "Casilla no instalada",
    "paquete_sin_bolsa": "Paquete entregado sin bolsa (sin sobre)",
}
# CONTABILIZADA: 1 counted, 0 not counted, 2 outside the catalog.
CONTABILIZADA = {COUNTED: 1, ALL_UNREADABLE: 0, EXCEEDS_NOMINAL: 0, SIN_ACTA: 0, OUT_OF_CATALOG: 2}
_SPELLINGS = {ILEGIBLE: ILEGIBLE, SIN_DATO: SIN_DATO, "SIN DATO": SIN_DATO}


def parse_value(raw: Any, field: str) -> Value:
    """A captured value from form, JSON or release input; a blank is never silently 0."""
    if isinstance(raw, bool):
        raise BadInput(field, "expected a number, ILEGIBLE or SIN_DATO")
    if isinstance(raw, int):
        value = raw
    elif isinstance(raw, str):
        text = raw.strip().upper()
        if text in _SPELLINGS:
            return _SPELLINGS[text]
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


def parse_values(fields: Contest | Iterable[str], raw: dict[str, Any]) -> dict[str, Value]:
    """Every field in `fields` parsed from `raw`; unknown or missing fields are errors.

    Pass `election.fields_of(key)` (the acta's own ballot and the controls); a Contest means
    all of its fields (first-form callers)."""
    wanted = fields.fields if isinstance(fields, Contest) else tuple(fields)
    unknown = sorted(set(raw) - set(wanted))
    if unknown:
        raise BadInput(unknown[0], "not a field on this acta")
    missing = [f for f in wanted if f not in raw]
    if missing:
        raise BadInput(missing[0], "missing: type a number, or mark it ILEGIBLE or SIN_DATO")
    return {f: parse_value(raw[f], f) for f in wanted}


def acta_values(election: Election, key: str, raw: Any) -> dict[str, Value]:
    """Signed values of an acta re-validated as the node's own capture rules would (HQ's check)."""
    if not isinstance(raw, dict):
        raise BadInput("values", "expected an object of field → value")
    fields = election.fields_of(key)
    if not fields:
        raise BadInput(key, "no contest of this election matches the acta")
    return parse_values(fields, raw)


@dataclass(frozen=True)
class Classification:
    cls: str
    counted: bool
    votes: dict[str, int]          # ballot vote fields, ILEGIBLE/SIN_DATO as 0
    total: int                     # TOTAL_VOTOS_CALCULADO
    observations: tuple[str, ...]  # the published OBSERVACIONES, in order
    unreadable: tuple[str, ...] = ()   # vote fields that are ILEGIBLE or SIN_DATO
    ceiling: int | None = None     # lista nominal (or ballot maximum) + 2 × candidacies

    @property
    def label(self) -> str:
        return CLASS_LABELS[self.cls]

    @property
    def contabilizada(self) -> int:
        return CONTABILIZADA[self.cls]

    @property
    def inconsistent(self) -> bool:
        """Counts in PORCENTAJE_ACTAS_CON_INCONSISTENCIAS (never sin acta or fuera de catálogo)."""
        unreadable_but_counted = self.cls == COUNTED and bool(self.unreadable)
        return self.cls in (EXCEEDS_NOMINAL, ALL_UNREADABLE) or unreadable_but_counted

    @property
    def published_observations(self) -> str:
        return ", ".join(self.observations)


def unreadable_detail(values: dict[str, Value], fields: Iterable[str]) -> str:
    """For clerks: which vote fields are unreadable, e.g. "PAN ilegible, PRD sin dato"."""
    words = {ILEGIBLE: "ilegible", SIN_DATO: "sin dato"}
    return ", ".join(f"{f} {words[str(values[f])]}" for f in fields if values.get(f) in words)


def ceiling(election: Election, key: str) -> int | None:
    """The most votes an acta may hold: lista nominal, or the ballot maximum of a casilla
    especial, plus 2 (propietario and suplente) × the parties and independents on its ballot."""
    spec = election.actas.get(key)
    contest = election.contest_of(key)
    if spec is None or contest is None:
        return None
    candidacies = sum(1 for f in election.ballot(key) if contest.kinds[f] in CANDIDACY_KINDS)
    base = election.max_boletas_especial if spec.especial else spec.lista_nominal
    return base + 2 * candidacies


def classify(election: Election, key: str, values: dict[str, Value]) -> Classification:
    """The class of a captured acta under Anexo 13; control fields never decide it."""
    ballot = election.ballot(key)
    read = {f: values.get(f, SIN_DATO) for f in ballot}
    votes = {f: v if isinstance(v, int) else 0 for f, v in read.items()}
    unreadable = tuple(f for f, v in read.items() if not isinstance(v, int))
    total = sum(votes.values())
    limit = ceiling(election, key)
    some = (OBS_ALGUN,) if unreadable else ()
    if key not in election.actas:
        return Classification(OUT_OF_CATALOG, False, votes, total, (OBS_FUERA,), unreadable)
    if limit is not None and total > limit:
        return Classification(EXCEEDS_NOMINAL, False, votes, total, (OBS_EXCEDE, *some), unreadable, limit)
    if ballot and len(unreadable) == len(ballot):
        return Classification(ALL_UNREADABLE, False, votes, total, (OBS_TODOS,), unreadable, limit)
    return Classification(COUNTED, True, votes, total, some, unreadable, limit)


def sin_acta(election: Election, key: str, reason: str) -> Classification:
    """An expected acta registered as never having arrived: not counted, reason published."""
    if reason not in SIN_ACTA_REASONS:
        raise BadInput("motivo", f"{reason!r} is not one of {', '.join(SIN_ACTA_REASONS)}")
    if key not in election.actas:
        raise BadInput(key, "only an acta of the catalog can be registered as sin acta")
    return Classification(SIN_ACTA, False, {}, 0, (SIN_ACTA_REASONS[reason],),
                          ceiling=ceiling(election, key))


def published(election: Election, key: str, values: dict[str, Value], field: str) -> str:
    """A vote or control cell as the release prints it: number, ILEGIBLE, SIN DATO or `-`."""
    contest = election.contest_of(key) or election.contest_for_unknown(key)
    if contest is not None and field in contest.kinds and field not in election.ballot(key):
        return NOT_ON_BALLOT
    value = values.get(field, SIN_DATO)
    return str(value) if isinstance(value, int) else ("SIN DATO" if value == SIN_DATO else ILEGIBLE)
