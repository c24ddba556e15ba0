"""The count at HQ: one record per registered acta, from the CATD that owns it; conflicts apart.

DESIGN invariant 6: a valid signature proves who sent a record, not that it is right. Every
signed value is re-validated with the node's own rules (`actas.acta_values`), each catalog
acta is counted once — from the CATD the catalog assigns it to — and any other report of it
is a `Conflict` shown to HQ staff, never more votes. The release, the site and the verifier
read only these records.

An acta whose district names a capture centre (the catalog's `ccv`) counts from whichever
of its CATD and that CCV has a report that stands (valid) and whose first report HQ received
first; the other's reports are conflicts (`_shared`).
An acta with no CATD in the catalog (the first form, or `catd: null`) and an acta outside
the catalog count from the node whose report HQ received first; later reports of it from
other nodes are conflicts. A node reports an acta once: a second `acta.verified` or
`acta.sin_acta` of the same acta from the same node is a conflict and the first stands,
unless an `acta.sin_acta_undone` withdrew the sin acta (the acta turned up after all).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from catd_node import actas, keys_format
from catd_node.actas import Classification, Value
from catd_node.catalog import Election
from catd_node.errors import BadInput
from hq import store as hq_store
from hq.store.base import Conn

VERIFIED = "acta.verified"
SIN_ACTA = "acta.sin_acta"
UNDONE = "acta.sin_acta_undone"
REPORTS = (VERIFIED, SIN_ACTA, UNDONE)
# Conflict reasons (stable identifiers in JSON).
OTRO_CATD = "otro_catd"                  # a report of an acta another node counts for
SEGUNDO_REPORTE = "segundo_reporte"      # the same node reports an acta it already reported
VALORES_INVALIDOS = "valores_invalidos"  # values (or a field) the node's own rules refuse
IMAGEN_NO_VINCULADA = "imagen_no_vinculada"  # captured on an image the node never linked to the acta
# Packet body additions of issue 9 (docs/packets.md): allowed values, and what older packets mean.
MECANISMOS_TRASLADO = frozenset({"D", "F", "I"})
TIPOS_DOCUMENTO = frozenset({"ACTA PREP", "RPP", "CC", "PPC", "ACTA VRME", "ACTA VA", "ACTA VPPP",
                             "ACTA UE"})
ORIGENES = frozenset({"CATD", "CASILLA"})
DIGITALIZACIONES = frozenset({"ESCANER", "MOVIL"})
_BY_SOURCE = {"scanner": ("CATD", "ESCANER"), "upload": ("CATD", "MOVIL")}


@dataclass(frozen=True)
class ActaRecord:
    """What HQ holds of one registered acta: the row the release publishes."""

    key: str
    node: str                        # the CATD whose report counts
    in_catalog: bool
    classification: Classification
    values: dict[str, Value]         # validated values on its ballot and controls; {} for sin acta
    image_sha256: str | None         # CODIGO_INTEGRIDAD: SHA-256 of the image HQ holds
    acopio_at: str | None            # packet times (UTC, RFC 3339): recorded, never ordered by
    captured_at: str | None
    verified_at: str | None          # for a sin acta: when it was registered
    origen: str | None               # CATD | CASILLA
    digitalizacion: str | None       # ESCANER | MOVIL
    tipo_documento: str | None       # ACTA PREP, RPP, CC, …
    mecanismo_traslado: str | None   # D, F, I or None
    evidence: tuple[int, ...]        # seqs of `node`'s packets behind this row


@dataclass(frozen=True)
class Conflict:
    """A report HQ received and did not count, with why (shown to HQ staff)."""

    key: str
    node: str
    seq: int
    reason: str      # otro_catd | segundo_reporte | valores_invalidos | imagen_no_vinculada | …
    detail: str

    def json(self) -> dict[str, Any]:
        return {"acta": self.key, "node": self.node, "seq": self.seq, "reason": self.reason,
                "detail": self.detail}


@dataclass(frozen=True)
class Count:
    actas: dict[str, ActaRecord]     # acta key → the one record that counts
    conflicts: tuple[Conflict, ...]


class Row(NamedTuple):
    """A stored packet as the count reads it."""

    node: str
    seq: int
    kind: str
    at: str
    received_at: str
    acta: str | None
    body: dict[str, Any]             # {} for acta.captured: only its time is read


@dataclass
class _Chain:
    """One node's packets that a row draws on, indexed (the first of each, as the node records it once)."""

    acopio: dict[str, Row] = field(default_factory=dict)                 # acta → acta.acopio
    images: dict[str, Row] = field(default_factory=dict)                 # sha → acta.digitized
    assigned: dict[tuple[str, str], Row] = field(default_factory=dict)   # (acta, sha) → acta.assigned
    captured: dict[int, Row] = field(default_factory=dict)               # seq → acta.captured
    replaced: dict[str, list[int]] = field(default_factory=dict)         # acta → seqs replacing its image

    def add(self, row: Row) -> None:
        if row.kind == "acta.captured":
            self.captured[row.seq] = row
        elif row.kind == "acta.acopio" and row.acta is not None:
            self.acopio.setdefault(row.acta, row)
        elif row.kind == "acta.digitized":
            image = row.body.get("image")
            sha = image.get("sha256") if isinstance(image, dict) else None
            if isinstance(sha, str):
                self.images.setdefault(sha, row)
        elif row.kind == "acta.assigned" and row.acta is not None:
            sha = row.body.get("image_sha256")
            if isinstance(sha, str):
                self.assigned.setdefault((row.acta, sha), row)
            if row.body.get("replaces") is not None:
                self.replaced.setdefault(row.acta, []).append(row.seq)

    def bound(self, acta: str, sha: object, before: int) -> bool:
        """Issue 12, defence in depth (the node's web app checks the same): this node linked
        image `sha` to `acta` — acta.digitized or acta.assigned — before packet `before`, and
        no assignment replaced the acta's image in between."""
        if not isinstance(sha, str):
            return False
        digitized = self.images.get(sha)
        assigned = self.assigned.get((acta, sha))
        links = [r.seq for r in (digitized,) if r is not None and r.acta == acta]
        links += [assigned.seq] if assigned is not None else []
        replaced = self.replaced.get(acta, ())
        return any(link < before and not any(link < r < before for r in replaced) for link in links)


def count(conn: Conn, election: Election) -> Count:
    """The count over every packet HQ holds."""
    return count_rows(election, read_rows(conn))


def read_rows(conn: Conn) -> list[Row]:
    out = []
    for node, seq, kind, at, received_at, acta, text in hq_store.count_packets(conn):
        body = json.loads(text)["body"] if text is not None else {}
        out.append(Row(node, seq, kind, at, received_at, acta, body))
    return out


def count_rows(election: Election, rows: Iterable[Row]) -> Count:
    """The count over these packets (any order): a pure function, so the release verifier
    can recompute a row from the packets a release carries."""
    chains: dict[str, _Chain] = {}
    reports: dict[str, list[Row]] = {}
    conflicts: list[Conflict] = []
    for row in rows:
        chains.setdefault(row.node, _Chain()).add(row)
        if row.kind in REPORTS:
            if row.acta is None:
                conflicts.append(Conflict("", row.node, row.seq, VALORES_INVALIDOS, "acta: missing"))
            elif not keys_format.acceptable(row.acta, election.actas):
                # A modified node could skip the entry check (issue 12): such text never
                # becomes a registered acta, a published row or a spreadsheet cell.
                conflicts.append(Conflict(row.acta[:64], row.node, row.seq, VALORES_INVALIDOS,
                                          "acta: not in the catalog and not an acta key"))
            else:
                reports.setdefault(row.acta, []).append(row)
    records: dict[str, ActaRecord] = {}
    for key, found in reports.items():
        allowed = election.capturers(key)
        if allowed is not None and len(allowed) > 1:
            record = _shared(election, key, allowed, found, chains, conflicts)
            if record is not None:
                records[key] = record
            continue
        owner, why = _owner(election, key, found)
        conflicts.extend(Conflict(key, r.node, r.seq, OTRO_CATD, why) for r in found if r.node != owner)
        own = sorted((r for r in found if r.node == owner), key=lambda r: r.seq)
        record = _Acta(election, key, owner, chains.get(owner, _Chain()), conflicts).record(own)
        if record is not None:
            records[key] = record
    conflicts.sort(key=lambda c: (c.key, c.node, c.seq))
    return Count(dict(sorted(records.items())), tuple(conflicts))


def _shared(election: Election, key: str, allowed: tuple[str, ...], found: list[Row],
            chains: dict[str, _Chain], conflicts: list[Conflict]) -> ActaRecord | None:
    """An acta its CATD and its district's CCV may both report: each one's reports are taken
    as if it alone counted; of those whose report stands (valid), the one whose first report
    HQ received first counts. The other's reports are conflicts `otro_catd` (and a report
    refused on its own merits keeps its own conflict); any other node's too."""
    catd, ccv = allowed[0], allowed[1]
    trials: dict[str, tuple[ActaRecord | None, list[Conflict], list[Row]]] = {}
    for node in allowed:
        own = sorted((r for r in found if r.node == node), key=lambda r: r.seq)
        if own:
            held: list[Conflict] = []
            record = _Acta(election, key, node, chains.get(node, _Chain()), held).record(own)
            trials[node] = (record, held, own)

    def first_received(node: str) -> tuple[str, int]:
        claims = [r for r in trials[node][2] if r.kind != UNDONE] or trials[node][2]
        return min((r.received_at, r.seq) for r in claims)

    standing = sorted((n for n, trial in trials.items() if trial[0] is not None), key=first_received)
    counted = standing[0] if standing else None
    why = (f"{key} counts from {counted}, whose report HQ received first of its CATD {catd} and its "
           f"district's CCV {ccv}" if counted else f"the catalog assigns {key} to {catd} (or the CCV {ccv})")
    conflicts.extend(Conflict(key, r.node, r.seq, OTRO_CATD, why) for r in found if r.node not in allowed)
    for node, (record, held, own) in trials.items():
        if node == counted or record is None:
            conflicts.extend(held)
        else:
            conflicts.extend(Conflict(key, r.node, r.seq, OTRO_CATD, why) for r in own)
    return trials[counted][0] if counted else None


def _owner(election: Election, key: str, found: list[Row]) -> tuple[str, str]:
    """The node whose reports of `key` count, and what another node's report is told."""
    allowed = election.capturers(key)
    if allowed is not None and len(allowed) == 1:
        return allowed[0], f"the catalog assigns {key} to {allowed[0]}; only its report counts"
    claims = [r for r in found if r.kind != UNDONE] or found
    first = min(claims, key=lambda r: (r.received_at, r.node, r.seq))
    return first.node, f"{key} counts from {first.node}, whose report HQ received first"


class _Acta:
    """The reports of one acta from the node it counts from, taken in chain order."""

    def __init__(self, election: Election, key: str, node: str, chain: _Chain,
                 conflicts: list[Conflict]) -> None:
        self.election, self.key, self.node, self.chain = election, key, node, chain
        self.conflicts = conflicts

    def flag(self, row: Row, reason: str, detail: str) -> None:
        self.conflicts.append(Conflict(self.key, row.node, row.seq, reason, detail))

    def record(self, own: list[Row]) -> ActaRecord | None:
        standing: Row | None = None     # the report in force, valid or not
        result: Classification | None = None
        values: dict[str, Value] = {}
        history: list[int] = []         # a sin acta and its undoing, before the report in force
        for row in own:
            if row.kind == UNDONE:
                if standing is not None and standing.kind == SIN_ACTA \
                        and row.body.get("sin_acta_seq") == standing.seq:
                    history += [standing.seq, row.seq]
                    standing = result = None
                else:
                    self.flag(row, SEGUNDO_REPORTE, "undoes no sin acta in force")
                continue
            if standing is not None:
                self.flag(row, SEGUNDO_REPORTE, f"already reported at seq {standing.seq}")
                continue
            standing = row
            if row.kind == VERIFIED and not self.chain.bound(self.key, row.body.get("image_sha256"), row.seq):
                self.flag(row, IMAGEN_NO_VINCULADA,
                          f"image {str(row.body.get('image_sha256'))[:16]}… was never linked to {self.key} "
                          f"by {row.node} (acta.digitized or acta.assigned) before seq {row.seq}")
                continue
            try:
                values, result = self.check(row)
            except BadInput as exc:
                self.flag(row, VALORES_INVALIDOS, f"{exc.what}: {exc.why}")
        if standing is None or result is None:
            return None
        return self.build(standing, values, result, history)

    def check(self, row: Row) -> tuple[dict[str, Value], Classification]:
        """The values and class of a report, by the node's own rules (BadInput: refused)."""
        if row.kind == SIN_ACTA:
            reason = row.body.get("reason")
            return {}, actas.sin_acta(self.election, self.key, reason if isinstance(reason, str) else "")
        values = actas.acta_values(self.election, self.key, row.body.get("values"))
        return values, actas.classify(self.election, self.key, values)

    def build(self, report: Row, values: dict[str, Value], result: Classification,
              history: list[int]) -> ActaRecord:
        evidence = set(history) | {report.seq}
        acopio = self.chain.acopio.get(self.key)
        tipo = mecanismo = None
        if acopio is not None:
            evidence.add(acopio.seq)
            tipo = self.choice(acopio, "tipo_documento", TIPOS_DOCUMENTO, "ACTA PREP")
            mecanismo = self.choice(acopio, "mecanismo_traslado", MECANISMOS_TRASLADO, None)
        sha = captured_at = origen = digitalizacion = None
        if report.kind == VERIFIED:
            raw_sha = report.body.get("image_sha256")
            sha = raw_sha if isinstance(raw_sha, str) else None
            seq = report.body.get("captured_seq")
            captured = self.chain.captured.get(seq) if isinstance(seq, int) else None
            if captured is not None and captured.acta == self.key:
                evidence.add(captured.seq)
                captured_at = captured.at
            origen, digitalizacion = self.image(sha, evidence)
        return ActaRecord(
            key=self.key, node=self.node, in_catalog=self.key in self.election.actas,
            classification=result, values=values, image_sha256=sha,
            acopio_at=acopio.at if acopio is not None else None, captured_at=captured_at,
            verified_at=report.at, origen=origen, digitalizacion=digitalizacion,
            tipo_documento=tipo, mecanismo_traslado=mecanismo, evidence=tuple(sorted(evidence)),
        )

    def image(self, sha: str | None, evidence: set[int]) -> tuple[str | None, str | None]:
        """(origen, digitalización) of the image, when a digitized (or assigned) packet of
        this node links it to this acta; the links' seqs join the evidence."""
        digitized = self.chain.images.get(sha) if sha is not None else None
        if digitized is None or sha is None:
            return None, None
        if digitized.acta != self.key:
            assigned = self.chain.assigned.get((self.key, sha))
            if digitized.acta is not None or assigned is None:
                return None, None
            evidence.add(assigned.seq)
        evidence.add(digitized.seq)
        source = digitized.body.get("source")
        kind = source.get("kind") if isinstance(source, dict) else None
        origen, digitalizacion = _BY_SOURCE.get(kind, (None, None)) if isinstance(kind, str) else (None, None)
        return (self.choice(digitized, "origen", ORIGENES, origen),
                self.choice(digitized, "digitalizacion", DIGITALIZACIONES, digitalizacion))

    def choice(self, row: Row, name: str, allowed: frozenset[str], default: str | None) -> str | None:
        """A body field that must be one of `allowed` (absent or null: `default`); another
        value is flagged and published as unknown (None) — the acta still counts."""
        value = row.body.get(name)
        if value is None:
            return default
        if value in allowed:
            return str(value)
        self.flag(row, VALORES_INVALIDOS,
                  f"{name}: {str(value)[:20]!r} is not one of {', '.join(sorted(allowed))}")
        return None
