"""What the results site shows, computed from a cut's records: vote bars by party and
coalition field and by candidacy, and the progress of each district and CATD.

Pure functions over the same records and summary the results CSV is written from, so the
site can never say something the signed cut does not.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from catd_node import actas, tally, wording
from catd_node.catalog import (
    COALICION,
    INDEPENDIENTE,
    NO_REGISTRADOS,
    NULOS,
    PARTIDO,
    ActaSpec,
    Contest,
    Election,
)
from hq.count import ActaRecord
from hq.release.candidaturas import Candidacy, parties_of

# Colours of the national parties (their emblems); others grey. Bars carry a dark outline,
# so a light colour (PRD's yellow) still stands 3:1 against the page (WCAG 1.4.11).
COLOURS = {"PAN": "#0b4fa3", "PRI": "#00843d", "PRD": "#ffd400", "PVEM": "#4fae32", "PT": "#d8232a",
           "MC": "#f47c20", "MORENA": "#8c1c13"}
OTHER = "#7a7a7a"
_SAFE_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


def colour(label: str) -> str:
    first = label[2:] if label.startswith("C_") else label
    return COLOURS.get(first.split("_")[0], OTHER)


def _chips(parties: Iterable[str]) -> tuple[tuple[str, str], ...]:
    return tuple((p, COLOURS.get(p, OTHER)) for p in parties)


@dataclass(frozen=True)
class Bar:
    field: str           # the release's code: PAN, PVEM_PT_MORENA, CAND_IND_1 (a candidacy's PARTIDO_CSP)
    label: str           # as the ballot prints it: `PAN – PRI – PRD`, `Votos nulos`
    name: str            # who runs (a candidacy's propietaria), or ""
    votes: int
    percent: str         # of the votes counted, four decimals truncated
    colour: str
    parties: tuple[tuple[str, str], ...] = ()   # (party, its colour), ballot order

    @property
    def title(self) -> str:
        """What a reader is told first: the person, else the party or coalition."""
        return self.name or self.label

    @property
    def share(self) -> float:
        return float(self.percent)


@dataclass(frozen=True)
class Headline:
    """The boxes at the top of a page: actas and votes as the PREP sites show them."""
    esperadas: int
    capturadas: int
    capturadas_pct: str
    contabilizadas: int
    contabilizadas_pct: str
    lista_nominal: int
    votos: int
    participacion: str

    @classmethod
    def of(cls, summary: tally.Summary) -> Headline:
        fields = summary.fields()
        return cls(summary.esperadas, summary.capturadas, fields["PORCENTAJE_ACTAS_CAPTURADAS"],
                   summary.contabilizadas, fields["PORCENTAJE_ACTAS_CONTABILIZADAS"],
                   summary.lista_nominal_contabilizadas, summary.total_votos_c_cs, summary.participation)


@dataclass(frozen=True)
class Table:
    """A votes table: its rows, then the total row (every vote of the counted actas)."""
    rows: tuple[Bar, ...]
    others: tuple[Bar, ...]     # candidaturas no registradas, votos nulos
    total: int

    @property
    def all(self) -> tuple[Bar, ...]:
        return self.rows + self.others


def _ballot_parties(election: Election, names: Iterable[str]) -> list[str]:
    wanted = set(names)
    order: list[str] = []
    for contest in election.contests.values():
        order += [f.name for f in contest.vote_fields if f.name in wanted and f.name not in order]
    return order + sorted(wanted - set(order))


def field_bars(election: Election, summary: tally.Summary) -> list[Bar]:
    """One bar per party, coalition and independent field of the ballot, ballot order."""
    total = summary.total_votos_c_cs
    bars: list[Bar] = []
    for contest in election.contests.values():
        parties = {f.name for f in contest.vote_fields if f.kind == PARTIDO}
        for f in contest.vote_fields:
            if f.kind in (NO_REGISTRADOS, NULOS) or any(b.field == f.name for b in bars):
                continue
            members = [f.name] if f.kind == PARTIDO else \
                [p for p in contest.votes if p in parties_of(f.name, parties)] if f.kind == COALICION else []
            votes = summary.totals.get(f.name, 0)
            bars.append(Bar(f.name, wording.reader_label(f.name, f.kind, contest), "", votes,
                            tally.percent(votes, total), colour(f.name), _chips(members)))
    return bars


def other_bars(election: Election, summary: tally.Summary) -> list[Bar]:
    """No registrados and nulos, shown apart from the candidacies."""
    total = summary.total_votos_c_cs
    out: list[Bar] = []
    for contest in election.contests.values():
        for f in contest.vote_fields:
            if f.kind in (NO_REGISTRADOS, NULOS) and not any(b.field == f.name for b in out):
                votes = summary.totals.get(f.name, 0)
                out.append(Bar(f.name, wording.reader_label(f.name, f.kind, contest), "", votes,
                               tally.percent(votes, total), OTHER))
    return out


def candidacy_bars(items: Iterable[Candidacy], summary: tally.Summary,
                   election: Election | None = None) -> list[Bar]:
    """One bar per candidacy: the votes of all its fields (a coalition's parties and every
    combination of them), as the PREP sites show «votos por candidatura». A coalition takes
    the colour of its party with the most votes of its own."""
    total = summary.total_votos_c_cs
    bars = []
    for c in items:
        votes = sum(summary.totals.get(f, 0) for f in c.fields)
        parties = _ballot_parties(election, c.parties) if election is not None else sorted(c.parties)
        if parties:
            label = wording.COALITION_SEP.join(parties)
            lead = max(parties, key=lambda p: (summary.totals.get(p, 0), -parties.index(p)))
            shade = COLOURS.get(lead, OTHER)
        else:
            label, shade = wording.reader_label(c.label, INDEPENDIENTE), OTHER
        bars.append(Bar(c.label, label, c.propietaria, votes, tally.percent(votes, total), shade,
                        _chips(parties)))
    return sorted(bars, key=lambda b: -b.votes)


def table(rows: Iterable[Bar], others: Iterable[Bar], summary: tally.Summary) -> Table:
    return Table(tuple(rows), tuple(others), summary.total_votos_c_cs)


@dataclass
class Area:
    """The progress of a district or a CATD."""
    id: str
    name: str
    esperadas: int = 0
    capturadas: int = 0
    contabilizadas: int = 0
    lista_nominal: int = 0
    votos: int = 0
    keys: list[str] = field(default_factory=list)

    @property
    def capturadas_pct(self) -> str:
        return tally.percent(self.capturadas, self.esperadas)

    @property
    def contabilizadas_pct(self) -> str:
        return tally.percent(self.contabilizadas, self.esperadas)

    @property
    def participacion(self) -> str:
        return tally.percent(self.votos, self.lista_nominal)


def _areas(election: Election, records: dict[str, ActaRecord], by: str) -> list[Area]:
    areas: dict[str, Area] = {}
    for key, spec in election.actas.items():
        if by == "catd":
            ident, name = spec.catd or "—", spec.catd or "Sin CATD asignado"
        else:
            number = spec.distrito if spec.distrito is not None else spec.municipio
            ident = "sin-distrito" if number is None else f"{number:03d}"
            name = wording.area(spec, election) or "Sin distrito"
        area = areas.setdefault(ident, Area(ident, name))
        area.esperadas += 1
        area.keys.append(key)
        record = records.get(key)
        if record is None:
            continue
        area.capturadas += 1
        if record.classification.cls == actas.COUNTED:
            area.contabilizadas += 1
            area.lista_nominal += spec.lista_nominal
            area.votos += record.classification.total
    return sorted(areas.values(), key=lambda a: a.id)


def districts(election: Election, records: dict[str, ActaRecord]) -> list[Area]:
    return _areas(election, records, "distrito")


def catds(election: Election, records: dict[str, ActaRecord]) -> list[Area]:
    return _areas(election, records, "catd")


def page_name(key: str) -> str:
    """An acta page's file name: the key itself when it is a safe file name (every catalog
    key is), else a digest of it (a key typed for an acta outside the catalog)."""
    return key if _SAFE_NAME.fullmatch(key) else "x" + hashlib.sha256(key.encode()).hexdigest()[:32]


def acta_path(election: Election, key: str) -> str:
    """`acta/001/090001B0100A02.html`; actas outside the catalog under `acta/fuera/`."""
    spec = election.actas.get(key)
    if spec is None:
        folder = "fuera"
    else:
        number = spec.distrito if spec.distrito is not None else spec.municipio
        folder = "sin-distrito" if number is None else f"{number:03d}"
    return f"acta/{folder}/{page_name(key)}.html"


def area_summary(election: Election, records: dict[str, ActaRecord], keys: Iterable[str],
                 final: bool) -> tally.Summary:
    """The summary of the actas `keys` (a district, a sección): its esperadas are those keys."""
    keys = list(keys)
    held = [(k, records[k].classification) for k in keys if k in records]
    whole = tally.summarize(election, held, final=final)
    return dataclasses.replace(whole, esperadas=len(keys))


def seccion_path(spec: ActaSpec) -> str:
    return f"seccion/{spec.seccion:04d}.html"


def seccion_title(specs: Iterable[ActaSpec]) -> str:
    """`Sección 0056`; sección 0000 by what it holds (`Sección 0000 · Voto desde el extranjero`)."""
    specs = list(specs)
    number = specs[0].seccion if specs else 0
    if number == 0:
        kinds = []
        for spec in specs:
            name = wording.seccion(spec)
            if not name.startswith("Sección") and name not in kinds:
                kinds.append(name)
        if kinds:
            words = ", ".join([kinds[0], *(k.lower() for k in kinds[1:-1])])
            if len(kinds) > 1:
                words += f" y {kinds[-1].lower()}"
            return f"Sección 0000 · {words}"
    return f"Sección {number:04d}"


def casilla_in_list(spec: ActaSpec) -> str:
    """A casilla in a table of actas: `Contigua 02`; a mesa of sección 0000 with what it is
    (`Voto anticipado · Mesa 01`), since one sección 0000 may hold several kinds."""
    if spec.seccion == 0 and spec.tipo_casilla in wording.SECCION_CERO:
        return f"{wording.seccion(spec)} · {wording.casilla(spec)}"
    return wording.casilla(spec)


def range_of(seccion: int) -> str:
    """The index page of a sección's hundred: `0001-0099`, `0100-0199` (0000 stands alone)."""
    if seccion == 0:
        return "0000"
    low = seccion // 100 * 100
    return f"{max(low, 1):04d}-{low + 99:04d}"


@dataclass(frozen=True)
class VoteRow:
    """A vote field of one acta, as its page shows it."""
    field: str
    label: str
    value: str          # `120`, `Ilegible`, `Sin dato`
    votes: int
    percent: str        # of the acta's total
    colour: str
    parties: tuple[tuple[str, str], ...]


Plan = tuple[tuple[str, str, str, tuple[tuple[str, str], ...]], ...]


def _ballot_plan(contest: Contest, ballot: tuple[str, ...]) -> Plan:
    """(field, label, colour, chips) of each vote field on a ballot."""
    on = set(ballot)
    parties = {f.name for f in contest.vote_fields if f.kind == PARTIDO}
    plan = []
    for f in contest.vote_fields:
        if f.name not in on:
            continue
        members = [f.name] if f.kind == PARTIDO else \
            [p for p in contest.votes if p in parties_of(f.name, parties)] if f.kind == COALICION else []
        shade = OTHER if f.kind in (NO_REGISTRADOS, NULOS, INDEPENDIENTE) else colour(f.name)
        plan.append((f.name, wording.reader_label(f.name, f.kind, contest), shade, _chips(members)))
    return tuple(plan)


def acta_votes(election: Election, record: ActaRecord,
               plans: dict[tuple[str, tuple[str, ...]], Plan] | None = None) -> list[VoteRow]:
    """The votes of an acta field by field, ballot order (fields not on its ballot left out);
    `plans` keeps each ballot's labels and colours across the actas of a cut."""
    contest = election.contest_of(record.key) or election.contest_for_unknown(record.key)
    if contest is None or record.classification.cls == actas.SIN_ACTA:
        return []
    total = record.classification.total
    rows = []
    get = record.values.get
    ballot = tuple(election.ballot(record.key))
    plans = {} if plans is None else plans
    plan = plans.get((contest.id, ballot))
    if plan is None:
        plan = plans[(contest.id, ballot)] = _ballot_plan(contest, ballot)
    for name, label, shade, chips in plan:
        raw = get(name, actas.SIN_DATO)
        if type(raw) is int:
            votes, value = raw, f"{raw:,}"
        else:
            votes, value = 0, "Ilegible" if raw == actas.ILEGIBLE else "Sin dato"
        rows.append(VoteRow(name, label, value, votes, tally.percent(votes, total), shade, chips))
    return rows
