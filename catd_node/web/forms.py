"""Form input for clerks: acta keys and captured values, with errors in Spanish per field."""

from __future__ import annotations

from collections.abc import Container, Mapping
from dataclasses import dataclass
from typing import Any

from catd_node import actas, keys_format
from catd_node.catalog import Contest, Election
from catd_node.errors import BadInput

SHORTHAND = {"I": actas.ILEGIBLE, "S": actas.SIN_DATO}
MAX_RAW = 20


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


def read_values(contest: Contest, form: Mapping[str, Any]) -> Entry:
    """Every field of the contest from a submitted form; a blank is an error, never 0."""
    raw: dict[str, str] = {}
    normal: dict[str, str] = {}
    errors: dict[str, str] = {}
    for f in contest.fields:
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
        values = actas.parse_values(contest, normal)
    except BadInput as exc:  # the shared rules have the last word
        return Entry(raw, None, {exc.what: _spanish(raw.get(exc.what, ""))})
    return Entry(raw, values, {})


def shown(value: Any) -> str:
    """A stored value as a clerk reads it."""
    return {actas.ILEGIBLE: "ILEGIBLE", actas.SIN_DATO: "SIN DATO"}.get(value, str(value)) \
        if value is not None else "—"
