"""File names in drop folders: which are temporary, which are sidecars, how to show them.

Names come from the file system as `str` with surrogate escapes (non-UTF-8 bytes survive a
round trip through `os.fsencode`); packets and logs get a printable form instead.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import time
from pathlib import PurePosixPath

from catd_node.safetext import has_controls, one_line

# Writers that use a temporary name rename the file when it is complete (scanimage writes
# `NAME.part`, browsers `.crdownload`, Syncthing `.syncthing.NAME.tmp`, editors `NAME~`).
TEMP_SUFFIXES = (".tmp", ".part", ".crdownload", "~")
# Litter from file managers and NAS boxes: never an acta, never taken.
IGNORED_NAMES = frozenset({"thumbs.db", "desktop.ini", ".ds_store"})
IGNORED_DIRS = frozenset({"@eadir", ".stfolder", ".claimed"})
SIDECAR_SUFFIX = ".json"
SIDECAR_MAX_BYTES = 64 * 1024
CLAIMED = ".claimed"
# Longer names are quarantined ("name_too_long"): `NAME.why.txt`, its temporary name and a
# free-name number must still fit the file system's 255 bytes (issue 14: a 248-byte name
# stayed in .claimed/ forever, a 252-byte one crashed the service on its sidecar's name).
MAX_NAME_BYTES = 200


def is_temp(name: str) -> bool:
    """True for names a writer has not finished with: wait until it renames the file."""
    lower = name.lower()
    return (
        name.startswith(".")
        or lower.endswith(TEMP_SUFFIXES)
        or lower in IGNORED_NAMES
    )


def is_sidecar(name: str) -> bool:
    """`NAME.json` next to an image carries `{"acta": KEY}`; it is read with the image, not ingested."""
    return name.lower().endswith(SIDECAR_SUFFIX)


def is_candidate(name: str) -> bool:
    """A file name the service may take once the file is finished."""
    return not is_temp(name) and not is_sidecar(name)


def skip_dir(name: str) -> bool:
    """Directories a folder walk never enters (hidden, claimed, NAS metadata)."""
    return name.startswith(".") or name.lower() in IGNORED_DIRS


def printable(name: str) -> str:
    """The name as valid UTF-8 text on one line, for packets, logs and `.why.txt`: undecodable
    bytes become U+FFFD, control characters are escaped (a newline cannot forge a line)."""
    return one_line(os.fsencode(name).decode("utf-8", errors="replace"))


def name_problem(relative: PurePosixPath) -> tuple[str, str] | None:
    """(quarantine reason, detail) for a name no scanner writes — control characters anywhere in
    its path below the drop folder, or a file name over MAX_NAME_BYTES — or None."""
    if has_controls(os.fsencode(str(relative)).decode("utf-8", errors="replace")):
        return "name_control_chars", "el nombre contiene caracteres de control (p. ej. un salto de línea)"
    raw = os.fsencode(relative.name)
    if len(raw) > MAX_NAME_BYTES:
        return "name_too_long", f"el nombre ocupa {len(raw)} bytes (máximo {MAX_NAME_BYTES})"
    return None


def fit(name: str, limit: int = MAX_NAME_BYTES) -> str:
    """`name`, or a shortened one of at most `limit` bytes (the stem cut, a hash of the whole
    name added so two long names stay distinct, the extension kept) for processed/ and
    quarantine/, where suffixes and numbers are added to it."""
    raw = os.fsencode(name)
    if len(raw) <= limit:
        return name
    stem, dot, ext = raw.rpartition(b".")
    if not stem or len(ext) > 10:
        stem, dot, ext = raw, b"", b""
    tag = b"~" + hashlib.sha256(raw).hexdigest()[:8].encode()
    keep = max(1, limit - len(tag) - len(dot) - len(ext))
    return os.fsdecode(stem[:keep] + tag + dot + ext)


def safe_component(text: str) -> str:
    """A single path component made from a configured id (no separators, no `..`)."""
    cleaned = "".join(c if c.isalnum() or c in "-_." else "_" for c in text).strip(".")
    return cleaned or "_"


def sidecar_names(name: str) -> list[str]:
    """Sidecar names for an image, most specific first: `scan1.jpg.json`, then `scan1.json`."""
    return [name + SIDECAR_SUFFIX, PurePosixPath(name).stem + SIDECAR_SUFFIX]


def new_token() -> str:
    """A claim token unique across restarts: time-ordered, with randomness for same-ns claims."""
    return f"{time.time_ns():x}-{secrets.token_hex(4)}"
