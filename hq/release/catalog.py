"""A `Release` → the election file's second form (docs/election-file.md), written atomically.

Every catalog row of the release becomes one acta: its key and parts, district or
municipality, lista nominal, representatives figure, its ballot (the fields not printed `-`)
and the CATD that collects it — a `CATD` column when the release has one, else one CATD per
district, `CATD-<entidad 2 digits>-<distrito 2 digits>` (`--catd-per municipio`:
`CATD-<entidad>-M<municipio 3 digits>`). Rows outside the catalog are skipped and counted.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import unicodedata
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from catd_node import wording
from catd_node.blobs import fsync_dir
from catd_node.catalog import DEFAULT_MAX_BOLETAS_ESPECIAL, infer_kind, timezone_offset
from catd_node.errors import BadInput
from hq.release.model import ActaRow, Release, fold
from hq.release.text import where

# INE, Reglamento de Elecciones, Anexo 18.10: entity id → (name, abbreviation of release names).
ENTIDADES: dict[int, tuple[str, str]] = {
    1: ("AGUASCALIENTES", "AGS"), 2: ("BAJA CALIFORNIA", "BC"), 3: ("BAJA CALIFORNIA SUR", "BCS"),
    4: ("CAMPECHE", "CAMP"), 5: ("COAHUILA", "COAH"), 6: ("COLIMA", "COL"), 7: ("CHIAPAS", "CHIS"),
    8: ("CHIHUAHUA", "CHIH"), 9: ("CIUDAD DE MÉXICO", "CDMX"), 10: ("DURANGO", "DGO"),
    11: ("GUANAJUATO", "GTO"), 12: ("GUERRERO", "GRO"), 13: ("HIDALGO", "HGO"), 14: ("JALISCO", "JAL"),
    15: ("MÉXICO", "MEX"), 16: ("MICHOACÁN", "MICH"), 17: ("MORELOS", "MOR"), 18: ("NAYARIT", "NAY"),
    19: ("NUEVO LEÓN", "NL"), 20: ("OAXACA", "OAX"), 21: ("PUEBLA", "PUE"), 22: ("QUERÉTARO", "QRO"),
    23: ("QUINTANA ROO", "QROO"), 24: ("SAN LUIS POTOSÍ", "SLP"), 25: ("SINALOA", "SIN"),
    26: ("SONORA", "SON"), 27: ("TABASCO", "TAB"), 28: ("TAMAULIPAS", "TAMPS"), 29: ("TLAXCALA", "TLAX"),
    30: ("VERACRUZ", "VER"), 31: ("YUCATÁN", "YUC"), 32: ("ZACATECAS", "ZAC"),
}
# Words of an election's name (accents folded) → the release's election kind; first match wins,
# so municipal presidencies are AYUN before PRESIDENCIA (of the republic) is PRES.
ELECTION_KINDS = (
    ("JEFATURA DE GOBIERNO", "GUB"), ("GUBERNATURA", "GUB"), ("GOBERNA", "GUB"),
    ("AYUNTAMIENTO", "AYUN"), ("ALCALDIA", "AYUN"), ("MUNICIPAL", "AYUN"),
    ("DIPUTACION", "DIP"), ("DIPUTAD", "DIP"), ("SENADURIA", "SEN"), ("SENADOR", "SEN"),
    ("PRESIDENCIA", "PRES"),
)
CATD_PER = ("district", "municipio")
_RELEASE = re.compile(r"[A-Z0-9]+_[A-Z0-9]+")
_RELEASE_ZIP = re.compile(r"\d{8}_\d{4}_PREP_([A-Z0-9]+_[A-Z0-9]+)\.ZIP")
_LOWER_WORDS = {"DE", "DEL", "LA", "LAS", "LOS", "Y", "EL", "EN"}


@dataclass(frozen=True)
class Options:
    """What the command line fills or overrides (None: take it from the release)."""
    entidad: int | None = None
    election: str | None = None
    release: str | None = None
    timezone: str | None = None
    max_boletas_especial: int = DEFAULT_MAX_BOLETAS_ESPECIAL
    catd_per: str | None = None
    ccv: tuple[str, ...] = ()   # `DISTRITO=NODE`: the district's capture centre (CCV)
    distritos: Path | None = None   # `--distritos FILE`: CSV ID_DISTRITO,NOMBRE


@dataclass(frozen=True)
class Built:
    data: dict[str, Any]
    actas: int
    fuera_de_catalogo: int
    other_entities: int
    ballots_inferred: int
    districts: int


def election_kind(name: str) -> str | None:
    folded = fold(name)
    return next((kind for words, kind in ELECTION_KINDS if words in folded), None)


def contest_name(election: str) -> str:
    """`JEFATURA DE GOBIERNO` → `Jefatura de Gobierno`."""
    words = election.split()
    return " ".join(w.lower() if i and w in _LOWER_WORDS else w.capitalize() for i, w in enumerate(words))


def release_from_name(path: Path) -> str | None:
    """`20240602_2000_PREP_GUB_CDMX.zip` → `GUB_CDMX`."""
    match = _RELEASE_ZIP.fullmatch(path.name.upper())
    return match.group(1) if match else None


def _entidad(release: Release, rows: tuple[ActaRow, ...],
             chosen: int | None) -> tuple[int, tuple[ActaRow, ...]]:
    """The entity of the catalog and its rows: the only one printed, or the chosen one."""
    first: dict[int, ActaRow] = {}
    for row in rows:
        assert row.identity is not None
        first.setdefault(row.identity.entidad, row)
    if chosen is None:
        if len(first) > 1:
            second = list(first.values())[1]
            raise BadInput(where(release.source, second.line), f"rows of several entities "
                           f"({', '.join(map(str, sorted(first)))}): pass --entidad N to take one")
        if not first:
            raise BadInput(release.source, "no acta of the catalog in this file")
        chosen = next(iter(first))
    if chosen not in ENTIDADES:
        raise BadInput(where(release.source, first[chosen].line) if chosen in first else "--entidad",
                       f"{chosen} is not an entity id (1–32, INE Anexo 18.10)")
    kept = tuple(row for row in rows if row.identity is not None and row.identity.entidad == chosen)
    if not kept:
        raise BadInput("--entidad", f"no acta of entity {chosen} in {release.source} "
                                    f"(it has {', '.join(map(str, sorted(first)))})")
    return chosen, kept


def _ballots(rows: tuple[ActaRow, ...]) -> tuple[dict[int, tuple[str, ...] | None], int]:
    """Each row's ballot (by line). A row that cannot tell (a SIN ACTA row printed `-`
    everywhere) takes the commonest ballot of its district or municipality: coalitions differ
    by district, and its ceiling counts 2 × the parties on it."""
    own = {row.line: row.ballot() for row in rows}
    by_area: dict[tuple[int | None, int | None], Counter[tuple[str, ...]]] = {}
    for row in rows:
        ballot = own[row.line]
        if ballot is not None:
            by_area.setdefault((row.distrito, row.municipio), Counter())[ballot] += 1
    inferred = 0
    for row in rows:
        if own[row.line] is None:
            common = by_area.get((row.distrito, row.municipio))
            own[row.line] = common.most_common(1)[0][0] if common else None
            inferred += 1
    return own, inferred


def _catd(row: ActaRow, entidad: int, per: str, has_column: bool) -> str | None:
    if has_column:
        return row.catd
    if per == "municipio":
        return f"CATD-{entidad:02d}-M{row.municipio:03d}" if row.municipio is not None else None
    # distrito None: the LEEME's VMRE/VA/PPP actas with no district (N/A): any node.
    return f"CATD-{entidad:02d}-{row.distrito:02d}" if row.distrito is not None else None


def build(release: Release, options: Options) -> Built:
    """The second-form JSON of a release, and what was skipped."""
    catalog_rows = release.catalog_rows
    fuera = len(release.rows) - len(catalog_rows)
    entidad, rows = _entidad(release, catalog_rows, options.entidad)
    # INE 2018/2021 files print no election line: their name says it (`diputaciones.csv`).
    stem = Path(release.source.split("!")[-1]).name.split(".")[0].upper()
    election = options.election or release.election or stem
    if options.release is not None and not _RELEASE.fullmatch(options.release):
        raise BadInput("--release", f"{options.release!r} is not KIND_ENT (GUB_CDMX, DIP_QROO)")
    if options.max_boletas_especial < 0:
        raise BadInput("--max-boletas-especial", "must be ≥ 0")
    release_name = options.release or release_from_name(Path(release.source.split("!")[0]))
    kind = release_name.split("_")[0] if release_name else election_kind(election)
    if kind is None:
        raise BadInput(release.source, f"cannot tell the election kind from {election!r}: "
                                       "pass --release KIND_ENT (e.g. DIP_QROO) or --election NAME")
    release_name = release_name or f"{kind}_{ENTIDADES[entidad][1]}"
    timezone = options.timezone or release.timezone
    if timezone is None:
        if release.cut_at is None:
            raise BadInput(release.source, "no cut line (a date and time before the acta header) "
                                           "names the time zone: pass --timezone UTC-6")
        raise BadInput(where(release.source, release.cut_at),
                       f"took {release.cut!r} as the cut line, and its time-zone label cannot be read "
                       "(expected e.g. (UTC-6), UTC-5 or (Tiempo del Centro)): pass --timezone UTC-6")
    timezone_offset(timezone)
    per = options.catd_per or ("district" if any(r.distrito is not None for r in rows) else "municipio")
    if per not in CATD_PER:
        raise BadInput("--catd-per", f"{per!r} is not one of {', '.join(CATD_PER)}")
    ballots, inferred = _ballots(rows)
    votes = release.vote_fields
    tipo_acta: dict[str, None] = {}
    actas = []
    for row in rows:
        ident = row.identity
        assert ident is not None and row.lista_nominal is not None
        tipo_acta.setdefault(ident.tipo_acta)
        distrito, municipio = row.distrito, row.municipio
        if distrito is None and municipio is None:
            distrito = 0  # printed N/A: the loader needs one of the two; 0 is no real district
        acta: dict[str, Any] = {
            "clave_acta": ident.clave_acta, "contest": kind, "seccion": ident.seccion,
            "tipo_casilla": ident.tipo_casilla, "id_casilla": ident.id_casilla,
            "ext_contigua": ident.ext_contigua, "tipo_acta": ident.tipo_acta,
            "distrito": distrito, "municipio": municipio, "ubicacion": row.ubicacion,
            "lista_nominal": row.lista_nominal, "representantes": row.representantes,
        }
        ballot = ballots[row.line]
        if ballot is not None and ballot != votes:
            acta["ballot"] = list(ballot)
        acta["catd"] = _catd(row, entidad, per, release.has_catd)
        if row.mecanismos_traslado and row.mecanismos_traslado.strip().upper() not in ("-", "N/A"):
            acta["mecanismo_traslado"] = row.mecanismos_traslado.strip()
        actas.append(acta)
    data = {
        "form": 2, "election": election,
        "entidad": {"id": entidad, "nombre": ENTIDADES[entidad][0]},
        "release": release_name, "timezone": timezone,
        "max_boletas_especial": options.max_boletas_especial,
        "contests": [{
            "id": kind, "name": contest_name(election), "tipo_acta": list(tipo_acta),
            "votes": [{"field": name, "kind": infer_kind(name),
                       "label": wording.field_label(name, infer_kind(name))} for name in votes],
            "controls": list(release.control_fields),
        }],
        "actas": actas,
    }
    names = district_names(rows)
    if options.distritos is not None:
        given = read_distritos(options.distritos, {r.distrito for r in rows if r.distrito})
        names = dict(sorted({**names, **given}.items(), key=lambda item: int(item[0])))
    if names:
        data = {**{k: v for k, v in data.items() if k != "actas"}, "distritos": names, "actas": actas}
    if options.ccv:
        data = {**{k: v for k, v in data.items() if k != "actas"}, "ccv": ccv_map(options.ccv, actas),
                "actas": actas}
    return Built(data=data, actas=len(actas), fuera_de_catalogo=fuera,
                 other_entities=len(catalog_rows) - len(rows), ballots_inferred=inferred,
                 districts=len({r.distrito for r in rows if r.distrito is not None}))


def district_names(rows: tuple[ActaRow, ...]) -> dict[str, str]:
    """The election file's `distritos` from the release's district-name column:
    `{"3": "Distrito 03 · Jesús María"}`, the first name printed for each district (a later
    row spelling it otherwise is not a reason to refuse the file)."""
    out: dict[str, str] = {}
    for row in rows:
        if row.distrito and row.distrito_nombre and str(row.distrito) not in out:
            name = unicodedata.normalize("NFC", contest_name(row.distrito_nombre))
            out[str(row.distrito)] = f"Distrito {row.distrito:02d} · {name}"
    return dict(sorted(out.items(), key=lambda item: int(item[0])))


def read_distritos(path: Path, districts: set[int]) -> dict[str, str]:
    """`--distritos FILE`: a CSV (`,` or `|`) with the columns ID_DISTRITO and NOMBRE, any case,
    one district a row → `{"3": "Distrito 03 · Coyoacán"}`. The names are read by the release's
    encoding rules (docs/dialects.md): a byte that is not UTF-8 is read as Windows-1252 and
    warned, never refused. A row whose ID_DISTRITO is no district of the release is an error
    naming its line; a row with an empty name is skipped."""
    import csv

    from hq.release.model import unwrap
    from hq.release.text import decode, read_file

    source = str(path)
    text = decode(read_file(path), source)
    seen: set[tuple[int, int]] = set()
    for line, column, byte in text.odd:
        if (line, column) not in seen:
            seen.add((line, column))
            print(f"warning: {where(source, line, column)}: byte 0x{byte:02X} read as Windows-1252",
                  file=sys.stderr)
    header: list[str] | None = None
    out: dict[str, str] = {}
    for number, raw in enumerate(text.lines, start=1):
        if not raw.strip():
            continue
        delimiter = "|" if raw.count("|") > raw.count(",") else ","
        cells = [unwrap(c).strip() for c in next(csv.reader([raw], delimiter=delimiter), [])]
        if header is None:
            header = [c.upper() for c in cells]
            if "ID_DISTRITO" not in header or "NOMBRE" not in header:
                raise BadInput(where(source, number), "expected a header with ID_DISTRITO and NOMBRE, "
                                                      f"got {raw[:80]!r}")
            id_at, name_at = header.index("ID_DISTRITO"), header.index("NOMBRE")
            continue
        ident = cells[id_at] if id_at < len(cells) else ""
        name = " ".join(cells[name_at].split()) if name_at < len(cells) else ""
        if not (ident.isdecimal() and ident.isascii()):
            raise BadInput(where(source, number, id_at + 1, "ID_DISTRITO"),
                           f"expected a district number, got {ident[:40]!r}")
        if int(ident) not in districts:
            raise BadInput(where(source, number, id_at + 1, "ID_DISTRITO"),
                           f"no acta of the release is in district {int(ident)}")
        if name:
            out[str(int(ident))] = f"Distrito {int(ident):02d} · {unicodedata.normalize('NFC', name)}"
    if header is None:
        raise BadInput(source, "empty: expected a header ID_DISTRITO,NOMBRE and a row per district")
    return out


def ccv_map(given: tuple[str, ...], actas: list[dict[str, Any]]) -> dict[str, str]:
    """`--ccv DISTRITO=NODE`, each repeated option one district: the election file's `ccv`."""
    from catd_node.catalog import NODE_ID

    districts = {a.get("distrito") for a in actas}
    out: dict[str, str] = {}
    for text in given:
        number, _, node = text.partition("=")
        if not number.strip().isdigit() or not NODE_ID.fullmatch(node.strip()):
            raise BadInput("--ccv", f"{text!r}: expected DISTRITO=NODE, like 7=CCV-09-01")
        if int(number) not in districts:
            raise BadInput("--ccv", f"{text!r}: no acta of the release is in district {int(number)}")
        if str(int(number)) in out:
            raise BadInput("--ccv", f"{text!r}: district {int(number)} is given twice")
        out[str(int(number))] = node.strip()
    return out


def with_candidaturas(data: dict[str, Any], path: Path) -> tuple[dict[str, Any], int]:
    """`data` with the `candidaturas` the candidacies file names (docs/election-file.md):
    the file travels into the election file, so the cut's CSV and the site name each person.
    Returns the new data and how many candidacies were named."""
    from catd_node import catalog as catalog_mod
    from hq.release import candidaturas

    election = catalog_mod.parse(data, str(path))
    listed: list[dict[str, Any]] = []
    for contest in election.contests.values():
        items = candidaturas.of_contest(contest)
        names = candidaturas.read_names(path, {p for c in items for p in c.parties})
        for c in items:
            person = names.get(c.parties if c.parties else c.label)
            if person and person[0]:
                listed.append({"contest": contest.id, "candidatura": c.label,
                               "partidos": [v for v in contest.votes if v in c.parties],
                               "propietaria": person[0], "suplente": person[1]})
    out = {k: v for k, v in data.items() if k != "actas"}
    out["candidaturas"] = listed
    out["actas"] = data["actas"]
    return out, len(listed)


@dataclass(frozen=True)
class Embedded:
    """What `catd-hq init --candidaturas` writes into HQ's folder (see `embed`)."""
    data: dict[str, Any] | None    # the election file with its candidacies; None: first form
    names: Path
    named: int

    def write(self, election_out: Path) -> Path:
        """Write it; returns the file written (the election file, or `candidaturas.csv`)."""
        if self.data is not None:
            write(self.data, election_out)
            return election_out
        target = election_out.parent / "candidaturas.csv"
        shutil.copyfile(self.names, target)
        return target


def embed(election_file: Path, names: Path) -> Embedded:
    """`catd-hq init --candidaturas`: the election file with the candidacies `names` names
    (second form). A first-form file cannot hold them: then `names` is kept beside it as
    `candidaturas.csv`, which every cut reads. Checked whole before anything is written."""
    from catd_node import catalog as catalog_mod
    from hq.release import candidaturas

    try:
        data = json.loads(election_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BadInput(str(election_file), f"cannot read ({exc})") from exc
    if not names.is_file():
        raise BadInput(str(names), "no such candidacies file")
    if not isinstance(data, dict) or data.get("form") != 2:
        election = catalog_mod.parse(data, str(election_file))
        known = {f.name for c in election.contests.values() for f in c.vote_fields}
        return Embedded(None, names, len(candidaturas.read_names(names, known)))
    embedded, named = with_candidaturas(data, names)
    return Embedded(embedded, names, named)


def dumps(data: dict[str, Any]) -> str:
    """The election file's text: a key per line, one contest and one acta per line (diffable)."""
    def line(value: Any) -> str:
        return json.dumps(value, ensure_ascii=False)

    parts = []
    for key, value in data.items():
        if key in ("contests", "actas", "candidaturas"):
            items = ",\n".join("  " + line(item) for item in value)
            parts.append(f" {line(key)}: [\n{items}\n ]")
        else:
            parts.append(f" {line(key)}: {line(value)}")
    return "{\n" + ",\n".join(parts) + "\n}\n"


def write(data: dict[str, Any], out: Path) -> None:
    """Write `out` whole or not at all: a temp file in the same directory, fsync, rename."""
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(dumps(data))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, out)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise BadInput(str(out), f"cannot write ({exc.strerror})") from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(out.parent)


def main(source: Path, out: Path, candidaturas: Path | None, options: Options) -> int:
    """`catd-hq catalog`: read, build, write; print what was written and what was skipped."""
    from hq.release import read

    options = _entidad_option(candidaturas, options)
    release = read.read(source, options.entidad)
    built = build(release, options)
    data, named = (built.data, 0) if candidaturas is None else with_candidaturas(built.data, candidaturas)
    write(data, out)
    for oddity in release.oddities:
        print(f"warning: {oddity}", file=sys.stderr)
    esperadas = release.summary.get("ACTAS_ESPERADAS")
    print(f"{out}: {built.actas} actas of {built.data['release']} ({built.districts} districts,"
          f" entidad {built.data['entidad']['id']}); skipped {built.fuera_de_catalogo} fuera de catálogo"
          f" and {built.other_entities} of other entities; {built.ballots_inferred} ballots taken from"
          f" their district; {named} candidacies named")
    if isinstance(esperadas, int) and esperadas != built.actas + built.other_entities:
        print(f"note: the release counts {esperadas} ACTAS_ESPERADAS; this file lists "
              f"{built.actas + built.other_entities} of them")
    return 0


def _entidad_option(candidaturas: Path | None, options: Options) -> Options:
    from dataclasses import replace

    from hq.release import read

    if candidaturas is None:
        return options
    entidad = read.read_entidad(candidaturas)
    if options.entidad is not None and options.entidad != entidad:
        raise BadInput("--entidad", f"{options.entidad} disagrees with {candidaturas} (ID_ENTIDAD {entidad})")
    return replace(options, entidad=entidad)


def classes(release: Release) -> dict[str, int]:
    """Acta rows by class: each observation (in the 2024 wording), none, fuera de catálogo."""
    from hq.release import dialects

    counts: Counter[str] = Counter()
    for row in release.rows:
        if row.fuera_de_catalogo:
            counts["FUERA DE CATÁLOGO"] += 1
            continue
        texts = sorted({dialects.observation(p) for p in row.observaciones.split(",") if p.strip()})
        counts[", ".join(texts) or "(sin observación)"] += 1
    return dict(sorted(counts.items()))


def check(source: Path, candidaturas: Path | None, options: Options, as_json: bool = False) -> int:
    """`catd-hq catalog --check`: read and build as `catalog` would, print what was detected
    and every tolerated oddity; write nothing. Exit 2 as `catalog` would."""
    from hq.release import dialects, read

    options = _entidad_option(candidaturas, options)
    release = read.read(source, options.entidad)
    built = build(release, options)
    report = {
        "file": release.source, "layout": release.layout, "encoding": release.encoding,
        "delimiter": release.delimiter, "election": built.data["election"], "release": built.data["release"],
        "cut_line": release.cut, "cut_line_at": release.cut_at, "date_order": release.date_order,
        "timezone": built.data["timezone"], "key_form": release.key_form,
        "vocabulary_year": dialects.vocabulary_year([r.observaciones for r in release.rows]),
        "header": list(release.header), "vote_fields": list(release.vote_fields),
        "actas": built.actas, "fuera_de_catalogo": built.fuera_de_catalogo,
        "other_entities": built.other_entities, "districts": built.districts,
        "ballots_inferred": built.ballots_inferred, "classes": classes(release),
        "oddities": list(release.oddities),
    }
    if as_json:
        print(json.dumps(report, ensure_ascii=False, indent=1))
        return 0
    for name in ("file", "layout", "encoding", "delimiter", "election", "release", "cut_line",
                 "cut_line_at", "date_order", "timezone", "key_form", "vocabulary_year", "actas",
                 "fuera_de_catalogo", "other_entities", "districts", "ballots_inferred"):
        print(f"{name}: {report[name]}")
    for name, count in report["classes"].items():
        print(f"class: {count} {name}")
    for oddity in release.oddities:
        print(f"tolerated: {oddity}")
    print(f"{len(release.oddities)} tolerated oddities; nothing written")
    return 0
