"""The count: the 13 summary fields and the totals over classified actas (docs/rules.md, "Summary").

One implementation for HQ's results, the release, verify-release and the rehearsal's
comparison. Percentages are truncated to four decimals with integer arithmetic: a float
could round 95.08426… up, and real systems have published exactly that mistake.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from catd_node.actas import ALL_UNREADABLE, COUNTED, EXCEEDS_NOMINAL, OUT_OF_CATALOG, SIN_ACTA, Classification
from catd_node.catalog import Election

# The names exactly as the 2024 template's header line prints them (LEEME_G.txt), its
# misspelt LISTA_NOMINAL_ACTAS_CONTABILZADAS included: a release is read by name, and readers
# of the real files expect the real names. The shared PREP notes write the 8th without CON
# and the 10th spelt right; where those notes and a LEEME differ, the LEEME wins.
SUMMARY_FIELDS = (
    "ACTAS_ESPERADAS", "ACTAS_REGISTRADAS", "ACTAS_FUERA_CATALOGO", "ACTAS_CAPTURADAS",
    "PORCENTAJE_ACTAS_CAPTURADAS", "ACTAS_CONTABILIZADAS", "PORCENTAJE_ACTAS_CONTABILIZADAS",
    "PORCENTAJE_ACTAS_CON_INCONSISTENCIAS", "ACTAS_NO_CONTABILIZADAS",
    "LISTA_NOMINAL_ACTAS_CONTABILZADAS", "TOTAL_VOTOS_C_CS", "TOTAL_VOTOS_S_CS",
    "PORCENTAJE_PARTICIPACION_CIUDADANA",
)


def percent(part: int, whole: int) -> str:
    """part / whole × 100 with exactly four decimals, truncated (2031/2136 → "95.0842")."""
    if whole <= 0:
        return "0.0000"
    scaled = part * 1_000_000 // whole
    return f"{scaled // 10_000}.{scaled % 10_000:04d}"


@dataclass(frozen=True)
class Summary:
    esperadas: int
    registradas: int
    fuera_catalogo: int
    capturadas: int
    contabilizadas: int
    inconsistencias: int
    no_contabilizadas: int
    lista_nominal_contabilizadas: int
    total_votos_c_cs: int
    total_votos_s_cs: int
    final: bool
    totals: dict[str, int] = field(default_factory=dict)   # vote field → votes over counted actas
    classes: dict[str, int] = field(default_factory=dict)

    @property
    def participation(self) -> str:
        """During the night without casillas especiales (S_CS); at the final cut with them."""
        votes = self.total_votos_c_cs if self.final else self.total_votos_s_cs
        return percent(votes, self.lista_nominal_contabilizadas)

    def fields(self) -> dict[str, str]:
        """The 13 summary fields as the release prints them, in template order."""
        values = (
            self.esperadas, self.registradas, self.fuera_catalogo, self.capturadas,
            percent(self.capturadas, self.esperadas), self.contabilizadas,
            percent(self.contabilizadas, self.esperadas), percent(self.inconsistencias, self.esperadas),
            self.no_contabilizadas, self.lista_nominal_contabilizadas, self.total_votos_c_cs,
            self.total_votos_s_cs, self.participation,
        )
        return {name: str(value) for name, value in zip(SUMMARY_FIELDS, values, strict=True)}


def summarize(election: Election, actas: Iterable[tuple[str, Classification]], final: bool = False,
              *, by_field: bool = True) -> Summary:
    """The summary over every registered acta (each key once: callers pick the one that counts).
    `by_field=False` leaves `totals` empty: the 13 fields alone (a national release needs
    them for 170,648 actas before its first row; the vote totals are the site's)."""
    classes: dict[str, int] = {}
    totals: dict[str, int] = {}
    for contest in election.contests.values():
        totals.update(dict.fromkeys(contest.votes, 0))
    if not by_field:
        totals = {}
    registradas = fuera = inconsistencias = ln = c_cs = s_cs = 0
    for key, result in actas:
        registradas += 1
        classes[result.cls] = classes.get(result.cls, 0) + 1
        if result.cls == OUT_OF_CATALOG:
            fuera += 1
            continue
        inconsistencias += result.inconsistent
        if result.cls != COUNTED:
            continue
        spec = election.actas[key]
        ln += spec.lista_nominal
        c_cs += result.total
        s_cs += 0 if spec.especial else result.total
        if by_field:
            for name, votes in result.votes.items():
                totals[name] = totals.get(name, 0) + votes
    return Summary(
        esperadas=len(election.actas), registradas=registradas, fuera_catalogo=fuera,
        capturadas=registradas - fuera, contabilizadas=classes.get(COUNTED, 0),
        inconsistencias=inconsistencias,
        no_contabilizadas=sum(classes.get(c, 0) for c in (EXCEEDS_NOMINAL, ALL_UNREADABLE, SIN_ACTA)),
        lista_nominal_contabilizadas=ln, total_votos_c_cs=c_cs, total_votos_s_cs=s_cs, final=final,
        totals=totals, classes=classes,
    )
