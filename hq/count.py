"""The count at HQ: one record per registered acta, from the CATD that owns it; conflicts apart.

DESIGN invariant 6: a valid signature proves who sent a record, not that it is right. Every
signed value is re-validated with the node's own rules (`actas.acta_values`), each catalog
acta is counted once — from the CATD the catalog assigns it to — and any other report of it
is a `Conflict` shown to HQ staff, never more votes. `count()` is built by the counting work
(issue 9); the release, the site and the verifier read only these records.
"""

from __future__ import annotations

from dataclasses import dataclass

from catd_node.actas import Classification, Value


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
    verified_at: str | None
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


@dataclass(frozen=True)
class Count:
    actas: dict[str, ActaRecord]     # acta key → the one record that counts
    conflicts: tuple[Conflict, ...]
