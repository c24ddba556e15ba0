"""What the results site shows, computed from a cut's records: vote bars by party and
coalition field and by candidacy, and the progress of each district and CATD.

Pure functions over the same records and summary the results CSV is written from, so the
site can never say something the signed cut does not.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from catd_node import actas, tally
from catd_node.catalog import INDEPENDIENTE, NO_REGISTRADOS, NULOS, Election
from hq.count import ActaRecord
from hq.release.candidaturas import Candidacy

# Colours of the national parties (their emblems); others grey. Bars carry a dark outline,
# so a light colour (PRD's yellow) still stands 3:1 against the page (WCAG 1.4.11).
COLOURS = {"PAN": "#0b4fa3", "PRI": "#00843d", "PRD": "#ffd400", "PVEM": "#4fae32", "PT": "#d8232a",
           "MC": "#f47c20", "MORENA": "#8c1c13"}
OTHER = "#7a7a7a"
NAMES = {"NO_REGISTRADAS": "Candidaturas no registradas", "NO_REGISTRADOS": "Candidaturas no registradas",
         "CNR": "Candidaturas no registradas", "NULOS": "Votos nulos"}
_SAFE_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


def colour(label: str) -> str:
    first = label[2:] if label.startswith("C_") else label
    return COLOURS.get(first.split("_")[0], OTHER)


@dataclass(frozen=True)
class Bar:
    label: str           # as the ballot prints it: PAN, PVEM_PT_MORENA, CAND_IND_1
    title: str           # what a reader is told: a person's name, or a field's meaning
    votes: int
    percent: str         # of the votes counted, four decimals truncated
    colour: str


def field_bars(election: Election, summary: tally.Summary) -> list[Bar]:
    """One bar per party, coalition and independent field of the ballot, ballot order."""
    total = summary.total_votos_c_cs
    bars: list[Bar] = []
    for contest in election.contests.values():
        for f in contest.vote_fields:
            if f.kind in (NO_REGISTRADOS, NULOS) or any(b.label == f.name for b in bars):
                continue
            title = "Candidatura independiente" if f.kind == INDEPENDIENTE else f.name.replace("_", " – ")
            votes = summary.totals.get(f.name, 0)
            bars.append(Bar(f.name, title, votes, tally.percent(votes, total), colour(f.name)))
    return bars


def other_bars(election: Election, summary: tally.Summary) -> list[Bar]:
    """No registrados and nulos, shown apart from the candidacies."""
    total = summary.total_votos_c_cs
    out = []
    for contest in election.contests.values():
        for f in contest.vote_fields:
            if f.kind in (NO_REGISTRADOS, NULOS):
                votes = summary.totals.get(f.name, 0)
                out.append(Bar(f.name, NAMES.get(f.name, f.name), votes, tally.percent(votes, total), OTHER))
    return out


def candidacy_bars(items: Iterable[Candidacy], summary: tally.Summary) -> list[Bar]:
    """One bar per candidacy: the votes of all its fields (a coalition's parties and every
    combination of them), as the PREP sites show «votos por candidatura»."""
    total = summary.total_votos_c_cs
    bars = []
    for c in items:
        votes = sum(summary.totals.get(f, 0) for f in c.fields)
        title = c.propietaria or (c.label.replace("_", " – ") if c.parties else "Candidatura independiente")
        bars.append(Bar(c.label, title, votes, tally.percent(votes, total), colour(c.label)))
    return sorted(bars, key=lambda b: -b.votes)


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
            ident = "—" if number is None else f"{number:03d}"
            name = "Sin distrito" if number is None else f"Distrito {number}"
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
