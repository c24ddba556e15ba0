"""HQ checks the images it holds, and lets the nodes send back what it lost (issue 21).

An image acknowledged to a node is a promise: the node's sync stops offering it. Its file in
`blobs/` can still be lost afterwards (a directory restored from an old copy, a disk that
returns wrong bytes, an operator's mistake). So every `catd-hq serve` checks the store at
start-up and every `[blobs] check_every_s` (DATA/hq.toml, default 300 s): each round finds
every file of a stored blob (stat: is it there, has it the stored size) and hashes the next
`hash_mb` megabytes of them (a rolling cursor, so that the whole store is re-hashed every
few rounds however large it grows; `catd-hq verify` hashes every file at once).

A blob found missing or damaged is *lost*: in one transaction its row leaves `blobs` and a
row in `blob_losses` says why and when; a damaged file is first moved aside to
`blobs-damaged/` (kept for the inquiry, never served) and its copy in the public site is
removed. From then on HQ answers `HEAD` 404, the node's status shows it in `blobs_missing`
(with the actas), the cut's site holds its image link out, and the node that sent it learns
it from `GET /v1/nodes/{node}/blobs/missing` and uploads it again (`record_blob` then marks
the loss restored). Receivers sharing the store may all check: marking is idempotent, and a
file found sound again when the mark is taken (an upload just restored it) is left alone.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from catd_node import packets
from catd_node.blobs import BlobStore
from catd_node.errors import BadInput
from hq import store as hq_store
from hq.store import HQDir
from hq.store.base import Conn, writing

if TYPE_CHECKING:
    from hq.state import HQState

log = logging.getLogger("catd.hq.blobcheck")
CONFIG = "hq.toml"
DAMAGED = "blobs-damaged"
LAST = "blobcheck.json"      # run/: the last round, for `status`
PAGE = 2000             # blob rows read per query
LOST_LISTED = 100       # losses listed in `status`
SITE_IMAGES = ("publicacion", "sitio", "imagenes")   # hq/release/site/build.py links images here
SITE_EXTS = ("webp", "jpg", "png", "bin")


@dataclass(frozen=True)
class Settings:
    """The `[blobs]` table of DATA/hq.toml."""

    check_every_s: float = 300.0
    hash_mb: float = 512.0          # bytes hashed per round, in MB (1e6 bytes)

    @property
    def hash_bytes(self) -> int:
        return int(self.hash_mb * 1_000_000)


def load(hq: HQDir) -> Settings:
    """The `[blobs]` settings in DATA/hq.toml (defaults without the file or the table);
    BadInput naming the file and key for a bad value."""
    path = hq.root / CONFIG
    if not path.exists():
        return Settings()
    try:
        section = tomllib.loads(path.read_text(encoding="utf-8")).get("blobs") or {}
    except tomllib.TOMLDecodeError as exc:
        raise BadInput(str(path), f"not TOML ({exc})") from exc
    values: dict[str, float] = {}
    for name in ("check_every_s", "hash_mb"):
        if name not in section:
            continue
        value = section[name]
        if not isinstance(value, int | float) or isinstance(value, bool) or not 0 < value < float("inf"):
            raise BadInput(f"{path}: blobs.{name}", f"expected a number > 0, got {value!r}")
        values[name] = float(value)
    unknown = sorted(set(section) - {"check_every_s", "hash_mb"})
    if unknown:
        raise BadInput(f"{path}: blobs.{unknown[0]}", "unknown setting (check_every_s, hash_mb)")
    return Settings(**values)


def _pages(conn: Conn, after: str = "") -> Iterator[list[tuple[str, int]]]:
    """(sha, bytes) of every stored blob after `after`, in name order, PAGE at a time."""
    while True:
        rows = [(str(sha), int(size)) for sha, size in conn.execute(
            "SELECT sha256, bytes FROM blobs WHERE sha256 > ? ORDER BY sha256 LIMIT ?", (after, PAGE))]
        if not rows:
            return
        yield rows
        after = rows[-1][0]


def page_after(conn: Conn, after: str) -> list[tuple[str, int]]:
    return next(_pages(conn, after), [])


def found_file(blobs: BlobStore, sha: str, size: int) -> str | None:
    """Why the file of stored blob `sha` is not there as stored (missing, wrong size), or None."""
    try:
        held = blobs.path(sha).stat().st_size
    except FileNotFoundError:
        return "missing"
    except NotADirectoryError:
        return "missing"
    if held != size:
        return f"{held} bytes, stored as {size}"
    return None


def _site_copies(root: Path, sha: str) -> list[Path]:
    folder = root.joinpath(*SITE_IMAGES)
    return [folder / f"{sha}.{ext}" for ext in SITE_EXTS]


def mark_lost(conn: Conn, hq: HQDir, sha: str, why: str) -> bool:
    """Record blob `sha` as lost (see the module's docstring); False when its file is sound
    after all (a node just sent it again) or another receiver marked it already."""
    blobs = hq.blobs()
    now = blobs.problem(sha)
    if now is None:
        return False
    moved: str | None = None
    path = blobs.path(sha)
    if path.exists():
        aside = hq.root / DAMAGED
        aside.mkdir(exist_ok=True)
        target = aside / f"{sha}.{datetime.now(UTC):%Y%m%dT%H%M%S%f}"
        try:
            os.replace(path, target)
            moved = str(target.relative_to(hq.root))
        except FileNotFoundError:
            pass
        why = f"{why}: {now}" if now != why else why
    for copy in _site_copies(hq.root, sha):  # a hard link to the damaged bytes, or to lost ones
        copy.unlink(missing_ok=True)
    at = packets.now()
    with writing(conn):
        row = conn.execute("SELECT bytes FROM blobs WHERE sha256 = ?", (sha,)).fetchone()
        if row is None:
            return False
        conn.execute("DELETE FROM blobs WHERE sha256 = ?", (sha,))
        conn.execute(
            "INSERT INTO blob_losses (sha256, bytes, why, found_at, moved_to) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (sha256) DO UPDATE SET bytes = excluded.bytes, why = excluded.why,"
            " found_at = excluded.found_at, moved_to = excluded.moved_to, restored_at = NULL",
            (sha, int(row[0]), why[:300], at, moved))
    log.error("image lost at HQ sha=%s reason=%s%s: the node that sent it is asked to send it again",
              sha[:16], why, f" moved_to={moved}" if moved else "")
    return True


def unrestored(conn: Conn) -> list[tuple[str, int, str, str, str | None]]:
    """(sha, bytes, why, found_at, moved_to) of every loss no node has restored yet."""
    return [tuple(row) for row in conn.execute(
        "SELECT sha256, bytes, why, found_at, moved_to FROM blob_losses WHERE restored_at IS NULL"
        " ORDER BY found_at, sha256")]


def lost_report(conn: Conn) -> dict[str, Any]:
    """`status`'s `blobs_lost`: how many lost images await their node, the first of them
    with the nodes and actas that reference each."""
    lost = unrestored(conn)
    listed = []
    for sha, size, why, found_at, moved_to in lost[:LOST_LISTED]:
        refs = conn.execute(
            "SELECT DISTINCT r.node, p.acta FROM blob_refs r JOIN packets p ON p.node = r.node"
            " AND p.seq = r.seq WHERE r.sha256 = ? ORDER BY r.node, p.acta", (sha,)).fetchall()
        listed.append({"sha256": sha, "bytes": size, "why": why, "found_at": found_at,
                       "moved_to": moved_to, "nodes": sorted({n for n, _ in refs}),
                       "actas": sorted({a for _, a in refs if a is not None})})
    return {"count": len(lost), "list": listed}


@dataclass
class Round:
    """What one check round saw."""

    stored: int = 0
    hashed: int = 0
    hashed_bytes: int = 0
    lost: int = 0
    restored_rows: int = 0


class Checker:
    """The rounds of one receiver; `cursor` is the last blob hashed (the next round goes on)."""

    def __init__(self, state: HQState, settings: Settings) -> None:
        self.state = state
        self.settings = settings
        self.cursor = ""

    async def round(self) -> Round:
        state = self.state
        seen = Round()
        bad: list[tuple[str, str]] = []
        after = ""
        while rows := await state.read(page_after, after):   # every file: there, and its size
            after = rows[-1][0]
            seen.stored += len(rows)
            found = await state.io(_stat_all, state.blobs, rows)
            bad.extend(found)
        bad.extend(await self._hash_some(seen, {sha for sha, _ in bad}))
        for sha, why in bad:
            if await state.io(state.blob_rows, mark_lost, state.hq, sha, why):
                seen.lost += 1
        # rows lost by power loss on SQLite, or a file restored by an operator: re-derived
        seen.restored_rows = await state.io(state.blob_rows, hq_store.rederive_blob_rows, state.blobs)
        await state.io(write_last, state.hq, {
            "checked_at": packets.now(), "stored": seen.stored, "hashed": seen.hashed,
            "hashed_bytes": seen.hashed_bytes, "lost": seen.lost})
        if seen.lost:
            log.error("blob check: %d image(s) lost of %d stored; nodes will send them again",
                      seen.lost, seen.stored)
        else:
            log.info("blob check ok stored=%d hashed=%d bytes=%d", seen.stored, seen.hashed,
                     seen.hashed_bytes)
        return seen

    async def _hash_some(self, seen: Round, skip: set[str]) -> list[tuple[str, str]]:
        """Hash the next `hash_mb` of stored files from the cursor, wrapping round once."""
        state = self.state
        budget = self.settings.hash_bytes
        bad: list[tuple[str, str]] = []
        start, wrapped = self.cursor, False
        while budget > 0:
            rows = await state.read(page_after, self.cursor)
            if not rows:
                if wrapped or not start:
                    self.cursor = ""
                    break
                self.cursor, wrapped = "", True
                continue
            for sha, size in rows:
                if wrapped and sha > start:
                    return bad
                self.cursor = sha
                if sha in skip:
                    continue
                why = await state.io(state.blobs.problem, sha)
                seen.hashed += 1
                seen.hashed_bytes += size
                budget -= size
                if why is not None:
                    bad.append((sha, why))
                if budget <= 0:
                    break
        return bad


def _last_path(hq: HQDir) -> Path:
    return hq.root / "run" / LAST


def write_last(hq: HQDir, doc: dict[str, Any]) -> None:
    """Note the round just ended in run/blobcheck.json (for `status`); a full or failing
    disk only loses the note."""
    path = _last_path(hq)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(exist_ok=True)
        tmp.write_text(json.dumps({**doc, "pid": os.getpid()}), encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        log.warning("blob check note not written path=%s error=%s", path, exc)


def last(hq: HQDir) -> dict[str, Any] | None:
    """The last round's note, or None when no receiver has checked yet."""
    try:
        doc = json.loads(_last_path(hq).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def _stat_all(blobs: BlobStore, rows: list[tuple[str, int]]) -> list[tuple[str, str]]:
    return [(sha, why) for sha, size in rows if (why := found_file(blobs, sha, size)) is not None]


async def every(checker: Checker) -> None:
    """A round every `check_every_s` (the first ran at start-up), until cancelled; a failing
    round (the store away, a full disk) is logged and the next one runs on time."""
    every_s = checker.settings.check_every_s
    while True:
        await asyncio.sleep(every_s)
        try:
            await checker.round()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.error("blob check failed (next in %.0f s): %s", every_s, exc)
