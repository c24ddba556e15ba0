"""The results CSV of a cut in the 2024 template for state institutes (`LEEME_G.txt`).

Line 1 the election, line 2 the cut with its official time-zone label, the 13 summary names
and values, then the acta header and one row per registered acta in the official order
(entidad, distrito, sección, tipo, id, ext; fuera de catálogo last). Column names are the
template's header line as printed (`TOTAL_VOTOS_CALCULADOS`, `REPRESENTANTES`,
`CONTABILIZADAS`); the vote columns are the catalog's own, in ballot order.

Cells are the release's vocabulary: a number, `ILEGIBLE`, `SIN DATO`, `-` (not on this acta's
ballot), `SIN ACTA`, `N/A`. Keys keep their zeros as text, wrapped `="…"`; free text (names)
is made spreadsheet-safe by `text_cell`. `|`-separated, UTF-8 with BOM, CRLF.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache

from catd_node import actas, csvsafe, tally
from catd_node.catalog import NO_REGISTRADOS, NULOS, ActaSpec, Election, split_clave_acta
from hq.count import ActaRecord

DELIMITER = "|"
NEWLINE = "\r\n"
HEAD = ("CLAVE_CASILLA", "CLAVE_ACTA", "ID_ENTIDAD", "ENTIDAD", "ID_DISTRITO_LOCAL", "SECCION",
        "ID_CASILLA", "TIPO_CASILLA", "EXT_CONTIGUA", "UBICACION_CASILLA", "TIPO_ACTA")
CONTROLS = ("TOTAL_BOLETAS_SOBRANTES", "TOTAL_PERSONAS_VOTARON", "TOTAL_REP_PARTIDO_CI_VOTARON",
            "TOTAL_VOTOS_SACADOS")
ASENTADO = "TOTAL_VOTOS_ASENTADO"
TAIL = ("TOTAL_VOTOS_CALCULADOS", "LISTA_NOMINAL", "REPRESENTANTES", "OBSERVACIONES", "CONTABILIZADAS",
        "MECANISMOS_TRASLADO", "CODIGO_INTEGRIDAD", "FECHA_HORA_ACOPIO", "FECHA_HORA_CAPTURA",
        "FECHA_HORA_VERIFICACION", "ORIGEN", "DIGITALIZACION", "TIPO_DOCUMENTO")
# First-form control names → the template's columns.
CONTROL_NAMES = {"BOLETAS_SOBRANTES": "TOTAL_BOLETAS_SOBRANTES",
                 "PERSONAS_VOTARON": "TOTAL_PERSONAS_VOTARON",
                 "REPRESENTANTES_VOTARON": "TOTAL_REP_PARTIDO_CI_VOTARON",
                 "TOTAL_ASENTADO": "TOTAL_VOTOS_ASENTADO"}
# The header line of LEEME_G names these two vote columns so, whatever the catalog calls them
# (`NO_REGISTRADAS` as its description spells it, `CNR` in first-form files).
TEMPLATE_VOTE_NAMES = {NO_REGISTRADOS: "NO_REGISTRADOS", NULOS: "NULOS"}
NO_APLICA = "N/A"
SIN_ACTA = "SIN ACTA"
FUERA_TIPO_ACTA = "0"          # LEEME_G: TIPO_ACTA of an acta outside the catalog
FUERA_UBICACION = "3"
# LEEME_G: the acta of voto desde el extranjero first, then the other modalities, when they
# belong to no district.
_MODALITY_RANK = {"M": 0, "A": 1, "P": 2}
_SHA256 = re.compile(r"[0-9a-f]{64}")


def text_cell(text: str) -> str:
    """Free text as a cell: one line, no delimiter, and never run as a formula by a
    spreadsheet (catd_node/csvsafe.cell: a leading quote before = + - @)."""
    return str(csvsafe.cell(" ".join(text.replace(DELIMITER, " ").split())))


def integrity_code(sha: object) -> str:
    """CODIGO_INTEGRIDAD: the image's SHA-256 in upper case (LEEME_G's example), or empty when
    the node's text is no SHA-256 — a node with a stolen key can name its image anything, and
    that text must not reach a cell (issue 12)."""
    return sha.upper() if isinstance(sha, str) and _SHA256.fullmatch(sha) else ""


def wrap(key: str) -> str:
    """A key kept as text with its leading zeros (`="090001C0100"`)."""
    return f'="{key}"'


@lru_cache(maxsize=64)
def _date(utc_day: str, days: int) -> str:
    """`DD/MM/YYYY` of the UTC date `YYYY-MM-DD` moved by `days`."""
    moved = date.fromisoformat(utc_day) + timedelta(days=days)
    return f"{moved.day:02d}/{moved.month:02d}/{moved.year}"


def stamp(at: str | None, election: Election, offset: timedelta | None = None) -> str:
    """`02/06/2024 20:15:03 (UTC-6)`: a packet's UTC time (RFC 3339, its form checked when HQ
    received it) in local official time, seconds truncated, the official label appended."""
    if at is None:
        return ""
    shift = election.local_offset() if offset is None else offset
    # Sliced, not parsed: a national cut stamps half a million times (benchmarks/publish.py).
    # Official offsets are whole hours; an offset with minutes takes datetime's way.
    hours, rest = divmod(int(shift.total_seconds()), 3600)
    if rest == 0:
        days, hour = divmod(int(at[11:13]) + hours, 24)
        return f"{_date(at[0:10], days)} {hour:02d}{at[13:19]} ({election.timezone})"
    t = datetime(int(at[0:4]), int(at[5:7]), int(at[8:10]), int(at[11:13]), int(at[14:16]), int(at[17:19]))
    t += shift
    label = election.timezone
    return f"{t.day:02d}/{t.month:02d}/{t.year} {t.hour:02d}:{t.minute:02d}:{t.second:02d} ({label})"


def cut_line(cut: datetime, election: Election) -> str:
    """Line 2: `02/06/2024 20:00 (UTC-6)`; `cut` is in local official time (naive)."""
    return f"{cut:%d/%m/%Y %H:%M} ({election.timezone})"


def district_column(election: Election) -> str:
    """`ID_MUNICIPIO` for an election by municipio (ayuntamientos), else `ID_DISTRITO_LOCAL`."""
    specs = election.actas.values()
    by_municipio = any(s.municipio is not None for s in specs) and all(s.distrito is None for s in specs)
    return "ID_MUNICIPIO" if by_municipio else "ID_DISTRITO_LOCAL"


@dataclass(frozen=True)
class Layout:
    """The acta header of one election: template columns around its own vote fields."""
    votes: tuple[str, ...]        # the catalog's vote fields, ballot order
    controls: dict[str, str]      # template control column → the contest's field name
    header: tuple[str, ...]

    @classmethod
    def of(cls, election: Election) -> Layout:
        votes: list[str] = []
        names: list[str] = []
        controls: dict[str, str] = {}
        for contest in election.contests.values():
            for field in contest.vote_fields:
                if field.name not in votes:
                    votes.append(field.name)
                    names.append(TEMPLATE_VOTE_NAMES.get(field.kind, field.name))
            for name in contest.controls:
                controls.setdefault(CONTROL_NAMES.get(name, name), name)
        head = tuple(district_column(election) if h == "ID_DISTRITO_LOCAL" else h for h in HEAD)
        return cls(tuple(votes), controls, head + CONTROLS + tuple(names) + (ASENTADO,) + TAIL)


def order_key(election: Election, key: str) -> tuple[object, ...]:
    """The official order: entidad, distrito, sección, tipo, id, ext; fuera de catálogo last."""
    spec = election.actas.get(key)
    if spec is None:
        return (2, key)
    district = spec.distrito if spec.distrito is not None else spec.municipio
    modality = _MODALITY_RANK.get(spec.tipo_casilla, 9) if district is None else 9
    return (0 if district is None else 1, district or 0, modality, spec.seccion, spec.tipo_casilla,
            spec.id_casilla, spec.ext_contigua, spec.tipo_acta, key)


def ordered(election: Election, records: Iterable[ActaRecord]) -> list[ActaRecord]:
    return sorted(records, key=lambda r: order_key(election, r.key))


@lru_cache(maxsize=8)
def _entidad_cell(name: str | None) -> str:
    return text_cell(name or "")


def _parts(election: Election, spec: ActaSpec) -> tuple[str, ...]:
    """CLAVE_CASILLA .. TIPO_ACTA of a catalog acta."""
    entidad = election.entidad_id or 0
    casilla = spec.clave_casilla or f"{entidad:02d}{spec.seccion:04d}{spec.tipo_casilla}" \
                                    f"{spec.id_casilla:02d}{spec.ext_contigua:02d}"
    district = spec.distrito if spec.distrito is not None else spec.municipio
    return (wrap(casilla), wrap(spec.key), f"{entidad:02d}", _entidad_cell(election.entidad),
            NO_APLICA if district is None else f"{district:03d}", f"{spec.seccion:04d}",
            f"{spec.id_casilla:02d}", spec.tipo_casilla, f"{spec.ext_contigua:02d}",
            NO_APLICA if spec.ubicacion is None else str(spec.ubicacion), spec.tipo_acta or NO_APLICA)


def _fuera_parts(election: Election, key: str) -> tuple[str, ...]:
    """The identity cells of an acta outside the catalog: what its key tells, else N/A."""
    parts = split_clave_acta(key)
    name = _entidad_cell(election.entidad)
    if parts is None:
        entidad = f"{election.entidad_id:02d}" if election.entidad_id else NO_APLICA
        return (wrap(key), wrap(key), entidad, name, NO_APLICA, NO_APLICA, NO_APLICA, NO_APLICA,
                NO_APLICA, FUERA_UBICACION, FUERA_TIPO_ACTA)
    ent, sec, tipo, ident, ext, _ = parts
    casilla = f"{ent:02d}{sec:04d}{tipo}{ident:02d}{ext:02d}"
    return (wrap(casilla), wrap(key), f"{ent:02d}", name, NO_APLICA, f"{sec:04d}", f"{ident:02d}", tipo,
            f"{ext:02d}", FUERA_UBICACION, FUERA_TIPO_ACTA)


_OFF_BALLOT = ""      # a column whose field is not on this acta's ballot (a field name is never empty)
_WORDS = {actas.SIN_DATO: "SIN DATO", actas.ILEGIBLE: actas.ILEGIBLE}
# Every value a capture can hold, printed once (5 MB): a national cut prints ~3.7 million.
_NUMBERS = tuple(str(n) for n in range(actas.MAX_VALUE + 1))


class RowWriter:
    """Renders ActaRecords as rows of one election's layout.

    The value columns of an acta depend only on its ballot, so each distinct ballot's column
    plan (field name, `-` off the ballot, N/A not captured) is worked out once per cut."""

    def __init__(self, election: Election) -> None:
        self.election = election
        self.layout = Layout.of(election)
        self.offset = election.local_offset()
        controls = self.layout.controls
        self.columns = ([controls.get(c) for c in CONTROLS] + list(self.layout.votes)
                        + [controls.get(ASENTADO)])
        self.plans: dict[object, list[str | None]] = {}

    def plan(self, key: str, spec: ActaSpec | None) -> list[str | None]:
        contest = self.election.contest_of(key) or self.election.contest_for_unknown(key)
        ident = (contest.id if contest else None, spec.ballot if spec is not None else None)
        found = self.plans.get(ident)
        if found is None:
            fields = set(self.election.fields_of(key))
            found = [None if c is None else (c if c in fields else _OFF_BALLOT) for c in self.columns]
            self.plans[ident] = found
        return found

    def row(self, record: ActaRecord) -> list[str]:
        election, result = self.election, record.classification
        spec = election.actas.get(record.key)
        sin_acta = result.cls == actas.SIN_ACTA
        out = list(_parts(election, spec) if spec is not None else _fuera_parts(election, record.key))
        plan = self.plan(record.key, spec)
        if sin_acta:
            out += [NO_APLICA if f is None else actas.NOT_ON_BALLOT if f == _OFF_BALLOT else SIN_ACTA
                    for f in plan]
        else:
            get, numbers = record.values.get, _NUMBERS
            out += [NO_APLICA if f is None else actas.NOT_ON_BALLOT if f == _OFF_BALLOT
                    else numbers[v] if type(v := get(f, actas.SIN_DATO)) is int and v <= actas.MAX_VALUE
                    else _other(v) for f in plan]
        out += [
            SIN_ACTA if sin_acta else str(result.total),
            str(spec.lista_nominal) if spec is not None else NO_APLICA,
            str(spec.representantes) if spec is not None else NO_APLICA,
            result.published_observations, str(result.contabilizada),
            record.mecanismo_traslado or (spec.mecanismo_traslado if spec is not None else None) or "",
        ]
        if sin_acta:  # LEEME_G: no image, no times, no origin for the supuestos SIN ACTA
            return [*out, *[NO_APLICA] * 7]
        offset = self.offset
        return [
            *out, integrity_code(record.image_sha256), stamp(record.acopio_at, election, offset),
            stamp(record.captured_at, election, offset), stamp(record.verified_at, election, offset),
            record.origen or "", record.digitalizacion or "", record.tipo_documento or "",
        ]


def _other(value: object) -> str:
    """A captured value that is not a number 0–99,999: SIN DATO, ILEGIBLE (or a bigger number,
    which the count never lets through)."""
    return str(value) if type(value) is int else _WORDS.get(str(value), actas.ILEGIBLE)


def line(cells: Iterable[str]) -> str:
    return DELIMITER.join(cells) + NEWLINE


def summary(election: Election, records: Iterable[ActaRecord], final: bool,
            by_field: bool = True) -> tally.Summary:
    """The 13 fields (and, unless `by_field` is False, the votes of each field)."""
    return tally.summarize(election, ((r.key, r.classification) for r in records), final=final,
                           by_field=by_field)


def lines(election: Election, records: Mapping[str, ActaRecord], cut: datetime,
          final: bool) -> Iterator[str]:
    """Every line of the results CSV (the BOM is the writer's), rows in the official order."""
    found = ordered(election, records.values())
    return lines_of(election, found, cut, summary(election, found, final, by_field=False).fields())


def lines_of(election: Election, records: Iterable[ActaRecord], cut: datetime,
             fields: Mapping[str, str]) -> Iterator[str]:
    """The results CSV of records already in the official order, with their summary."""
    writer = RowWriter(election)
    yield line([text_cell(election.name)])
    yield line([cut_line(cut, election)])
    yield line(fields.keys())
    yield line(fields.values())
    yield line(writer.layout.header)
    row = writer.row
    for record in records:
        yield DELIMITER.join(row(record)) + NEWLINE


def utc_of(cut: datetime, election: Election) -> datetime:
    """The UTC moment of a local official time (naive)."""
    return (cut - election.local_offset()).replace(tzinfo=UTC)


def local_of(moment: datetime, election: Election) -> datetime:
    """The local official time (naive, to the minute) of an aware moment."""
    local_time = moment.astimezone(UTC).replace(tzinfo=None) + election.local_offset()
    return local_time.replace(second=0, microsecond=0)


