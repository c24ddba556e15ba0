"""Hostile zip files, written byte by byte: what `zipfile` would refuse to write, or would
take minutes to (a member that inflates to gigabytes).

A zip is local entries (header + data) followed by a central directory that readers like
`zipfile` trust; streaming readers walk the local entries instead. Each `Member` here is
one local entry, listed in the central directory unless `hidden`; `listed_at` lets a second
central entry point at an earlier member's bytes (overlapping members).
"""

from __future__ import annotations

import stat
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

STORED, DEFLATED = 0, 8
_MIB = 1 << 20


@dataclass(frozen=True)
class Member:
    name: str
    payload: bytes            # the bytes as stored (deflated when method is DEFLATED)
    size: int                 # the inflated size the headers declare
    crc: int
    method: int = DEFLATED
    hidden: bool = False      # a local entry the central directory does not list
    mode: int = stat.S_IFREG | 0o644
    listed_at: str | None = None  # a central entry for `name` pointing at that member's bytes


def member(name: str, data: bytes, **kw: object) -> Member:
    """An honest member holding `data`."""
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    return Member(name, c.compress(data) + c.flush(), len(data), zlib.crc32(data), **kw)  # type: ignore[arg-type]


def bomb(name: str, mib: int) -> Member:
    """`mib` MiB of zeros in about 1 KB per MiB: each MiB is deflated on its own (a fresh
    compressor, flushed in full, so the block refers to nothing before it) and repeated.
    The CRC is not computed: a reader that inflates it all runs out of memory long before it
    could check one."""
    block_c = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = block_c.compress(b"\0" * _MIB) + block_c.flush(zlib.Z_FULL_FLUSH)
    end = zlib.compressobj(9, zlib.DEFLATED, -15).flush(zlib.Z_FINISH)
    return Member(name, block * mib + end, mib * _MIB, 0)


def write(path: Path, members: list[Member]) -> Path:
    out = bytearray()
    offsets: dict[str, int] = {}
    central = bytearray()
    count = 0

    def entry(m: Member, offset: int) -> None:
        nonlocal count
        name = m.name.encode("utf-8")
        central.extend(struct.pack(
            "<4s4B4HL2L5H2L", b"PK\x01\x02", 20, 3, 20, 0, 0x800, m.method, 0, 0x21, m.crc,
            len(m.payload), m.size, len(name), 0, 0, 0, 0, (m.mode & 0xFFFF) << 16, offset))
        central.extend(name)
        count += 1

    for m in members:
        if m.listed_at is not None:
            entry(m, offsets[m.listed_at])
            continue
        name = m.name.encode("utf-8")
        offset = len(out)
        out.extend(struct.pack("<4s2B4HL2L2H", b"PK\x03\x04", 20, 0, 0x800, m.method, 0, 0x21, m.crc,
                               len(m.payload), m.size, len(name), 0))
        out.extend(name + m.payload)
        if not m.hidden:
            offsets.setdefault(m.name, offset)
            entry(m, offset)
    start = len(out)
    out.extend(central)
    out.extend(struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, count, count, len(central), start, 0))
    path.write_bytes(bytes(out))
    return path
