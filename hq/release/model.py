"""What a release says, typed: the `Release` of one results file and an `ActaRow` per acta row.

A published cell is an int, `ILEGIBLE`, `SIN_DATO` (printed `Sin dato`), `SIN_ACTA`, `N/A`,
`-` (not on this acta's ballot: neither 0 nor SIN DATO) or None (blank).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field

from catd_node.actas import ILEGIBLE, SIN_DATO

PREP = "prep"
COMPUTO = "computo"
SIN_ACTA = "SIN_ACTA"          # a cell of a SIN ACTA row (IECM prints it in every field)
NO_APLICA = "N/A"              # LEEME 2024: controls of VMRE/VA/PPP actas, SIN ACTA times
NOT_ON_BALLOT = "-"            # the field is not on this acta's ballot: neither 0 nor SIN DATO
Cell = int | str | None        # int, ILEGIBLE, SIN_DATO, SIN_ACTA, N/A, "-"; None: a blank cell
_MARKERS = {"ILEGIBLE": ILEGIBLE, "SIN DATO": SIN_DATO, "SIN DATOS": SIN_DATO, "SIN ACTA": SIN_ACTA,
            "N/A": NO_APLICA, "NA": NO_APLICA, "-": NOT_ON_BALLOT, "--": NOT_ON_BALLOT}
_VALUES = (ILEGIBLE, SIN_DATO)


@dataclass(frozen=True)
class Identity:
    """The parts of `CLAVE_ACTA` = entidad (2) + sección (4) + tipo (1) + id (2) + ext (2) + TIPO_ACTA."""
    entidad: int
    seccion: int
    tipo_casilla: str
    id_casilla: int
    ext_contigua: int
    tipo_acta: str

    @property
    def clave_casilla(self) -> str:
        return (f"{self.entidad:02d}{self.seccion:04d}{self.tipo_casilla}"
                f"{self.id_casilla:02d}{self.ext_contigua:02d}")

    @property
    def clave_acta(self) -> str:
        return self.clave_casilla + self.tipo_acta


@dataclass(frozen=True)
class ActaRow:
    line: int
    clave_acta: str                  # as published (cómputo: built from the parts)
    identity: Identity | None        # None: fuera de catálogo
    distrito: int | None
    municipio: int | None
    ubicacion: int | None
    lista_nominal: int | None        # a number on every catalog row
    representantes: int | None
    votes: Mapping[str, Cell]        # every vote field of the release, in ballot order
    controls: Mapping[str, Cell]
    total_votos_calculado: Cell = None
    observaciones: str = ""
    contabilizada: int | None = None
    fecha_hora_acopio: str | None = None
    fecha_hora_captura: str | None = None
    fecha_hora_verificacion: str | None = None
    origen: str | None = None
    digitalizacion: str | None = None
    tipo_documento: str | None = None
    mecanismos_traslado: str | None = None
    sha: str | None = None
    catd: str | None = None
    distrito_nombre: str | None = None   # INE's DISTRITO_FEDERAL / LEEME 2024's DISTRITO_LOCAL

    @property
    def fuera_de_catalogo(self) -> bool:
        return self.identity is None

    def ballot(self) -> tuple[str, ...] | None:
        """The vote fields on this acta's ballot (those not published as `-`), or None when
        the row cannot tell: no value in any field and no `-` to mark one off (a SIN ACTA
        row printed `-` or `SIN ACTA` everywhere)."""
        on = tuple(name for name, value in self.votes.items() if value != NOT_ON_BALLOT)
        # A sin acta row of some institutes prints 0 where nothing was read: no value.
        sin_acta = "SIN ACTA" in fold(self.observaciones) or "SIN SOBRE" in fold(self.observaciones)
        has_value = any((isinstance(v, int) and not (sin_acta and v == 0)) or v in _VALUES
                        for v in self.votes.values())
        if has_value or 0 < len(on) < len(self.votes):
            return on
        return None


@dataclass(frozen=True)
class Release:
    source: str
    layout: str                           # PREP or COMPUTO
    encoding: str
    delimiter: str
    election: str | None                  # line 1 when it names the election
    cut: str | None                       # the cut line as printed: `02/06/2024 20:00 (UTC-6)`
    timezone: str | None                  # its label: `UTC-6`
    summary: Mapping[str, int | str]      # as printed, numbers as int
    header: tuple[str, ...]               # the acta header as published (upper-cased)
    vote_fields: tuple[str, ...]          # 2024 names, ballot order
    control_fields: tuple[str, ...]
    has_catd: bool
    rows: tuple[ActaRow, ...] = field(repr=False)   # every acta row, file order
    cut_at: int | None = None             # the line taken as the cut line
    date_order: str | None = None         # `DD/MM/YYYY`, `YYYY/MM/DD`… (dialects.DATE_ORDERS)
    key_form: str = "plain"               # keys wrapped `="…"`, `'…'` or plain; padding
    oddities: tuple[str, ...] = ()        # every tolerated oddity, naming its line (and column)

    @property
    def catalog_rows(self) -> tuple[ActaRow, ...]:
        return tuple(row for row in self.rows if not row.fuera_de_catalogo)


def fold(text: str) -> str:
    """Upper case without accents: `Fuera de catálogo` → `FUERA DE CATALOGO`."""
    return "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c)).upper()


def unwrap(text: str) -> str:
    """A key as written to keep its zeros: `="230085B0100"` or `'230085B0100'` → `230085B0100`."""
    text = text.strip()
    if text.startswith('="') and text.endswith('"') and len(text) >= 3:
        text = text[2:-1]
    elif text.startswith("'"):
        text = text[1:-1] if text.endswith("'") and len(text) >= 2 else text[1:]
    return text.strip()


def parse_cell(raw: str) -> Cell:
    """A published vote or control cell; ValueError for anything else."""
    text = unwrap(raw)
    if text.isdecimal() and text.isascii():
        return int(text)
    if not text:
        return None
    marker = _MARKERS.get(" ".join(text.upper().replace("_", " ").split()))
    if marker is None:
        raise ValueError(f"expected a number, Ilegible, Sin dato, Sin acta, N/A or -, "
                         f"got {raw.strip()[:40]!r}")
    return marker


