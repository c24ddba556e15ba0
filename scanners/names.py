"""File names in drop folders: which are temporary, which are sidecars, how to show them.

Names come from the file system as `str` with surrogate escapes (non-UTF-8 bytes survive a
round trip through `os.fsencode`); packets and logs get a printable form instead.
"""

from __future__ import annotations

import os
import secrets
import time
from pathlib import PurePosixPath

# Writers that use a temporary name rename the file when it is complete (scanimage writes
# `NAME.part`, browsers `.crdownload`, Syncthing `.syncthing.NAME.tmp`, editors `NAME~`).
TEMP_SUFFIXES = (".tmp", ".part", ".crdownload", "~")
# Litter from file managers and NAS boxes: never an acta, never taken.
IGNORED_NAMES = frozenset({"thumbs.db", "desktop.ini", ".ds_store"})
IGNORED_DIRS = frozenset({"@eadir", ".stfolder", ".claimed"})
SIDECAR_SUFFIX = ".json"
SIDECAR_MAX_BYTES = 64 * 1024
CLAIMED = ".claimed"


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
    """The name as valid UTF-8 text for packets and logs (undecodable bytes become U+FFFD)."""
    return os.fsencode(name).decode("utf-8", errors="replace")


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
