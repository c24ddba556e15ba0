"""The candidacies of an election: which vote fields add up to each one, their names, and the
candidacies CSV of a cut (`ID_ENTIDAD|PARTIDO_CSP|CANDIDATURA_PROPIETARIA|CANDIDATURA_SUPLENTE`).

A candidacy is a party running alone, a coalition (its parties and every combination of them
on the ballot: `PVEM_PT_MORENA`, `PVEM_PT`, …, the party fields), or an independent. The
grouping comes from the catalog's field kinds and names; the names of the people from the
election file's `candidaturas` (written by `catd-hq catalog --candidaturas FILE`), else from
the official candidacies file when HQ has one (`DATA/candidaturas.csv`, any release layout).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from catd_node.catalog import COALICION, INDEPENDIENTE, PARTIDO, Contest, Election
from hq.release.model import fold, unwrap
from hq.release.text import decode, read_file
from hq.release.write import DELIMITER, line, text_cell

HEADER = ("ID_ENTIDAD", "PARTIDO_CSP", "CANDIDATURA_PROPIETARIA", "CANDIDATURA_SUPLENTE")
# National parties (INE): full name, folded → acronym, to read files that spell names out.
PARTY_NAMES = {
    "PARTIDO ACCION NACIONAL": "PAN", "PARTIDO REVOLUCIONARIO INSTITUCIONAL": "PRI",
    "PARTIDO DE LA REVOLUCION DEMOCRATICA": "PRD", "PARTIDO VERDE ECOLOGISTA DE MEXICO": "PVEM",
    "PARTIDO DEL TRABAJO": "PT", "MOVIMIENTO CIUDADANO": "MC", "MORENA": "MORENA",
    "MOVIMIENTO REGENERACION NACIONAL": "MORENA",
}


@dataclass(frozen=True)
class Candidacy:
    label: str                   # PARTIDO_CSP: the party, the coalition's field, the independent's
    parties: frozenset[str]      # its parties (empty for an independent)
    fields: tuple[str, ...]      # the vote fields whose votes are its votes, ballot order
    propietaria: str = ""
    suplente: str = ""


def parties_of(field: str, parties: set[str]) -> frozenset[str]:
    """The parties a coalition field joins: `C_PAN_PRD` / `PAN_PRD` → {PAN, PRD}."""
    name = field[2:] if field.startswith("C_") else field
    return frozenset(p for p in name.split("_") if p in parties)


def of_contest(contest: Contest) -> list[Candidacy]:
    """The candidacies of one contest, in ballot order of their first field."""
    parties = {f.name for f in contest.vote_fields if f.kind == PARTIDO}
    coalitions = {f.name: parties_of(f.name, parties) for f in contest.vote_fields if f.kind == COALICION}
    coalitions = {name: members for name, members in coalitions.items() if len(members) >= 2}
    widest = [name for name, members in coalitions.items()
              if not any(members < other for other in coalitions.values())]
    out: list[Candidacy] = []
    joined: set[str] = set()
    for field in contest.vote_fields:
        if field.name in widest and coalitions[field.name] not in {c.parties for c in out}:
            members = coalitions[field.name]
            fields = tuple(f.name for f in contest.vote_fields
                           if f.name in members or (f.name in coalitions and coalitions[f.name] <= members))
            out.append(Candidacy(field.name, members, fields))
            joined |= members
    for field in contest.vote_fields:
        if field.kind == PARTIDO and field.name not in joined:
            out.append(Candidacy(field.name, frozenset({field.name}), (field.name,)))
        elif field.kind == INDEPENDIENTE:
            out.append(Candidacy(field.name, frozenset(), (field.name,)))
    order = {f.name: i for i, f in enumerate(contest.vote_fields)}
    return sorted(out, key=lambda c: min(order[f] for f in c.fields))


def _acronyms(text: str, known: set[str]) -> frozenset[str]:
    """The parties a PARTIDO_CSP cell names: acronyms, a coalition field, or full names."""
    folded = " ".join(fold(text).split())
    found = {acronym for name, acronym in PARTY_NAMES.items() if name in folded}
    for token in folded.replace(",", " ").replace("_", " ").replace("-", " ").split():
        if token in known:
            found.add(token)
    return frozenset(found)


def read_names(path: Path, known: set[str]) -> dict[frozenset[str] | str, tuple[str, str]]:
    """Party set (or an independent's field) → (propietaria, suplente) from a candidacies file;
    rows it cannot place are skipped (names are information, not part of the count)."""
    text = decode(read_file(path), str(path))
    names: dict[frozenset[str] | str, tuple[str, str]] = {}
    rows = iter(text.lines)
    header: list[str] | None = None
    for raw in rows:
        delimiter = "|" if raw.count("|") > raw.count(",") else ","
        cells = [unwrap(c) for c in next(csv.reader([raw], delimiter=delimiter), [])]
        if header is None:
            if "PARTIDO_CSP" in [c.upper() for c in cells]:
                header = [c.upper() for c in cells]
            continue
        row = dict(zip(header, cells, strict=False))
        owner = row.get("PARTIDO_CSP", "")
        person = (row.get("CANDIDATURA_PROPIETARIA") or row.get("CANDIDATURA") or "").strip()
        key: frozenset[str] | str = owner.strip() if owner.strip().startswith("CAND_IND") \
            else _acronyms(owner, known)
        if key:
            names[key] = (" ".join(person.split()), " ".join(row.get("CANDIDATURA_SUPLENTE", "").split()))
    return names


def candidacies(election: Election, names_file: Path | None = None) -> list[Candidacy]:
    """Every candidacy of the election, named by the election file's `candidaturas` (what
    `catalog --candidaturas` put there), else by `names_file` when it names it."""
    out: list[Candidacy] = []
    for contest in election.contests.values():
        out.extend(c for c in of_contest(contest) if c.label not in {o.label for o in out})
    if election.candidaturas:
        named_here = []
        for c in out:
            person = election.names_of(c.label)
            named_here.append(Candidacy(c.label, c.parties, c.fields, person.propietaria, person.suplente)
                              if person else c)
        out = named_here
        if all(c.propietaria for c in out) or names_file is None:
            return out
    if names_file is None or not names_file.exists():
        return out
    known = {p for c in out for p in c.parties}
    names = read_names(names_file, known)
    named = []
    for c in out:
        found = names.get(c.parties if c.parties else c.label)
        named.append(Candidacy(c.label, c.parties, c.fields, *found) if found and not c.propietaria else c)
    return named


def lines(election: Election, items: list[Candidacy]) -> list[str]:
    """The candidacies CSV, line by line."""
    entidad = f"{election.entidad_id:02d}" if election.entidad_id else "N/A"
    out = [line(HEADER)]
    out += [line([entidad, text_cell(c.label), text_cell(c.propietaria), text_cell(c.suplente)])
            for c in items]
    return out


__all__ = ["DELIMITER", "HEADER", "Candidacy", "candidacies", "lines", "of_contest"]
