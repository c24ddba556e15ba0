"""What a simulacro replays: a published release → its catalog and, per acta, what reaches the CATD.

The rehearsal reads only what is on the acta and how it arrived: its key, the printed cells
of the fields on its ballot (a number, ILEGIBLE, SIN DATO; `-` is not on the ballot), the
reason of a sin acta, its origin, digitization, document type and transfer mechanism. It
never reads what the PREP computes — TOTAL_VOTOS_CALCULADO, CONTABILIZADA, the observations
(other than a sin acta's reason), the summary — so a release whose computed columns are
wrong still replays into the official one.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from catd_node import catalog as catalog_mod
from catd_node.catalog import Election
from catd_node.errors import BadInput
from catd_node.keys_format import looks_like_acta_key
from hq.release import catalog as release_catalog
from hq.release import dialects
from hq.release import read as release_read
from hq.release.model import NO_APLICA, NOT_ON_BALLOT, SIN_ACTA, ActaRow, Cell, Release, fold

CAPTURA = "captura"          # acopio, image, capture, verification
SIN_ACTA_KIND = "sin_acta"   # the coordinator registers it with its reason
FUERA = "fuera"              # outside the catalog: acopio, image, a clerk assigns its key, capture
PENDING = "pendiente"        # no data in the release (not yet arrived at that cut): not replayed
ILEGIBLE = "ILEGIBLE"
SIN_DATO = "SIN DATO"
# Published sin acta reasons (accents folded) → the node's reason ids (catd_node/actas.py).
SIN_ACTA_REASONS = (
    ("PAQUETE NO ENTREGADO", "paquete_no_entregado"),
    ("CASILLA NO INSTALADA", "casilla_no_instalada"),
    ("SIN BOLSA", "paquete_sin_bolsa"),
    ("SIN SOBRE", "paquete_sin_bolsa"),
)
PHONE = "MOVIL"


@dataclass(frozen=True)
class Acta:
    """One acta as it reaches its CATD, and what the clerks will read on it."""

    key: str
    line: int                          # in the source file
    node: str
    kind: str                          # CAPTURA, SIN_ACTA_KIND, FUERA
    fields: tuple[str, ...]            # on its ballot (votes, then controls), as printed
    typed: dict[str, str]              # field → what a clerk types: digits, ILEGIBLE, SIN DATO
    reason: str | None = None          # sin acta reason id
    origen: str = "CATD"               # CATD, or CASILLA (photographed at the casilla: PREP Casilla)
    digitalizacion: str = "ESCANER"    # ESCANER, or MOVIL (a phone upload)
    tipo_documento: str | None = None  # None: the node's default for its casilla type
    mecanismo: str | None = None       # D, F, I

    @property
    def by_phone(self) -> bool:
        return self.digitalizacion == PHONE or self.origen == "CASILLA"


@dataclass(frozen=True)
class Plan:
    release: Release                   # the source as read (the comparison reads all of it)
    election: Election
    election_path: Path
    actas: tuple[Acta, ...]            # file order
    pending: tuple[str, ...]           # catalog actas the release holds no data for
    nodes: tuple[str, ...]
    limited: bool = False              # a subset (`--limit`): the printed summary covers more

    def of(self, node: str) -> list[Acta]:
        return [a for a in self.actas if a.node == node]


def typed_cell(cell: Cell) -> str:
    """A published cell as a clerk types it; a blank or N/A is a field left blank (SIN DATO)."""
    if isinstance(cell, int):
        return str(cell)
    if cell == ILEGIBLE:
        return ILEGIBLE
    return SIN_DATO


def sin_acta_reason(row: ActaRow) -> str | None:
    """The reason id of a sin acta row (its OBSERVACIONES), None when it is no sin acta."""
    # Each year's wording (`SIN SOBRE`, `… SIN SOBRE`, `SIN ACTA (…)`) read as 2024's.
    folded = fold(", ".join(dialects.observation(p) for p in row.observaciones.split(",") if p.strip()))
    marked = "SIN ACTA" in folded or any(v == SIN_ACTA for v in row.votes.values())
    if not marked:
        return None
    for words, reason in SIN_ACTA_REASONS:
        if words in folded:
            return reason
    raise BadInput(f"{row.line}", f"a sin acta row whose reason cannot be read: {row.observaciones!r}")


def _has_data(row: ActaRow) -> bool:
    """Whether the row carries what a clerk read: a number, ILEGIBLE or SIN DATO in a vote field."""
    return any(isinstance(v, int) or v in (ILEGIBLE, "SIN_DATO") for v in row.votes.values())


def _fuera_key(row: ActaRow, taken: set[str]) -> str:
    """The key a clerk reads off an acta outside the catalog: the published one when usable."""
    key = row.clave_acta.strip()
    if key in ("-", "0") or not looks_like_acta_key(key) or key in taken:
        key = f"FUERA-{row.line}"
    return key


def _acta(row: ActaRow, key: str, node: str, kind: str, fields: tuple[str, ...]) -> Acta:
    cells = {**row.votes, **row.controls}
    typed = {f: typed_cell(cells.get(f)) for f in fields}
    return Acta(key=key, line=row.line, node=node, kind=kind, fields=fields, typed=typed,
                origen=(row.origen or "CATD").upper(),
                digitalizacion=(row.digitalizacion or "ESCANER").upper(),
                tipo_documento=row.tipo_documento, mecanismo=row.mecanismos_traslado)


def subset(release: Release, limit: int | None) -> Release:
    """The first `limit` acta rows (file order); the whole release when None."""
    if limit is None or limit >= len(release.rows):
        return release
    return replace(release, rows=release.rows[:limit])


def build(source: Path, out_dir: Path, limit: int | None = None, entidad: int | None = None,
          candidaturas: Path | None = None) -> Plan:
    """Read the release, write its catalog to `out_dir/election.json`, and plan every acta.
    The candidacies file (`candidaturas`, default the one beside the release) travels into
    the election file, so the cut's candidacies CSV and the site name every candidate."""
    if entidad is None:
        entidad = _entidad_beside(source)
    if candidaturas is None:
        candidaturas = candidacies_beside(source)
    whole = release_read.read(source, entidad)
    release = subset(whole, limit)
    built = release_catalog.build(release, release_catalog.Options(entidad=entidad))
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "election.json"
    data = built.data
    if candidaturas is not None:
        data, _named = release_catalog.with_candidaturas(data, candidaturas)
    release_catalog.write(data, path)
    election = catalog_mod.load(path)
    nodes = tuple(sorted({spec.catd for spec in election.actas.values() if spec.catd}))
    if not nodes:
        nodes = (f"CATD-{election.entidad_id or 0:02d}-01",)
    by_district = {int(n.rsplit("-", 1)[1]): n for n in nodes if n.rsplit("-", 1)[1].isdecimal()}
    actas: list[Acta] = []
    pending: list[str] = []
    taken = set(election.actas)
    for row in release.rows:
        if row.identity is None:
            key = _fuera_key(row, taken)
            taken.add(key)
            node = by_district.get(row.distrito or -1, nodes[0])
            fields = election.fields_of(key)
            actas.append(_acta(row, key, node, FUERA, fields))
            continue
        key = row.identity.clave_acta
        if key not in election.actas:
            continue  # another entity's row: the catalog skipped it
        node = election.owner(key) or nodes[0]
        reason = sin_acta_reason(row)
        if reason is not None:
            actas.append(replace(_acta(row, key, node, SIN_ACTA_KIND, ()), reason=reason))
        elif not _has_data(row):
            pending.append(key)
        else:
            actas.append(_acta(row, key, node, CAPTURA, election.fields_of(key)))
    return Plan(release=release, election=election, election_path=path, actas=tuple(actas),
                pending=tuple(pending), nodes=nodes, limited=len(release.rows) < len(whole.rows))


def candidacies_beside(source: Path) -> Path | None:
    """The release's candidacies file beside it (`CDMX_GUB_CANDIDATURAS.csv`), if any."""
    found = sorted(source.parent.glob("*CANDIDATURAS*.csv"))
    return found[0] if found else None


def _entidad_beside(source: Path) -> int | None:
    """The entity of a layout that prints none, from the candidacies file beside it
    (`CDMX_GUB_CANDIDATURAS.csv` next to `bd-gobierno.csv.gz`)."""
    for candidate in sorted(source.parent.glob("*CANDIDATURAS*.csv")):
        try:
            return release_read.read_entidad(candidate)
        except BadInput:
            continue
    return None


def summary_line(plan: Plan) -> str:
    kinds = {k: sum(1 for a in plan.actas if a.kind == k) for k in (CAPTURA, SIN_ACTA_KIND, FUERA)}
    phone = sum(1 for a in plan.actas if a.by_phone)
    return (f"{len(plan.actas)} actas to replay over {len(plan.nodes)} CATDs: {kinds[CAPTURA]} to capture"
            f" ({phone} by phone), {kinds[SIN_ACTA_KIND]} sin acta, {kinds[FUERA]} fuera de catálogo;"
            f" {len(plan.pending)} without data left out")


__all__ = ["CAPTURA", "FUERA", "NOT_ON_BALLOT", "NO_APLICA", "PENDING", "SIN_ACTA_KIND", "Acta", "Plan",
           "build", "subset", "summary_line", "typed_cell"]
