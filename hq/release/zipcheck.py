"""Opening a zip someone else made: a cut handed to a verifier, a release a catalog is built from.

Whoever hands a zip over can write it byte by byte. `zipfile` reads the central directory and,
of two members of one name, the last; an unzipper asks which to keep or takes the first, and a
streaming reader walks the local entries, which may hold one the directory never lists. So a
verifier that hashed one file could bless a zip whose reader sees another. A member may also
inflate a thousandfold, or be named to land outside the folder it is extracted to.
`members` refuses, naming the member, before any byte is inflated:

- a name given twice, not relative, with a `..`, a `\\`, a part starting with `.`, or a
  character that is not printable (an escape sequence would rewrite the verifier's own output);
- an entry that is not a regular file (a link, a directory);
- a declared inflated size above the limit, or members adding up to more than the total
  (`zipfile` never inflates past the declared size: what it declares is what it costs);
- with `tiled`, a byte outside the listed members: each local entry must begin where the one
  before ended, from byte 0 to the central directory — no hidden entry, no prepended bytes, no
  two names sharing bytes (the overlapping zip bomb). Our cuts are written so (`cut.py`); a
  release from elsewhere is only held to the other rules.

`tools/verify_release.py` carries the same rules in its own words (standard library only).
"""

from __future__ import annotations

import hashlib
import stat
import struct
import zipfile
from collections.abc import Iterator

from catd_node.errors import BadInput

MIB = 1 << 20
MAX_MEMBER_BYTES = 2048 * MIB   # inflated, one member (a cut's evidence is the largest, streamed)
MAX_TOTAL_BYTES = 4096 * MIB    # inflated, all members
MAX_READ_BYTES = 256 * MIB      # a member read whole into memory (CSV, catalog, manifest, keys)
MAX_LINE_BYTES = 16 * MIB       # a line of a member read line by line (a packet: at most a batch, 8 MiB)
_LOCAL = struct.Struct("<4s2B4HL2L2H")
_NAME_PART_BAD = ("", ".", "..")


def _name_problem(name: str) -> str | None:
    if not name.isprintable():
        return "the name holds characters that are not printable"
    if "\\" in name or name.startswith("/"):
        return "the name is not a relative path with / between its parts"
    if any(part in _NAME_PART_BAD or part.startswith(".") for part in name.split("/")):
        return ("the name climbs out of its folder, hides itself or is empty"
                " (a part is '', '.', '..' or starts with '.')")
    return None


def members(archive: zipfile.ZipFile, label: str, *, tiled: bool,
            max_member: int = MAX_MEMBER_BYTES, max_total: int = MAX_TOTAL_BYTES) -> list[zipfile.ZipInfo]:
    """The archive's members, once each and safe to read (BadInput naming the member, or
    `label` for the archive as a whole)."""
    infos = archive.infolist()
    seen: set[str] = set()
    total = 0
    for info in infos:
        name = info.filename
        if name in seen:
            raise BadInput(name, "two members of the zip have this name; a reader may take either")
        seen.add(name)
        if (why := _name_problem(name)) is not None:
            raise BadInput(name, why)
        kind = stat.S_IFMT(info.external_attr >> 16)
        if info.is_dir() or kind not in (0, stat.S_IFREG):
            raise BadInput(name, "not a regular file (a link or a folder)")
        if info.file_size > max_member:
            raise BadInput(name, f"inflates to {info.file_size / MIB:.0f} MiB; "
                                        f"a member may hold at most {max_member // MIB} MiB")
        total += info.file_size
    if total > max_total:
        raise BadInput(label, f"its members inflate to {total / MIB:.0f} MiB in all; "
                              f"at most {max_total // MIB} MiB")
    if tiled:
        _tiled(archive, infos, label)
    return infos


def _tiled(archive: zipfile.ZipFile, infos: list[zipfile.ZipInfo], label: str) -> None:
    fp = archive.fp
    assert fp is not None
    at = 0
    for info in sorted(infos, key=lambda i: i.header_offset):
        if info.header_offset != at:
            how = "overlap" if info.header_offset < at else "belong to no member the zip lists"
            raise BadInput(label, f"bytes {min(at, info.header_offset)}–{max(at, info.header_offset)} "
                                  f"{how} (before {info.filename}): a hidden or shared entry")
        fp.seek(info.header_offset)
        head = fp.read(_LOCAL.size)
        if len(head) != _LOCAL.size or head[:4] != b"PK\x03\x04":
            raise BadInput(info.filename, "its local header is not where the directory says")
        name_len, extra_len = _LOCAL.unpack(head)[-2:]
        at = info.header_offset + _LOCAL.size + name_len + extra_len + info.compress_size
        if info.flag_bits & 0x08:  # a data descriptor follows the data: crc and both sizes
            fp.seek(at)
            big = info.file_size >= 0xFFFFFFFF or info.compress_size >= 0xFFFFFFFF
            at += (4 if fp.read(4) == b"PK\x07\x08" else 0) + 4 + (16 if big else 8)
    start_dir = getattr(archive, "start_dir", at)
    if at != start_dir:
        raise BadInput(label, f"bytes {at}–{start_dir} belong to no member the zip lists: a hidden entry")


def read(archive: zipfile.ZipFile, name: str, limit: int = MAX_READ_BYTES) -> bytes:
    """A member read whole, if it declares at most `limit` bytes (KeyError when absent)."""
    info = archive.getinfo(name)
    if info.file_size > limit:
        raise BadInput(name, f"inflates to {info.file_size / MIB:.0f} MiB; "
                                    f"read whole, a file may hold at most {limit // MIB} MiB")
    return archive.read(info)


def sha256(archive: zipfile.ZipFile, name: str) -> str:
    """A member's SHA-256, inflated a piece at a time (KeyError when absent)."""
    digest = hashlib.sha256()
    with archive.open(name) as stream:
        while piece := stream.read(MIB):
            digest.update(piece)
    return digest.hexdigest()


def lines(archive: zipfile.ZipFile, name: str, limit: int = MAX_LINE_BYTES) -> Iterator[tuple[int, bytes]]:
    """(number, bytes) of each line of a member, read a line at a time; a line longer than
    `limit` is refused naming it (KeyError when the member is absent)."""
    with archive.open(name) as stream:
        number = 0
        while raw := stream.readline(limit + 1):
            number += 1
            if len(raw) > limit:
                raise BadInput(f"{name} line {number}", f"longer than {limit // MIB} MiB")
            yield number, raw
