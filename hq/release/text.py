"""A published file's bytes → its text lines: gzip or not, UTF-8 (BOM or not), Windows-1252,
Latin-1 or a mix of them per cell, `\\r\\n`, `\\r` or `\\n`. A byte that is not UTF-8 is read
as Windows-1252 and named (line, column, byte) for a warning; a control character is no text."""

from __future__ import annotations

import gzip
import io
import re
import unicodedata
import zlib
from dataclasses import dataclass
from pathlib import Path

from catd_node.errors import BadInput

MIB = 1 << 20
MAX_BYTES = 512 * MIB  # a release file's text, after gzip or zip: refuses bombs, not real files
UTF8_BOM = b"\xef\xbb\xbf"
_GZIP_MAGIC = b"\x1f\x8b"
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
# Control characters other than tab and the line breaks: a Latin-1 reading of bytes that
# were meant as UTF-8 (or of binary junk) shows them, real electoral text never does.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


@dataclass(frozen=True)
class Text:
    lines: tuple[str, ...]   # line i + 1 of the file is lines[i]; NFC
    encoding: str            # "utf-8", "latin-1", "windows-1252" or "mixed (…)"
    odd: tuple[tuple[int, int, int], ...] = ()   # (line, column, byte) read as Windows-1252
    bom: bool = False


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


def too_large(size: int) -> str:
    return (f"holds {size / MIB:.0f} MiB (or more) of text; a release file holds at most "
            f"{MAX_BYTES // MIB} MiB (the largest real ones: tens of MiB)")


def read_file(path: Path) -> bytes:
    """A release file's bytes, refused by name when larger than any real release."""
    source = str(path)
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        raise BadInput(source, f"cannot read ({exc.strerror})") from exc
    if len(data) > MAX_BYTES:
        raise BadInput(source, too_large(len(data)))
    return data


def decompress(data: bytes, source: str) -> bytes:
    """The bytes of a gzip file (`bd-gobierno.csv.gz`), or `data` itself; inflated no further
    than `MAX_BYTES` (a few KB can inflate to gigabytes)."""
    if not data.startswith(_GZIP_MAGIC):
        return data
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as stream:
            out = stream.read(MAX_BYTES + 1)
    except (OSError, EOFError, zlib.error) as exc:
        raise BadInput(source, f"not a readable gzip file ({exc})") from exc
    if len(out) > MAX_BYTES:
        raise BadInput(source, too_large(len(out)))
    return out


def cp1252_char(byte: int) -> str:
    """One byte that is not UTF-8, as Windows-1252 reads it (a superset of Latin-1's letters);
    the five bytes it leaves undefined become U+FFFD."""
    try:
        return bytes([byte]).decode("cp1252")
    except UnicodeDecodeError:
        return "\ufffd"


def _decode_line(raw: bytes) -> tuple[str, list[tuple[int, int]]]:
    """A line's text, UTF-8 where it is, Windows-1252 per byte where it is not; and the
    (column, byte) of every byte taken as Windows-1252."""
    try:
        return raw.decode("utf-8"), []
    except UnicodeDecodeError:
        pass
    text: list[str] = []
    odd: list[tuple[int, int]] = []
    at = 0
    column = 0
    while at < len(raw):
        try:
            piece = raw[at:].decode("utf-8")
            text.append(piece)
            break
        except UnicodeDecodeError as exc:
            good = raw[at:at + exc.start].decode("utf-8")
            text.append(good)
            column += len(good)
            for byte in raw[at + exc.start:at + exc.end]:
                odd.append((column + 1, byte))
                text.append(cp1252_char(byte))
                column += 1
            at += exc.end
    return "".join(text), odd


def decode(data: bytes, source: str) -> Text:
    """Text lines of a release file. UTF-8 (BOM or not); a byte that is not UTF-8 is read as
    Windows-1252 / Latin-1 — per byte, so a file mixing them reads too — and named in
    `Text.odd` (line, column, byte). A control character is no text: exit 2."""
    data = decompress(data, source)
    has_bom = data.startswith(UTF8_BOM)
    body = data[len(UTF8_BOM):] if has_bom else data
    odd: list[tuple[int, int, int]] = []
    try:
        text, encoding = body.decode("utf-8"), "utf-8"
        lines = _LINE_BREAK.split(text)
    except UnicodeDecodeError:
        raw_lines = re.split(rb"\r\n|\r|\n", body)
        lines = []
        for number, raw in enumerate(raw_lines, start=1):
            line, bad = _decode_line(raw)
            lines.append(line)
            odd.extend((number, column, byte) for column, byte in bad)
        utf8_seen = sum(b >= 0x80 for b in body) > len(odd)
        c1 = any(0x80 <= byte <= 0x9F for _, _, byte in odd)
        encoding = "mixed (utf-8 and windows-1252)" if utf8_seen else ("windows-1252" if c1 else "latin-1")
        text = "\n".join(lines)
    control = _CONTROL.search(text)
    if control:
        at_line, column = position(text[:control.start()])
        raise BadInput(where(source, at_line, column),
                       f"control character U+{ord(control.group()):04X} is not text")
    if lines and lines[-1] == "":
        lines.pop()
    return Text(tuple(unicodedata.normalize("NFC", line) for line in lines), encoding,
                tuple(odd), has_bom)

