"""What real releases vary in, named in one place (docs/dialects.md).

Read from the LEEMEs of 2018, 2021 and 2024 (domain-data) and from releases seen: the cut
line's date order and time-zone label, `TIPO_ACTA` padded or not inside `CLAVE_ACTA`, the
observation texts of each year (mapped to the 2024 template's wording, the one we publish),
and what a sin acta row prints in its cells. Header names are in `columns.py`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from hq.release.model import fold

# Cut-line date forms: (name, pattern). Hours with or without seconds.
_TIME = r"\s*(\d{1,2}):(\d{2})(?::\d{2})?"
DATE_ORDERS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("DD/MM/YYYY", re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})" + _TIME)),
    ("YYYY/MM/DD", re.compile(r"(\d{4})/(\d{1,2})/(\d{1,2})" + _TIME)),
    ("YYYY-MM-DD", re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})[T\s]?" + _TIME)),
    ("DD-MM-YYYY", re.compile(r"(\d{1,2})-(\d{1,2})-(\d{4})" + _TIME)),
)
_UTC_LABEL = re.compile(r"\(?\s*(?:UTC|GMT)\s*([+\-−–])\s*(\d{1,2})(?::(\d{2}))?\s*\)?", re.IGNORECASE)
# Named zones of Mexico (Ley del Sistema de Horario): standard offset, and whether the zone
# kept summer time before 2023 (the 2022 law ended it; Quintana Roo's Sureste has none).
NAMED_ZONES: dict[str, tuple[int, bool]] = {
    "TIEMPO DEL CENTRO": (-6, True), "HORA DEL CENTRO": (-6, True), "CENTRO": (-6, True),
    "TIEMPO DEL PACIFICO": (-7, True), "HORA DEL PACIFICO": (-7, True),
    "TIEMPO DEL NOROESTE": (-8, True), "HORA DEL NOROESTE": (-8, True),
    "TIEMPO DEL SURESTE": (-5, False), "HORA DEL SURESTE": (-5, False),
}


@dataclass(frozen=True)
class CutLine:
    text: str                 # as printed, spaces collapsed
    order: str                # one of DATE_ORDERS' names
    day: date
    timezone: str | None      # `UTC-6`; None: no label could be read


def _summer(day: date) -> bool:
    """Mexico's summer time before 2023: first Sunday of April to last Sunday of October."""
    if day.year >= 2023:
        return False
    april = date(day.year, 4, 1)
    start = april.replace(day=1 + (6 - april.weekday()) % 7)
    october_end = date(day.year, 10, 31)
    end = october_end.replace(day=31 - (october_end.weekday() + 1) % 7)
    return start <= day < end


def timezone_label(text: str, day: date | None) -> str | None:
    """`(UTC-6)`, `UTC-5`, `GMT-6`, `(Tiempo del Centro)` → `UTC-6` (a named zone on its date)."""
    match = _UTC_LABEL.search(text)
    if match:
        sign = "+" if match.group(1) == "+" else "-"
        minutes = f":{match.group(3)}" if match.group(3) and match.group(3) != "00" else ""
        return f"UTC{sign}{int(match.group(2))}{minutes}"
    folded = fold(text)
    for name, (offset, summer) in sorted(NAMED_ZONES.items(), key=lambda kv: -len(kv[0])):
        if name in folded:
            if summer and day is not None and _summer(day):
                offset += 1
            return f"UTC{offset:+d}"
    return None


def cut_line(text: str) -> CutLine | None:
    """The cut line in any date order, or None when the text is no date and time."""
    cleaned = " ".join(text.split())
    for name, pattern in DATE_ORDERS:
        match = pattern.match(cleaned)
        if not match:
            continue
        a, b, c = (int(g) for g in match.groups()[:3])
        year, month, day = (c, b, a) if name.startswith("DD") else (a, b, c)
        try:
            when = date(year, month, day)
        except ValueError:
            continue
        return CutLine(cleaned, name, when, timezone_label(cleaned[match.end():], when))
    return None


# Observation texts of each year → the 2024 template's wording (accents folded for matching).
OBSERVATIONS: dict[str, str] = {
    "ALGUN CAMPO ILEGIBLE O SIN DATO": "ALGÚN CAMPO ILEGIBLE O SIN DATO",
    "ALGUN DATO ILEGIBLE O SIN DATO": "ALGÚN CAMPO ILEGIBLE O SIN DATO",
    "ILEGIBLE": "ALGÚN CAMPO ILEGIBLE O SIN DATO",
    "SIN DATO": "ALGÚN CAMPO ILEGIBLE O SIN DATO",
    "ALGUN CAMPO ILEGIBLE": "ALGÚN CAMPO ILEGIBLE O SIN DATO",
    "ALGUN CAMPO SIN DATO": "ALGÚN CAMPO ILEGIBLE O SIN DATO",
    "TODOS ILEGIBLES O SIN DATO": "TODOS ILEGIBLES O SIN DATO",
    "TODOS LOS CAMPOS ILEGIBLES": "TODOS ILEGIBLES O SIN DATO",
    "TODOS LOS CAMPOS SIN DATO": "TODOS ILEGIBLES O SIN DATO",
    "TODOS LOS CAMPOS VACIOS": "TODOS ILEGIBLES O SIN DATO",
    "TODOS LOS CAMPOS ILEGIBLES O SIN DATO": "TODOS ILEGIBLES O SIN DATO",
    "EXCEDE LISTA NOMINAL": "EXCEDE LISTA NOMINAL",
    "FUERA DE CATALOGO": "FUERA DE CATÁLOGO",
    "SIN ACTA POR CASILLA NO INSTALADA": "SIN ACTA POR CASILLA NO INSTALADA",
    "SIN ACTA (CASILLA NO INSTALADA)": "SIN ACTA POR CASILLA NO INSTALADA",
    "CASILLA NO INSTALADA": "SIN ACTA POR CASILLA NO INSTALADA",
    "SIN ACTA POR PAQUETE NO ENTREGADO": "SIN ACTA POR PAQUETE NO ENTREGADO",
    "SIN ACTA (PAQUETE NO ENTREGADO)": "SIN ACTA POR PAQUETE NO ENTREGADO",
    "PAQUETE NO ENTREGADO": "SIN ACTA POR PAQUETE NO ENTREGADO",
    "SIN ACTA POR PAQUETE ENTREGADO SIN BOLSA": "SIN ACTA POR PAQUETE ENTREGADO SIN BOLSA",
    "SIN ACTA POR PAQUETE ENTREGADO SIN SOBRE": "SIN ACTA POR PAQUETE ENTREGADO SIN BOLSA",
    "SIN ACTA (SIN SOBRE)": "SIN ACTA POR PAQUETE ENTREGADO SIN BOLSA",
    "SIN ACTA (SIN BOLSA)": "SIN ACTA POR PAQUETE ENTREGADO SIN BOLSA",
    "SIN SOBRE": "SIN ACTA POR PAQUETE ENTREGADO SIN BOLSA",
    "SIN BOLSA": "SIN ACTA POR PAQUETE ENTREGADO SIN BOLSA",
}
# The year whose wording a text belongs to, for `catalog --check`.
OBSERVATION_YEARS: dict[str, str] = {
    "ALGUN DATO ILEGIBLE O SIN DATO": "2019", "SIN ACTA POR PAQUETE ENTREGADO SIN SOBRE": "2019",
    "TODOS LOS CAMPOS ILEGIBLES": "2018/2021", "TODOS LOS CAMPOS SIN DATO": "2018",
    "TODOS LOS CAMPOS VACIOS": "2021", "SIN SOBRE": "2018/2021",
    "ALGUN CAMPO ILEGIBLE O SIN DATO": "2024", "TODOS ILEGIBLES O SIN DATO": "2024",
    "SIN ACTA POR PAQUETE ENTREGADO SIN BOLSA": "2024",
}


def _key(part: str) -> str:
    return " ".join(fold(part).replace("–", "-").split())


def observation(part: str) -> str:
    """One observation as the 2024 template words it; an unknown text is kept, upper-cased."""
    return OBSERVATIONS.get(_key(part), " ".join(part.split()).upper())


def observations(text: str) -> frozenset[str]:
    """A row's observations (comma-separated), each in the 2024 wording, accents folded."""
    return frozenset(fold(observation(p)) for p in text.split(",") if p.strip())


def vocabulary_year(texts: list[str]) -> str | None:
    """The year whose observation wording a release uses, from its distinct texts."""
    years = {OBSERVATION_YEARS[_key(p)] for t in texts for p in t.split(",") if _key(p) in OBSERVATION_YEARS}
    return "+".join(sorted(years)) or None


# What a sin acta row prints in its vote and control cells (nothing was read): 0, `-`, blank
# or `SIN ACTA`, by institute and year.
SIN_ACTA_CELLS = (0, "-", None, "SIN_ACTA", "N/A")


def clave_acta_forms(clave_casilla: str, tipo_acta: str) -> tuple[str, ...]:
    """The spellings of CLAVE_ACTA a release may print for these parts: TIPO_ACTA as in its
    column, and padded to two digits (`230085B0100` + `2` → `…01002` as well as `…0102`)."""
    forms = [clave_casilla + tipo_acta]
    if tipo_acta.isdecimal() and len(tipo_acta) < 2:
        forms.append(clave_casilla + tipo_acta.zfill(2))
    if tipo_acta.isdecimal() and tipo_acta.startswith("0") and len(tipo_acta) > 1:
        forms.append(clave_casilla + tipo_acta.lstrip("0"))
    return tuple(forms)
