"""Form input for clerks: acta keys and captured values, with errors in Spanish per field."""

from __future__ import annotations

import hashlib
from collections.abc import Container, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from catd_node import actas, keys_format, wording
from catd_node.catalog import COALICION, INDEPENDIENTE, NO_REGISTRADOS, NULOS, PARTIDO, Contest, Election
from catd_node.errors import BadInput

SHORTHAND = {"I": actas.ILEGIBLE, "S": actas.SIN_DATO}
MAX_RAW = 20
# How the capture form groups an acta's fields, in ballot order (docs/election-file.md):
# parties, then coalition combinations, then independents, no registrados and nulos; the
# controls come apart because they never decide the class (Anexo 13).
VOTE_GROUPS = (
    ("Partidos políticos", (PARTIDO,)),
    ("Combinaciones de coalición", (COALICION,)),
    ("Candidaturas independientes, no registradas y votos nulos", (INDEPENDIENTE, NO_REGISTRADOS, NULOS)),
)
CONTROL_GROUP = "Controles (no deciden la clasificación)"


def field_name(field: str) -> str:
    """The form input name of a contest field."""
    return "v_" + field


def check_key(raw: str, catalog: Container[str]) -> str:
    """An acta key as typed or read by a barcode gun, trimmed: a key of the catalog, or text that
    looks like an acta key (`keys_format`), so a formula or a stray character never becomes one."""
    key = raw.strip()
    if not key:
        raise BadInput("clave", "escriba o lea la clave del acta")
    if not keys_format.acceptable(key, catalog):
        shown = "".join(c if c.isprintable() else "�" for c in key[:64]) + ("…" if len(key) > 64 else "")
        raise BadInput("clave", f"«{shown}» no es una clave de acta: fuera del catálogo solo se aceptan"
                                " letras sin acento, dígitos, «-» y «_» (hasta 64, empezando con letra"
                                " o dígito)")
    return key


def contest_for(election: Election, key: str) -> Contest:
    """The acta's contest; for a key outside the catalog, the contest its prefix names, else the first."""
    contest = election.contest_of(key)
    if contest is not None:
        return contest
    for cid, candidate in election.contests.items():
        if key.upper().startswith(cid.upper() + "-"):
            return candidate
    return next(iter(election.contests.values()))


def fields_for(election: Election, key: str) -> tuple[str, ...]:
    """What a clerk types for this acta: the vote fields on its own ballot, then the controls.

    A field not on the ballot is never offered (it publishes as `-`). A key outside the
    catalog that no contest's TIPO_ACTA names is captured under `contest_for`'s contest."""
    return election.fields_of(key) or contest_for(election, key).fields


def groups(election: Election, key: str) -> list[tuple[str, tuple[str, ...]]]:
    """The acta's fields under their headings, each group in ballot order; empty groups left out."""
    fields = election.fields_of(key)
    contest = election.contest_of(key) or election.contest_for_unknown(key)
    if not fields or contest is None:
        contest = contest_for(election, key)
        fields = contest.fields
    out = [(title, tuple(f for f in fields if contest.kinds.get(f) in kinds)) for title, kinds in VOTE_GROUPS]
    out.append((CONTROL_GROUP, tuple(f for f in fields if f not in contest.kinds)))
    return [(title, names) for title, names in out if names]


def _spanish(raw: str) -> str:
    text = raw.strip()
    if text == "":
        return "Vacío: escriba un número, o I (ilegible) o S (sin dato)."
    if text.isdecimal() and text.isascii():
        return f"Fuera de rango: use de 0 a {actas.MAX_VALUE}."
    return "No es un número entero: escriba un número, o I (ilegible) o S (sin dato)."


@dataclass(frozen=True)
class Entry:
    raw: dict[str, str]                 # what the clerk typed, shown again on error
    values: dict[str, actas.Value] | None
    errors: dict[str, str]


def read_values(fields: Sequence[str], form: Mapping[str, Any]) -> Entry:
    """Every one of `fields` (see `fields_for`) from a submitted form; a blank is an error, never 0.

    Inputs for other fields are ignored: only the acta's own ballot is ever stored."""
    raw: dict[str, str] = {}
    normal: dict[str, str] = {}
    errors: dict[str, str] = {}
    for f in fields:
        value = form.get(field_name(f), "")
        text = (value if isinstance(value, str) else "")[:MAX_RAW]
        raw[f] = text
        normal[f] = SHORTHAND.get(text.strip().upper(), text)
        try:
            actas.parse_value(normal[f], f)
        except BadInput:
            errors[f] = _spanish(text)
    if errors:
        return Entry(raw, None, errors)
    try:
        values = actas.parse_values(fields, normal)
    except BadInput as exc:  # the shared rules have the last word
        return Entry(raw, None, {exc.what: _spanish(raw.get(exc.what, ""))})
    return Entry(raw, values, {})


def shown(value: Any) -> str:
    """A stored value as a clerk reads it."""
    return {actas.ILEGIBLE: "ILEGIBLE", actas.SIN_DATO: "SIN DATO"}.get(value, str(value)) \
        if value is not None else "—"


ASENTADO = ("TOTAL_VOTOS_ASENTADO", "TOTAL_ASENTADO")


def field_label(contest: Contest, field: str) -> str:
    """A field as the acta prints it (`PAN – PRI – PRD`, `VOTOS NULOS`, `TOTAL DE VOTOS
    ASENTADO EN EL ACTA`): the same words as the public site, from `catd_node.wording`."""
    return wording.field_label(field, contest.kinds.get(field), contest)


def warnings(election: Election, key: str, values: Mapping[str, actas.Value]) -> dict[str, str]:
    """Values that cannot be, though they parse: a vote above the acta's ceiling (lista nominal
    plus representatives), or an asentado far from the sum of the votes. Not errors: the clerk
    confirms them (the acta may say so) or corrects a typo."""
    out: dict[str, str] = {}
    contest = contest_for(election, key)
    limit = actas.ceiling(election, key)
    ballot = election.ballot(key) or contest.votes
    if limit is not None:
        for f in ballot:
            v = values.get(f)
            if isinstance(v, int) and v > limit:
                out[f] = (f"{v} es más que la lista nominal más representantes ({limit}) de esta casilla.")
    votes = [v for f in ballot if isinstance(v := values.get(f), int)]
    for f in ASENTADO:
        v = values.get(f)
        if isinstance(v, int) and f in contest.controls and len(votes) == len(ballot):
            total = sum(votes)
            if abs(v - total) > max(10, total // 10):
                out[f] = f"asentado {v}, pero la suma de los votos capturados es {total}."
    return out


def warning_token(warned: Mapping[str, str], values: Mapping[str, Any]) -> str:
    """What a confirmation confirms: these warnings on these values (a changed value asks again)."""
    text = "\n".join(f"{f}={values.get(f)}" for f in sorted(warned))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
