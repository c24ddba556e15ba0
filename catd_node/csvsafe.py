"""CSV cells that are safe to open in a spreadsheet (issue 12; OWASP "CSV injection").

A spreadsheet runs a cell that starts with = + - @ as a formula (tab and carriage return are
stripped first by some of them), so every text cell starting with one of those gets a leading
single quote, which the spreadsheet shows as text. Numbers are left alone: our data has no
negative numbers, and a number is never run. Every CSV this project writes goes through here.

Lines end in CRLF (RFC 4180): the csv module quotes a field only for the characters of the line
terminator, so with a bare "\n" a lone "\r" inside a field stays unquoted, and a spreadsheet
reads it as a new row whose first cell escapes the quote above (measured on Python 3.11).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TextIO

TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def cell(value: Any) -> Any:
    """`value` as written to a CSV cell: text that a spreadsheet would run gets a leading quote."""
    if isinstance(value, str) and value.startswith(TRIGGERS):
        return "'" + value
    return value


class SafeWriter:
    """`csv.writer` with every cell passed through `cell`."""

    def __init__(self, out: TextIO, **kw: Any) -> None:
        self._writer = csv.writer(out, **kw)

    def writerow(self, row: Iterable[Any]) -> Any:
        return self._writer.writerow([cell(v) for v in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


class SafeDictWriter:
    """`csv.DictWriter` with every cell (the header too) passed through `cell`."""

    def __init__(self, out: TextIO, fieldnames: Sequence[str], **kw: Any) -> None:
        self.fieldnames = list(fieldnames)
        self._writer = csv.DictWriter(out, fieldnames=self.fieldnames, **kw)

    def writeheader(self) -> Any:
        return self._writer.writerow({f: cell(f) for f in self.fieldnames})

    def writerow(self, row: Mapping[str, Any]) -> Any:
        return self._writer.writerow({k: cell(v) for k, v in row.items()})

    def writerows(self, rows: Iterable[Mapping[str, Any]]) -> None:
        for row in rows:
            self.writerow(row)


def writer(out: TextIO, **kw: Any) -> SafeWriter:
    """A CSV writer for `out`; open files with newline="" (the writer ends lines in CRLF)."""
    return SafeWriter(out, **{"lineterminator": "\r\n", **kw})


def dict_writer(out: TextIO, fieldnames: Sequence[str], **kw: Any) -> SafeDictWriter:
    """A CSV dict writer for `out`; open files with newline="" (the writer ends lines in CRLF)."""
    return SafeDictWriter(out, fieldnames=fieldnames, **{"lineterminator": "\r\n", **kw})
