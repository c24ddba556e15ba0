"""Read a published results file — the PREP layouts of 2018–2024 and the cómputo layout of
`domain-data/cdmx-2024` — into a `Release`: its election and cut lines, summary, header, and
one `ActaRow` per acta row with typed cells. Exit 2 names the line and column it cannot read.

The header row is found by its names, whatever preamble precedes it: `CLAVE_CASILLA` (PREP
layouts) or `SECCION`, `TIPO_CASILLA`, `ID_CASILLA` and `TIPO_ACTA` without it (cómputo
layout). Rows outside the catalog (CONTABILIZADA 2, TIPO_ACTA `0`/`-`, observation FUERA DE
CATÁLOGO) are kept with no identity: their keys may be wrong or incomplete (LEEME).
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from catd_node.errors import BadInput
from hq.release import columns as cols
from hq.release import dialects
from hq.release.model import (
    COMPUTO,
    NOT_ON_BALLOT,
    PREP,
    SIN_ACTA,
    ActaRow,
    Cell,
    Identity,
    Release,
    fold,
    parse_cell,
    unwrap,
)
from hq.release.rows import RowReader
from hq.release.text import MAX_BYTES, cp1252_char, decode, read_file, too_large, where

_SEP_HINT = re.compile(r"sep=(.)", re.IGNORECASE)
_ZIP_MAGIC = b"PK\x03\x04"
_COMPUTO_KEYS = {"SECCION", "TIPO_CASILLA", "ID_CASILLA", "TIPO_ACTA"}


def _split(lines: tuple[str, ...], delimiter: str, first: int,
           source: str) -> Iterator[tuple[int, list[str]]]:
    """(line number, cells) of lines[first:]; a quote left open is an error, not a merged line."""
    reader = csv.reader(iter(lines[first:]), delimiter=delimiter)
    number = first
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise BadInput(where(source, number + 1), str(exc)) from exc
        number += 1
        if reader.line_num + first != number:
            raise BadInput(where(source, number), "a quote opens a cell and never closes it")
        yield number, cells


def _header_kind(cells: list[str]) -> str | None:
    names = {unwrap(c).upper() for c in cells}
    if "CLAVE_CASILLA" in names or "CLAVE_ACTA" in names:
        return PREP
    return COMPUTO if _COMPUTO_KEYS <= names else None


def _find_header(lines: tuple[str, ...], hint: str | None, source: str) -> tuple[int, str, str]:
    """(index of the header line, layout, delimiter): the first line naming the acta keys."""
    for i, line in enumerate(lines):
        for delimiter in (hint,) if hint else ("|", ","):
            if delimiter in line:
                kind = _header_kind(next(csv.reader([line], delimiter=delimiter), []))
                if kind:
                    return i, kind, delimiter
    raise BadInput(where(source, 1), "unknown layout: no acta header row (one naming CLAVE_CASILLA or "
                                     "CLAVE_ACTA, or SECCION, TIPO_CASILLA, ID_CASILLA and TIPO_ACTA)")


@dataclass
class _Preamble:
    election: str | None = None
    cut: str | None = None
    cut_line: dialects.CutLine | None = None
    cut_at: int | None = None          # its line number
    summary: dict[str, int | str] = field(default_factory=dict)


def _preamble(lines: tuple[str, ...], start: int, end: int, delimiter: str, source: str) -> _Preamble:
    """The election line, the cut line and the summary (names, then values) before the header."""
    found = _Preamble()
    numbered = [(n, [unwrap(c) for c in cells]) for n, cells in _split(lines[:end], delimiter, start, source)]
    numbered = [(n, r) for n, r in numbered if any(r)]
    rows = [r for _, r in numbered]
    i = 0
    while i < len(rows):
        cells = [c for c in rows[i] if c]
        if any(c.upper() == "ACTAS_ESPERADAS" for c in cells) and i + 1 < len(rows):
            found.summary = {n.upper(): int(v) if v.isdecimal() and v.isascii() else v
                             for n, v in zip(rows[i], rows[i + 1], strict=False) if n}
            i += 2
            continue
        if len(cells) == 1 and found.cut is None and (cut := dialects.cut_line(cells[0])):
            found.cut, found.cut_line, found.cut_at = cut.text, cut, numbered[i][0]
        elif len(cells) == 1 and found.election is None and found.cut is None and not found.summary:
            found.election = " ".join(cells[0].split())
        i += 1
    return found


def _results_member(data: bytes, source: str) -> tuple[bytes, str]:
    """The results CSV of a release zip (`…_PREP_GUB_CDMX.zip`): its one CSV that is not the
    candidacies file."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = [n for n in archive.namelist() if n.lower().endswith((".csv", ".csv.gz"))
                     and "CANDIDATURA" not in n.upper()]
            if len(names) != 1:
                raise BadInput(source, f"expected one results CSV in the zip, found {names or 'none'}")
            inside = f"{source}!{names[0]}"
            if archive.namelist().count(names[0]) > 1:  # zipfile would read the last, an unzipper another
                raise BadInput(inside, "two members of the zip have this name; a reader may take either")
            if archive.getinfo(names[0]).file_size > MAX_BYTES:
                raise BadInput(inside, too_large(archive.getinfo(names[0]).file_size))
            return archive.read(names[0]), inside
    except (zipfile.BadZipFile, OSError) as exc:
        raise BadInput(source, f"not a readable zip file ({exc})") from exc


def read(path: Path, entidad: int | None = None) -> Release:
    """Read a release: its results CSV, plain, gzip or inside the cut's zip. `entidad` fills
    the entity of a layout that prints none (cómputo); PREP layouts carry it in every key."""
    source = str(path)
    data = read_file(path)
    if data.startswith(_ZIP_MAGIC):
        data, source = _results_member(data, source)
    text = decode(data, source)
    lines = text.lines
    start, hint = 0, None
    if lines and (sep := _SEP_HINT.fullmatch(lines[0].strip())):
        start, hint = 1, sep.group(1)  # Excel's `sep=|` line
    at, layout, delimiter = _find_header(lines, hint, source)
    header = [unwrap(c).upper() for c in next(csv.reader([lines[at]], delimiter=delimiter))]
    try:
        columns = cols.classify(header)
    except cols.LayoutError as exc:
        raise BadInput(where(source, at + 1, exc.column, exc.name), f"unknown layout: {exc.why}") from exc
    if layout == COMPUTO and entidad is None and not columns.has("ID_ENTIDAD"):
        raise BadInput(source, "this layout prints no entity: pass --entidad N or --candidaturas FILE")
    pre = _preamble(lines, start, at, delimiter, source)
    reader = RowReader(source, layout, header, columns, entidad)
    rows = tuple(reader.row(number, cells) for number, cells in _split(lines, delimiter, at + 1, source)
                 if any(c.strip() for c in cells))
    oddities = _oddities(text, lines, delimiter, header, source, raw_header=lines[at])
    oddities += [f"{where(source, n)}: {what}" for what, n in reader.key_forms.items()]
    cut = pre.cut_line
    return Release(
        source=source, layout=layout, encoding=text.encoding + (" with BOM" if text.bom else ""),
        delimiter=delimiter, election=pre.election, cut=pre.cut,
        timezone=cut.timezone if cut else None,
        summary=pre.summary, header=tuple(header[:columns.width]),
        vote_fields=tuple(name for name, _ in columns.votes),
        control_fields=tuple(name for name, _ in columns.controls),
        has_catd=columns.has("CATD"), rows=rows,
        cut_at=pre.cut_at, date_order=cut.order if cut else None,
        key_form=_key_form(lines, at, delimiter, reader), oddities=tuple(oddities),
    )


def _column_of(line: str, char: int, delimiter: str) -> int:
    """The 1-based cell of a line that holds its `char`-th character (quotes respected)."""
    column, quoted = 1, False
    for c in line[:char - 1]:
        if c == '"':
            quoted = not quoted
        elif c == delimiter and not quoted:
            column += 1
    return column


def _oddities(text: object, lines: tuple[str, ...], delimiter: str, header: list[str], source: str,
              raw_header: str) -> list[str]:
    """Every tolerated oddity, one per cell: bytes that are not UTF-8 (read as Windows-1252)."""
    out: list[str] = []
    seen: set[tuple[int, int]] = set()
    for line, char, byte in getattr(text, "odd", ()):
        column = _column_of(lines[line - 1], char, delimiter) if line <= len(lines) else 1
        if (line, column) in seen:
            continue
        seen.add((line, column))
        name = header[column - 1] if column <= len(header) and lines[line - 1] != raw_header else None
        out.append(f"{where(source, line, column, name)}: byte 0x{byte:02X} is not UTF-8; read as "
                   f"Windows-1252 {cp1252_char(byte)!r}")
    return out


def _key_form(lines: tuple[str, ...], at: int, delimiter: str, reader: RowReader) -> str:
    sample = lines[at + 1] if at + 1 < len(lines) else ""
    wrap = "=\"…\"" if '="' in sample else ("'…'" if f"{delimiter}'" in sample or sample.startswith("'")
                                             else "plain")
    padded = " (TIPO_ACTA padded in CLAVE_ACTA)" if reader.key_forms else ""
    return f"{wrap}{padded}"


def read_entidad(path: Path) -> int:
    """The one `ID_ENTIDAD` of a candidacies file (`CDMX_GUB_CANDIDATURAS.csv`)."""
    source = str(path)
    text = decode(read_file(path), source)
    for i, line in enumerate(text.lines):
        delimiter = "|" if line.count("|") > line.count(",") else ","
        names = [unwrap(c).upper() for c in next(csv.reader([line], delimiter=delimiter), [])]
        key = next((n for n in ("ID_ENTIDAD", "ID_ESTADO") if n in names), None)
        if key is None:
            continue
        column = names.index(key)
        found: set[int] = set()
        for number, cells in _split(text.lines, delimiter, i + 1, source):
            value = unwrap(cells[column]) if column < len(cells) else ""
            if not (value.isdecimal() and value.isascii()):
                raise BadInput(where(source, number, column + 1, key),
                               f"expected a number, got {value[:40]!r}")
            found.add(int(value))
        if len(found) != 1:
            raise BadInput(where(source, i + 1, column + 1, key),
                           f"expected one entity, found {sorted(found) or 'none'}")
        return found.pop()
    raise BadInput(source, "no ID_ENTIDAD column: not a candidacies file")


__all__ = ["COMPUTO", "NOT_ON_BALLOT", "PREP", "SIN_ACTA", "ActaRow", "Cell", "Identity", "Release",
           "fold", "parse_cell", "read", "read_entidad", "unwrap"]
