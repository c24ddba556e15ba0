"""The work board: an in-memory view of the ledger (acopio, images, captures, verifications).

It folds packets in seq order from a cursor, so each request reads only what is new. It is
only for showing queues; every decision that writes is re-checked in SQL inside the
writing transaction (see `rules`).

An acta the catalog assigns to another CATD is kept and flagged (`foreign`), never offered
for capture; an acta registered as sin acta leaves the queues until the registration is undone.
"""

from __future__ import annotations

import asyncio
import bisect
import json
import sqlite3
from dataclasses import dataclass, field
from typing import Any

from catd_node.catalog import Election

KINDS = ("acta.acopio", "acta.digitized", "acta.assigned", "acta.image_kept", "acta.captured",
         "acta.verified", "acta.mismatch", "scan.quarantined", "acta.sin_acta", "acta.sin_acta_undone")
# ORIGEN / DIGITALIZACION of images recorded before acta.digitized carried them.
DEFAULT_ORIGIN = {"scanner": ("CATD", "ESCANER"), "upload": ("CATD", "MOVIL")}
CLAIM_S = 10 * 60  # a clerk keeps the acta they opened this long


@dataclass
class Capture:
    seq: int
    round: int
    by: str
    values: dict[str, Any]
    image_sha256: str | None
    at: str


@dataclass
class Verified:
    seq: int
    values: dict[str, Any]
    cls: str
    observations: list[str]
    total: int
    by: str
    at: str


@dataclass
class Mismatch:
    seq: int
    captured_seq: int
    fields: list[str]


def origin_of(digitized: dict[str, Any]) -> tuple[str, str]:
    """(ORIGEN, DIGITALIZACION) of an acta.digitized body, older bodies by their source kind."""
    source = str((digitized.get("source") or {}).get("kind"))
    default = DEFAULT_ORIGIN.get(source, DEFAULT_ORIGIN["scanner"])
    return str(digitized.get("origen") or default[0]), str(digitized.get("digitalizacion") or default[1])


@dataclass
class SinActa:
    seq: int
    reason: str
    by: str
    at: str


@dataclass
class ActaState:
    """One acta as its packets left it. `images` holds the image bound to it (issue 12): the
    first acta.digitized or acta.assigned for the acta, until an assignment that `replaces` it
    puts another in its place. A later image identified as this acta (a QR code, a sidecar, a
    file name: a phone can send any picture named so) waits in `others`: it takes the acta's
    place only by a confirmed replacement, as an assigned one does. Only a capture on a bound
    image counts (`capture`), so a replacement voids a capture not yet verified and the acta
    is captured again on the new image.

    A second, different image is `pending` (`unresolved`) until someone decides: a replacement
    that makes it the acta's image, or a coordinator keeping the acta's image over it
    (`acta.image_kept`). The image a replacement set aside is decided, not pending."""

    key: str
    received_at: str | None = None
    in_catalog: bool | None = None
    images: list[str] = field(default_factory=list)
    others: list[str] = field(default_factory=list)   # linked to it, not (or no longer) its image
    pending: dict[str, tuple[int, str]] = field(default_factory=dict)  # other sha → (seq, at) undecided
    origins: dict[str, tuple[str, str]] = field(default_factory=dict)  # sha → (ORIGEN, DIGITALIZACION)
    first_image_seq: int | None = None
    captures: list[Capture] = field(default_factory=list)
    mismatches: list[Mismatch] = field(default_factory=list)
    verified: Verified | None = None
    owner: str | None = None          # the CATD the catalog assigns it to (None: any)
    foreign: bool = False             # assigned to another CATD: recorded and flagged, not captured
    mecanismo_traslado: str | None = None
    tipo_documento: str | None = None
    sin_acta: SinActa | None = None   # registered sin acta and not undone

    def apply(self, seq: int, kind: str, at: str, body: dict[str, Any]) -> None:
        """Fold one of this acta's packets (the same rules for the board and for `rules`)."""
        if kind == "acta.acopio":
            if self.received_at is None:
                self.received_at, self.in_catalog = at, bool(body.get("in_catalog"))
                self.mecanismo_traslado = body.get("mecanismo_traslado")
                self.tipo_documento = body.get("tipo_documento")
        elif kind == "acta.sin_acta":
            self.sin_acta = SinActa(seq, str(body.get("reason")), str(body.get("by")), at)
        elif kind == "acta.sin_acta_undone":
            if self.sin_acta is not None and self.sin_acta.seq == body.get("sin_acta_seq"):
                self.sin_acta = None
        elif kind in ("acta.digitized", "acta.assigned"):
            sha = body["image"]["sha256"] if kind == "acta.digitized" else body["image_sha256"]
            if "replaces" in body:
                self.others = [s for s in self.others + self.images if s != sha]
                self.images = [sha]
                self.pending.pop(sha, None)
            elif not self.images:
                self.images.append(sha)
            elif sha not in self.images and sha not in self.others:
                self.others.append(sha)
                self.pending[sha] = (seq, at)
            if self.first_image_seq is None:
                self.first_image_seq = seq
            if kind == "acta.digitized":
                self.origins[sha] = origin_of(body)
        elif kind == "acta.image_kept":
            self.pending.pop(str(body.get("other_sha256")), None)
        elif kind == "acta.captured":
            self.captures.append(Capture(
                seq, int(body.get("round", 1)), str(body.get("by")), dict(body.get("values") or {}),
                body.get("image_sha256"), at))
        elif kind == "acta.mismatch":
            self.mismatches.append(Mismatch(seq, int(body.get("captured_seq") or 0),
                                            list(body.get("fields") or [])))
        elif kind == "acta.verified":
            self.verified = Verified(
                seq, dict(body.get("values") or {}), str(body.get("class")),
                list(body.get("observations") or []), int(body.get("total", 0)), str(body.get("by")), at)

    def capture(self, round_: int) -> Capture | None:
        """The capture of this round that counts: round 1 on a bound image, round 2 after it."""
        first = next((c for c in reversed(self.captures) if c.round == 1 and c.image_sha256 in self.images),
                     None)
        if first is None or round_ == 1:
            return first
        return next((c for c in self.captures if c.round == round_ and c.seq > first.seq), None)

    def void_capture(self) -> Capture | None:
        """The latest first capture when it is on an image not bound to the acta (replaced, or
        recorded without the check), if no capture on a bound image came after it."""
        last = next((c for c in reversed(self.captures) if c.round == 1), None)
        return last if last is not None and last.image_sha256 not in self.images else None

    @property
    def mismatch(self) -> Mismatch | None:
        first = self.capture(1)
        return next((m for m in reversed(self.mismatches) if first and m.captured_seq == first.seq), None)

    @property
    def mismatch_seq(self) -> int | None:
        m = self.mismatch
        return m.seq if m else None

    @property
    def mismatch_fields(self) -> list[str]:
        m = self.mismatch
        return m.fields if m else []

    @property
    def image(self) -> str | None:
        return self.images[-1] if self.images else None

    @property
    def unresolved(self) -> list[tuple[str, int, str]]:
        """(sha, seq, at) of each other image identified as this acta and not yet decided."""
        return [(sha, seq, at) for sha, (seq, at) in self.pending.items()]

    @property
    def origin(self) -> tuple[str, str] | None:
        """(ORIGEN, DIGITALIZACION) of the acta's image."""
        return self.origins.get(self.image) if self.image else None

    @property
    def open(self) -> bool:
        """Capture and verification may go on: this CATD's acta, not registered as sin acta."""
        return not self.foreign and self.sin_acta is None

    @property
    def stage(self) -> str:
        if self.verified:
            return "verificada"
        if self.sin_acta is not None:
            return "sin acta"
        if self.mismatch_seq is not None:
            return "discrepancia"
        if self.capture(1):
            return "capturada"
        if self.images:
            return "digitalizada"
        return "recibida" if self.received_at else "sin registro"


@dataclass
class Image:
    seq: int
    sha256: str
    name: str
    source: str
    at: str
    origin: tuple[str, str] | None = None   # (ORIGEN, DIGITALIZACION): passed on when assigned


@dataclass
class Board:
    actas: dict[str, ActaState] = field(default_factory=dict)
    unidentified: dict[str, Image] = field(default_factory=dict)
    quarantine: list[dict[str, Any]] = field(default_factory=list)
    acopio_log: list[tuple[int, str]] = field(default_factory=list)  # (seq, key), newest last
    cursor: int = 0
    with_images: list[ActaState] = field(default_factory=list)
    claims: dict[tuple[str, str], tuple[str, float]] = field(default_factory=dict)
    election: Election | None = None   # with `node`: which actas are another CATD's
    node: str | None = None
    _pending: asyncio.Task[None] | None = None
    _inflight: asyncio.Task[None] | None = None

    def acta(self, key: str) -> ActaState:
        state = self.actas.get(key)
        if state is None:
            state = self.actas[key] = ActaState(key)
            if self.election is not None:
                state.owner = self.election.owner(key)
                state.foreign = not self.election.may_capture(key, self.node or "")
        return state

    def apply(self, seq: int, kind: str, at: str, body: dict[str, Any]) -> None:
        """Fold one packet into the board."""
        self.cursor = max(self.cursor, seq)
        key = body.get("acta")
        if kind == "acta.digitized" and not isinstance(key, str):
            original = body.get("original") or {}
            source = body.get("source") or {}
            sha = body["image"]["sha256"]
            self.unidentified[sha] = Image(seq, sha, str(original.get("name", "")),
                                           f"{source.get('kind', '')}:{source.get('id', '')}", at,
                                           origin_of(body))
            return
        if kind == "scan.quarantined":
            self.quarantine.append({"seq": seq, "at": at, **body})
            return
        if not isinstance(key, str):
            return
        state = self.acta(key)
        had_image = state.first_image_seq is not None
        state.apply(seq, kind, at, body)
        if kind == "acta.acopio":
            self.acopio_log.append((seq, key))
        elif kind == "acta.assigned":
            image = self.unidentified.pop(body["image_sha256"], None)
            if image is not None and image.origin is not None:
                state.origins[image.sha256] = image.origin
        if not had_image and state.first_image_seq is not None:
            self._first_image(state, seq)

    def _first_image(self, state: ActaState, seq: int) -> None:
        if self.with_images and (self.with_images[-1].first_image_seq or 0) > seq:
            bisect.insort(self.with_images, state, key=lambda s: s.first_image_seq or 0)
        else:
            self.with_images.append(state)  # packets fold in seq order: the usual case

    def _ordered(self) -> list[ActaState]:
        """Actas with an image, in the order their first image arrived."""
        return self.with_images

    def to_capture(self) -> list[ActaState]:
        return [s for s in self._ordered() if not s.verified and s.capture(1) is None and s.open]

    def to_verify(self, user: str | None = None) -> list[ActaState]:
        out = []
        for s in self._ordered():
            if s.verified or not s.captures or not s.open:
                continue
            first = s.capture(1)
            if first and not s.capture(2) and s.mismatch_seq is None:
                if user is None or first.by != user:
                    out.append(s)
        return out

    def mismatched(self) -> list[ActaState]:
        return [s for s in self.actas.values() if s.mismatch_seq is not None and not s.verified and s.open]

    def foreign_actas(self) -> list[ActaState]:
        """Actas of another CATD that reached this one (acopio, scan or assignment), by key."""
        return sorted((s for s in self.actas.values() if s.foreign), key=lambda s: s.key)

    def second_images(self) -> list[ActaState]:
        """Actas that received a second, different image nobody has decided on yet, by key."""
        return sorted((s for s in self.actas.values() if s.pending), key=lambda s: s.key)

    def sin_actas(self) -> list[ActaState]:
        """Actas registered as sin acta and not undone, newest registration first."""
        found = [s for s in self.actas.values() if s.sin_acta is not None]
        return sorted(found, key=lambda s: -s.sin_acta.seq if s.sin_acta else 0)

    def claim(self, stage: str, candidates: list[str], user: str, now: float) -> str | None:
        """The first candidate not held by another clerk; it is held for `user` for CLAIM_S.

        A claim is kept after the work is saved (not released): until the board has folded the
        new packet, the acta still looks pending, and must not be handed to someone else.
        """
        self._prune(now)
        mine = next((c for c in candidates if self.claims.get((stage, c), ("", 0.0))[0] == user
                     and self.claims[(stage, c)][1] > now), None)
        for item in ([mine] if mine else []) + candidates:
            holder, until = self.claims.get((stage, item), ("", 0.0))
            if holder in ("", user) or until <= now:
                self.claims[(stage, item)] = (user, now + CLAIM_S)
                return item
        return None

    def _prune(self, now: float) -> None:
        if len(self.claims) > 5_000:
            self.claims = {k: v for k, v in self.claims.items() if v[1] > now}

    async def refresh(self, read: Any) -> None:
        """Fold packets appended since the cursor (`read` runs a function on a reader).

        Single flight: callers that arrive while a read is running share the next one, so each
        sees every packet committed before it asked, and 30 clerks cost a few reads, not 30.
        """
        if self._pending is None:
            self._pending = asyncio.get_running_loop().create_task(self._round(read, self._inflight))
        await asyncio.shield(self._pending)

    async def _round(self, read: Any, previous: asyncio.Task[None] | None) -> None:
        if previous is not None:
            await asyncio.wait([previous])
        self._inflight, self._pending = self._pending, None
        rows = await read(_new_rows, self.cursor)
        for seq, kind, at, data in rows:
            if seq <= self.cursor:
                continue
            if data is None:
                self.cursor = seq
                continue
            self.apply(seq, kind, at, json.loads(bytes(data))["body"])


def _new_rows(conn: sqlite3.Connection, cursor: int) -> list[tuple[int, str, str, bytes | None]]:
    marks = ",".join("?" * len(KINDS))
    return conn.execute(
        f"SELECT seq, kind, at, CASE WHEN kind IN ({marks}) THEN canonical END FROM packets"
        " WHERE seq > ? ORDER BY seq", (*KINDS, cursor),
    ).fetchall()
