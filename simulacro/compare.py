"""The final cut of a simulacro against the release it replayed: every difference, by acta and column.

Compared on every column the system is responsible for, where the source prints it: the
acta's identity, lista nominal and representatives, each vote and control cell, the computed
total, the observations, CONTABILIZADA, how it arrived (mecanismo, origen, digitalización,
document type), and the summary. Times differ by nature: only their presence is checked.
CODIGO_INTEGRIDAD is never compared with the source (other images, other hashes): it must
be the SHA-256 of an image HQ holds, one per acta.

A cómputo (the CDMX 2024 file) counts every acta; the PREP rules leave some out (EXCEDE LISTA
NOMINAL, TODOS ILEGIBLES). Its summary figures then differ from ours by exactly those actas:
such a difference is reported as *explained*, with the actas named and the figure recomputed
with them — never silently equal. Anything else is a difference, and the rehearsal fails.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from catd_node import tally
from hq.release import dialects
from hq.release.model import COMPUTO, NO_APLICA, SIN_ACTA, ActaRow, Cell, Release

SUMMARY = "RESUMEN"
FILE = "ARCHIVO"
_HEX64 = re.compile(r"[0-9A-Fa-f]{64}")
_NO_DATA = (None, "SIN_DATO", NO_APLICA)
_TIMES = (("FECHA_HORA_ACOPIO", "fecha_hora_acopio"), ("FECHA_HORA_CAPTURA", "fecha_hora_captura"),
          ("FECHA_HORA_VERIFICACION", "fecha_hora_verificacion"))
_ARRIVAL = (("MECANISMOS_TRASLADO", "mecanismos_traslado"), ("ORIGEN", "origen"),
            ("DIGITALIZACION", "digitalizacion"), ("TIPO_DOCUMENTO", "tipo_documento"))
# Summary names that drift (the shared PREP notes vs LEEME_G's own spelling) → one name.
_INCONSISTENT = ("EXCEDE", "TODOS ILEGIBLES", "ILEGIBLE O SIN DATO")
_SUMMARY_ALIASES = {"PORCENTAJE_ACTAS_CON_INCONSISTENCIAS": "PORCENTAJE_ACTAS_INCONSISTENCIAS",
                    "LISTA_NOMINAL_ACTAS_CONTABILZADAS": "LISTA_NOMINAL_ACTAS_CONTABILIZADAS"}
BlobCheck = Callable[[str], str | None]   # CODIGO_INTEGRIDAD → None when HQ holds it, else why not


@dataclass(frozen=True)
class Difference:
    acta: str            # CLAVE_ACTA, RESUMEN or ARCHIVO
    column: str
    source: str
    ours: str
    explained: str = ""  # non-empty: expected, and why

    def line(self) -> str:
        head = "explained" if self.explained else "difference"
        text = f"{head}: acta {self.acta}, column {self.column}: source {self.source}, ours {self.ours}"
        return f"{text} — {self.explained}" if self.explained else text


@dataclass(frozen=True)
class Outcome:
    differences: tuple[Difference, ...]
    rows: int                       # acta rows compared

    @property
    def agree(self) -> bool:
        return not any(not d.explained for d in self.differences)

    @property
    def unexplained(self) -> tuple[Difference, ...]:
        return tuple(d for d in self.differences if not d.explained)


def shown(cell: Cell) -> str:
    if cell is None:
        return "(vacío)"
    if cell == "SIN_DATO":
        return "SIN DATO"
    if cell == SIN_ACTA:
        return "SIN ACTA"
    return str(cell)


def key_of(row: ActaRow) -> str:
    return row.identity.clave_acta if row.identity is not None else row.clave_acta


def _same_cell(a: Cell, b: Cell, control: bool) -> bool:
    if a == b:
        return True
    # A blank printed cell is the clerk's blank: SIN DATO. A control of an acta that has none
    # (LEEME 2024: N/A for VMRE/VA/PPP) is captured blank too.
    no_data = _NO_DATA if control else (None, "SIN_DATO")
    return a in no_data and b in no_data


def _observations(text: str) -> frozenset[str]:
    """A row's observations in the 2024 template's wording: every year's texts compare alike
    (`ALGUN DATO ILEGIBLE O SIN DATO` of 2019 is `ALGÚN CAMPO ILEGIBLE O SIN DATO`)."""
    return dialects.observations(text)


class _Rows:
    """Collects the differences of one pair of rows."""

    def __init__(self, key: str, out: list[Difference]) -> None:
        self.key, self.out = key, out

    def add(self, column: str, source: object, ours: object) -> None:
        self.out.append(Difference(self.key, column, str(source), str(ours)))


def _compare_row(src: ActaRow, ours: ActaRow, source: Release, out: list[Difference]) -> None:
    diff = _Rows(key_of(src), out)
    header = set(source.header)
    for name, number, theirs in (("ID_DISTRITO", src.distrito, ours.distrito),
                       ("ID_MUNICIPIO", src.municipio, ours.municipio),
                       ("UBICACION_CASILLA", src.ubicacion, ours.ubicacion),
                       ("LISTA_NOMINAL", src.lista_nominal, ours.lista_nominal),
                       ("REPRESENTANTES", src.representantes, ours.representantes)):
        if number is not None and number != theirs and src.identity is not None:
            diff.add(name, number, "(vacío)" if theirs is None else theirs)
    sin_acta = (any("SIN ACTA" in o for o in _observations(src.observaciones))
                or any(v == SIN_ACTA for v in src.votes.values()))
    for group, control in ((src.votes, False), (src.controls, True)):
        mine = ours.votes if not control else ours.controls
        for name, a in group.items():
            if name not in mine:
                continue  # reported once as a column of the file
            b = mine[name]
            if sin_acta and a in dialects.SIN_ACTA_CELLS and b in dialects.SIN_ACTA_CELLS:
                continue  # a sin acta row prints SIN ACTA, `-`, `0` or blank: nothing was read
            if not _same_cell(a, b, control):
                diff.add(name, shown(a), shown(b))
    if any(h in header for h in ("TOTAL_VOTOS_CALCULADO", "TOTAL_VOTOS_CALCULADOS")):
        total, our_total = src.total_votos_calculado, ours.total_votos_calculado
        if total != our_total and not (sin_acta and total in dialects.SIN_ACTA_CELLS
                                       and our_total in dialects.SIN_ACTA_CELLS):
            diff.add("TOTAL_VOTOS_CALCULADO", shown(total), shown(our_total))
    if "OBSERVACIONES" in header and _observations(src.observaciones) != _observations(ours.observaciones):
        diff.add("OBSERVACIONES", src.observaciones or "(vacío)", ours.observaciones or "(vacío)")
    has_contabilizada = any(h in header for h in ("CONTABILIZADA", "CONTABILIZADAS"))
    if has_contabilizada and src.contabilizada != ours.contabilizada:
        diff.add("CONTABILIZADA", src.contabilizada, ours.contabilizada)
    for column, attr in _ARRIVAL:
        said, ours_said = getattr(src, attr), getattr(ours, attr)
        if column in header or (column == "MECANISMOS_TRASLADO" and "MECANISMO_TRASLADO" in header):
            if (said or "").strip().upper() != (ours_said or "").strip().upper():
                diff.add(column, said or "(vacío)", ours_said or "(vacío)")
    for column, attr in _TIMES:
        if getattr(src, attr) and not getattr(ours, attr):
            diff.add(column, "una hora", "(vacío)")


def _integrity(rows: Iterable[ActaRow], blob: BlobCheck | None, out: list[Difference]) -> None:
    """Each CODIGO_INTEGRIDAD of ours: the SHA-256 of an image HQ holds, no two actas alike."""
    seen: dict[str, str] = {}
    for row in rows:
        code = (row.sha or "").strip()
        if not code:
            if not _is_sin_acta(row):
                out.append(Difference(key_of(row), "CODIGO_INTEGRIDAD", "SHA-256 de la imagen", "(vacío)"))
            continue
        if not _HEX64.fullmatch(code):
            out.append(Difference(key_of(row), "CODIGO_INTEGRIDAD", "SHA-256 de la imagen", code))
            continue
        other = seen.setdefault(code.lower(), key_of(row))
        if other != key_of(row):
            out.append(Difference(key_of(row), "CODIGO_INTEGRIDAD", f"distinto del de {other}", code))
        if blob is not None and (why := blob(code.lower())) is not None:
            out.append(Difference(key_of(row), "CODIGO_INTEGRIDAD", "SHA-256 de una imagen que HQ tiene",
                                  f"{code} ({why})"))


def _is_sin_acta(row: ActaRow) -> bool:
    return any("SIN ACTA" in o for o in _observations(row.observaciones))


def blob_check(blob_path: Callable[[str], object]) -> BlobCheck:
    """A BlobCheck over HQ's blob store (`HQDir.blobs().path`): present, and hashing to its name."""
    from pathlib import Path

    def check(sha: str) -> str | None:
        path = Path(str(blob_path(sha)))
        try:
            data = path.read_bytes()
        except OSError:
            return "HQ does not hold this image"
        actual = hashlib.sha256(data).hexdigest()
        return None if actual == sha else f"HQ's file hashes to {actual}"
    return check


# -- the summary ------------------------------------------------------------------------------

def _name(summary_name: str) -> str:
    upper = summary_name.upper()
    return _SUMMARY_ALIASES.get(upper, upper)


def implied_summary(rows: Iterable[ActaRow], esperadas: int, final: bool = True) -> dict[str, str]:
    """The summary a release's own acta rows imply, from their published CONTABILIZADA, totals,
    lista nominal and observations — for a subset of a release, whose printed summary covers
    more actas."""
    registradas = fuera = capturadas = contab = no_contab = inconsistent = ln = c_cs = s_cs = 0
    for row in rows:
        registradas += 1
        if row.identity is None or row.contabilizada == 2:
            fuera += 1
            continue
        capturadas += 1
        obs = ", ".join(sorted(_observations(row.observaciones)))  # any year's wording, as 2024's
        if row.contabilizada == 1:
            contab += 1
            ln += row.lista_nominal or 0
            total = row.total_votos_calculado if isinstance(row.total_votos_calculado, int) else 0
            c_cs += total
            s_cs += 0 if row.identity.tipo_casilla == "S" else total
        else:
            no_contab += 1
        if "SIN ACTA" not in obs and any(w in obs for w in _INCONSISTENT):
            inconsistent += 1
    fields = tally.Summary(esperadas=esperadas, registradas=registradas, fuera_catalogo=fuera,
                           capturadas=capturadas, contabilizadas=contab, inconsistencias=inconsistent,
                           no_contabilizadas=no_contab, lista_nominal_contabilizadas=ln,
                           total_votos_c_cs=c_cs, total_votos_s_cs=s_cs, final=final).fields()
    return {_name(k): v for k, v in fields.items()}


def _prep_summary(expected: Mapping[str, str], ours: Release, out: list[Difference]) -> None:
    mine = {_name(k): str(v) for k, v in ours.summary.items()}
    for name, value in expected.items():
        if name not in mine:
            out.append(Difference(SUMMARY, name, str(value), "(no lo publica)"))
        elif str(value) != mine[name]:
            out.append(Difference(SUMMARY, name, str(value), mine[name]))


def _round4(part: int, whole: int) -> str:
    if whole <= 0:
        return "0.0000"
    exact = Decimal(part) * 100 / Decimal(whole)
    return str(exact.quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP))


def _computo_summary(source: Release, src_rows: list[ActaRow], ours_rows: Mapping[str, ActaRow],
                     ours: Release, partial: bool, out: list[Difference]) -> None:
    """A cómputo counts every acta it lists; ours leaves out what Anexo 13 does not count."""
    counted = [r for r in ours_rows.values() if r.contabilizada == 1]
    left_out = sorted((r for r in ours_rows.values() if r.contabilizada == 0 and not _is_sin_acta(r)),
                      key=key_of)
    named = ", ".join(f"{key_of(r)} ({r.observaciones or 'no contabilizada'})" for r in left_out[:10])
    why = (f"the cómputo counts {len(left_out)} acta(s) the PREP does not: {named}"
           + (" …" if len(left_out) > 10 else ""))
    def votes_of(rows: Iterable[ActaRow], field: str) -> int:
        return sum(v for r in rows if isinstance(v := r.votes.get(field), int))

    for field in source.vote_fields:
        theirs = votes_of(src_rows, field)
        mine = votes_of(counted, field)
        if theirs != mine:
            extra = votes_of(left_out, field)
            explained = f"{why}; with them ours is {mine + extra}" if mine + extra == theirs else ""
            out.append(Difference(SUMMARY, f"TOTAL {field}", str(theirs), str(mine), explained))
    src_votes = sum(sum(v for v in r.votes.values() if isinstance(v, int)) for r in src_rows)
    src_ln = sum(r.lista_nominal or 0 for r in src_rows if r.identity is not None)
    my = {_name(k): str(v) for k, v in ours.summary.items()}
    my_votes = int(my.get("TOTAL_VOTOS_C_CS", "0"))
    my_ln = int(my.get("LISTA_NOMINAL_ACTAS_CONTABILIZADAS", "0"))
    out_votes = sum(r.total_votos_calculado for r in left_out if isinstance(r.total_votos_calculado, int))
    out_ln = sum(r.lista_nominal or 0 for r in left_out)
    printed = {_name(k): v for k, v in source.summary.items()}
    checks = [("TOTAL_VOTOS", src_votes, my_votes, out_votes, "TOTAL_VOTOS_C_CS"),
              ("LISTA_NOMINAL_ACTAS_CAPTURADAS", src_ln, my_ln, out_ln, "LISTA_NOMINAL_ACTAS_CONTABILIZADAS"),
              ("ACTAS_COMPUTADAS", len(src_rows), int(my.get("ACTAS_CONTABILIZADAS", "0")), len(left_out),
               "ACTAS_CONTABILIZADAS")]
    for name, theirs, mine, extra, our_name in checks:
        if not partial and isinstance(printed.get(name), int) and printed[name] != theirs:
            out.append(Difference(SUMMARY, name, str(printed[name]),
                                  f"{theirs} (the sum of the file's rows)"))
        if theirs != mine:
            explained = f"{why}; with them ours is {mine + extra}" if mine + extra == theirs else ""
            out.append(Difference(SUMMARY, f"{name} / {our_name}", str(theirs), str(mine), explained))
    theirs_pct = printed.get("PORCENTAJE_PARTICIPACION_CIUDADANA")
    mine_pct = my.get("PORCENTAJE_PARTICIPACION_CIUDADANA", "")
    with_them = tally.percent(my_votes + out_votes, my_ln + out_ln)
    exact = tally.percent(src_votes, src_ln)
    if not partial and theirs_pct is not None and str(theirs_pct) != mine_pct:
        how = ("rounds" if str(theirs_pct) == _round4(src_votes, src_ln) and str(theirs_pct) != exact
               else "prints")
        explained = ""
        if with_them == exact and (how == "rounds" or str(theirs_pct) == exact):
            explained = (f"{why}; with them ours is {with_them}, the file's votes over its lista nominal "
                         f"truncated (the file {how} it: {theirs_pct})")
        out.append(Difference(SUMMARY, "PORCENTAJE_PARTICIPACION_CIUDADANA", str(theirs_pct), mine_pct,
                              explained))
    esperadas = printed.get("ACTAS_ESPERADAS")
    listed = len([r for r in src_rows if r.identity is not None])
    if partial or not isinstance(esperadas, int):
        return
    ours_esperadas, ours_capturadas = my.get("ACTAS_ESPERADAS", ""), my.get("ACTAS_CAPTURADAS", "")
    by_listing = (f"the file lists {listed} of its {esperadas} actas esperadas; the catalog built from it "
                  f"holds those {listed}")
    if str(esperadas) != ours_esperadas:
        out.append(Difference(SUMMARY, "ACTAS_ESPERADAS", str(esperadas), ours_esperadas,
                              by_listing if ours_esperadas == str(listed) else ""))
    theirs_capturadas = printed.get("ACTAS_CAPTURADAS")
    if isinstance(theirs_capturadas, int) and str(theirs_capturadas) != ours_capturadas:
        out.append(Difference(SUMMARY, "ACTAS_CAPTURADAS", str(theirs_capturadas), ours_capturadas))
    for theirs_name, our_name, part, extra in (
            ("PORCENTAJE_ACTAS_CAPTURADAS", "PORCENTAJE_ACTAS_CAPTURADAS", listed, 0),
            ("PORCENTAJE_ACTAS_COMPUTADAS", "PORCENTAJE_ACTAS_CONTABILIZADAS", listed - len(left_out),
             len(left_out))):
        theirs_value, mine_value = printed.get(theirs_name), my.get(our_name, "")
        if theirs_value is None or str(theirs_value) == mine_value:
            continue
        reasons = [by_listing] + ([why] if extra else [])
        printed_as = (tally.percent(part + extra, esperadas), _round4(part + extra, esperadas))
        same = mine_value == tally.percent(part, int(ours_esperadas or 0)) and str(theirs_value) in printed_as
        out.append(Difference(SUMMARY, f"{theirs_name} / {our_name}", str(theirs_value), mine_value,
                              "; ".join(reasons) if same else ""))


# -- the whole ---------------------------------------------------------------------------------

def compare(source: Release, ours: Release, *, expected: Mapping[str, ActaRow] | None = None,
            blob: BlobCheck | None = None, partial: bool = False, esperadas: int | None = None) -> Outcome:
    """Every difference between the replayed `source` and our final cut `ours`.

    `expected`: the source rows the rehearsal replayed, by the key it used (default: every
    row by its CLAVE_ACTA). `partial`: the rehearsal replayed a subset (`--limit`), so the
    source's printed summary is replaced by the one its replayed rows imply, over `esperadas`
    catalog actas (default: the catalog rows of `expected`)."""
    out: list[Difference] = []
    if expected is None:
        expected = {key_of(r): r for r in source.rows}
    for name in source.vote_fields:
        if name not in ours.vote_fields:
            out.append(Difference(FILE, name, "columna presente", "(falta)"))
    for name in ours.vote_fields:
        if name not in source.vote_fields:
            out.append(Difference(FILE, name, "(falta)", "columna presente"))
    mine: dict[str, ActaRow] = {}
    for row in ours.rows:
        if key_of(row) in mine:
            out.append(Difference(key_of(row), "(fila)", "una fila", "repetida"))
        mine[key_of(row)] = row
    for key, row in expected.items():
        other = mine.get(key)
        if other is None:
            out.append(Difference(key, "(fila)", f"línea {row.line}", "(falta)"))
        elif (row.identity is None) != (other.identity is None):
            out.append(Difference(key, "FUERA DE CATÁLOGO", str(row.identity is None),
                                  str(other.identity is None)))
        else:
            _compare_row(row, other, source, out)
    for key, row in mine.items():
        if key not in expected:
            out.append(Difference(key, "(fila)", "(falta)", f"línea {row.line}"))
    _integrity(ours.rows, blob, out)
    if source.layout == COMPUTO:
        _computo_summary(source, list(expected.values()), mine, ours, partial, out)
    else:
        if esperadas is None:
            esperadas = sum(1 for r in expected.values() if r.identity is not None)
        if partial or not source.summary:
            _prep_summary(implied_summary(expected.values(), esperadas), ours, out)
        else:
            _prep_summary({_name(k): str(v) for k, v in source.summary.items()}, ours, out)
    return Outcome(tuple(out), len(expected))
