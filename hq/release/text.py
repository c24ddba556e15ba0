"""A published file's bytes → its text lines: gzip or not, UTF-8 (BOM or not) or Latin-1,
`\\r\\n`, `\\r` or `\\n`; a byte that is no character names its line and column (exit 2)."""

from __future__ import annotations

import gzip
import re
import unicodedata
import zlib
from dataclasses import dataclass

from catd_node.errors import BadInput

UTF8_BOM = b"\xef\xbb\xbf"
_GZIP_MAGIC = b"\x1f\x8b"
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
# Control characters other than tab and the line breaks: a Latin-1 reading of bytes that
# were meant as UTF-8 (or of binary junk) shows them, real electoral text never does.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


@dataclass(frozen=True)
class Text:
    lines: tuple[str, ...]   # line i + 1 of the file is lines[i]; NFC
    encoding: str            # "utf-8" or "latin-1"


def where(source: str, line: int, column: int | None = None, name: str | None = None) -> str:
    """`file: line 12, column 38 (LISTA_NOMINAL)` — how every reader error names its place."""
    at = f"{source}: line {line}"
    if column is not None:
        at += f", column {column}"
    if name:
        at += f" ({name})"
    return at


def position(text: str) -> tuple[int, int]:
    """(line, column) just after `text`, both from 1, counting `\\r\\n`, `\\r`, `\\n` as breaks."""
    breaks = list(_LINE_BREAK.finditer(text))
    start = breaks[-1].end() if breaks else 0
    return len(breaks) + 1, len(text) - start + 1


def decompress(data: bytes, source: str) -> bytes:
    """The bytes of a gzip file (`bd-gobierno.csv.gz`), or `data` itself."""
    if not data.startswith(_GZIP_MAGIC):
        return data
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as exc:
        raise BadInput(source, f"not a readable gzip file ({exc})") from exc


def decode(data: bytes, source: str) -> Text:
    """Text lines of a release file; exit 2 at the first byte that is not text."""
    data = decompress(data, source)
    has_bom = data.startswith(UTF8_BOM)
    body = data[len(UTF8_BOM):] if has_bom else data
    try:
        text, encoding = body.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as exc:
        line, column = position(body[:exc.start].decode("utf-8", errors="replace"))
        byte = f"byte 0x{body[exc.start]:02X} is not UTF-8"
        if has_bom:
            raise BadInput(where(source, line, column), f"{byte} (the file starts with a UTF-8 BOM)") from exc
        text, encoding = body.decode("latin-1"), "latin-1"
        if _CONTROL.search(text):
            raise BadInput(where(source, line, column), f"{byte}, and the file is not Latin-1 text "
                                                        "either") from exc
    control = _CONTROL.search(text)
    if control:
        line, column = position(text[:control.start()])
        raise BadInput(where(source, line, column),
                       f"control character U+{ord(control.group()):04X} is not text")
    lines = _LINE_BREAK.split(text)
    if lines and lines[-1] == "":
        lines.pop()
    return Text(tuple(unicodedata.normalize("NFC", line) for line in lines), encoding)
