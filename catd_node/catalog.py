"""The election catalog: contests, their ballots, and every expected acta (docs/election-file.md).

Two forms load: the first (round 1: one flat vote list per contest, no casilla parts) and the
second, which carries what real catalogs carry — the casilla key parts, `TIPO_ACTA`, the
fields on each acta's own ballot, the CATD that collects it, the entity and release names.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property
from pathlib import Path
from typing import Any

from catd_node.errors import BadInput

PARTIDO = "partido"
COALICION = "coalicion"
INDEPENDIENTE = "independiente"
NO_REGISTRADOS = "no_registrados"
NULOS = "nulos"
VOTE_KINDS = (PARTIDO, COALICION, INDEPENDIENTE, NO_REGISTRADOS, NULOS)
# The candidacies that can accredit representatives at a casilla (Anexo 13: propietario and
# suplente of each party and independent on the ballot).
CANDIDACY_KINDS = frozenset({PARTIDO, INDEPENDIENTE})
CASILLA_TYPES = frozenset("BCESMAPV")
DEFAULT_MAX_BOLETAS_ESPECIAL = 750
DEFAULT_TIMEZONE = "UTC-6"
_TIMEZONE = re.compile(r"UTC([+-])(\d{1,2})(?::(\d\d))?")
_CLAVE_ACTA = re.compile(r"(\d{2})(\d{4})([A-Z])(\d{2})(\d{2})([0-9A-Z]{1,8})")
NODE_ID = re.compile(r"[0-9A-Za-z][0-9A-Za-z._-]{0,63}")


def infer_kind(name: str) -> str:
    """The kind of a vote field from its official column name (first-form files, releases)."""
    upper = name.upper()
    if upper == "NULOS":
        return NULOS
    if upper in ("NO_REGISTRADOS", "NO_REGISTRADAS", "CNR"):
        return NO_REGISTRADOS
    if upper.startswith(("CAND_IND", "CI_", "IND_")):
        return INDEPENDIENTE
    if upper.startswith("C_") or "_" in upper:
        return COALICION
    return PARTIDO


def timezone_offset(label: str) -> timedelta:
    """`UTC-6` → −6 h: the offset that turns UTC into the official local time of the label."""
    match = _TIMEZONE.fullmatch(label)
    if not match:
        raise BadInput("timezone", f"{label!r} is not an official label like UTC-6")
    sign, hours, minutes = match.groups()
    delta = timedelta(hours=int(hours), minutes=int(minutes or 0))
    return -delta if sign == "-" else delta


@dataclass(frozen=True)
class VoteField:
    name: str
    kind: str
    label: str = ""               # as the acta prints it ("PAN – PRI – PRD"); "" → catd_node.wording


@dataclass(frozen=True)
class Candidatura:
    """A candidacy of the election file's optional `candidaturas` list: who runs for a
    party, coalition or independent field (`label`, the release's PARTIDO_CSP)."""
    contest: str
    label: str                    # PAN, PAN_PRI_PRD, CAND_IND_1
    partidos: tuple[str, ...]     # its parties (none for an independent)
    propietaria: str
    suplente: str = ""
    distrito: int | None = None   # None: the whole entity (or every district)


@dataclass(frozen=True)
class Contest:
    id: str
    name: str
    vote_fields: tuple[VoteField, ...]   # in ballot order
    controls: tuple[str, ...]            # official names; never decide a class
    tipo_acta: tuple[str, ...] = ()

    @cached_property
    def votes(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.vote_fields)

    @cached_property
    def kinds(self) -> dict[str, str]:
        return {f.name: f.kind for f in self.vote_fields}

    @property
    def fields(self) -> tuple[str, ...]:
        return self.votes + self.controls


@dataclass(frozen=True)
class ActaSpec:
    key: str                      # CLAVE_ACTA (second form) or the first form's key
    contest: str
    seccion: int
    casilla: str                  # first form "B01"; second form the casilla part "C0100"
    lista_nominal: int
    tipo_casilla: str = "B"
    id_casilla: int = 0
    ext_contigua: int = 0
    tipo_acta: str = ""
    clave_casilla: str = ""
    distrito: int | None = None
    municipio: int | None = None
    ubicacion: int | None = None
    representantes: int = 0       # the release's preloaded figure: information, not the ceiling
    ballot: tuple[str, ...] | None = None   # vote fields on this acta; None: all of the contest
    catd: str | None = None       # node id of the CATD that collects it; None: any
    mecanismo_traslado: str | None = None   # approved before the night (the source release's)

    @property
    def especial(self) -> bool:
        return self.tipo_casilla == "S"


@dataclass(frozen=True)
class Election:
    name: str
    contests: dict[str, Contest]
    actas: dict[str, ActaSpec]
    form: int = 1
    entidad_id: int | None = None
    entidad: str | None = None
    release: str | None = None
    timezone: str = DEFAULT_TIMEZONE
    max_boletas_especial: int = DEFAULT_MAX_BOLETAS_ESPECIAL
    candidaturas: tuple[Candidatura, ...] = ()
    distritos: dict[int, str] = field(default_factory=dict, compare=False)
    ccv: dict[int, str] = field(default_factory=dict)   # district → its capture centre's node id
    _by_catd: dict[str | None, tuple[str, ...]] = field(default_factory=dict, compare=False, repr=False)

    def names_of(self, label: str, distrito: int | None = None) -> Candidatura | None:
        """Who runs for `label` (in `distrito`, else entity-wide), from the election file."""
        fallback = None
        for c in self.candidaturas:
            if c.label == label:
                if c.distrito == distrito and distrito is not None:
                    return c
                if c.distrito is None:
                    fallback = c
        return fallback

    def contest_of(self, key: str) -> Contest | None:
        spec = self.actas.get(key)
        return self.contests.get(spec.contest) if spec else None

    def ballot(self, key: str) -> tuple[str, ...]:
        """The vote fields on this acta's ballot, in ballot order (the others publish as `-`)."""
        spec = self.actas.get(key)
        contest = self.contests.get(spec.contest) if spec else self.contest_for_unknown(key)
        if contest is None:
            return ()
        return spec.ballot if spec is not None and spec.ballot is not None else contest.votes

    def fields_of(self, key: str) -> tuple[str, ...]:
        """What a clerk captures for this acta: its ballot's vote fields, then the controls."""
        spec = self.actas.get(key)
        contest = self.contests.get(spec.contest) if spec else self.contest_for_unknown(key)
        return self.ballot(key) + contest.controls if contest else ()

    def contest_for_unknown(self, key: str) -> Contest | None:
        """The contest an acta outside the catalog is captured under (FUERA DE CATÁLOGO):
        the one whose TIPO_ACTA ends the key, else the only contest."""
        for contest in self.contests.values():
            if any(key.endswith(t) for t in contest.tipo_acta if t):
                return contest
        return next(iter(self.contests.values())) if len(self.contests) == 1 else None

    def owner(self, key: str) -> str | None:
        """The CATD that collects this acta (None: any node may)."""
        spec = self.actas.get(key)
        return spec.catd if spec else None

    def ccv_of(self, key: str) -> str | None:
        """The capture centre (CCV) node of the acta's district, which may also capture its
        casilla photos (None: none named)."""
        spec = self.actas.get(key)
        return self.ccv.get(spec.distrito) if spec is not None and spec.distrito is not None else None

    def capturers(self, key: str) -> tuple[str, ...] | None:
        """The nodes whose report of this acta may count: its CATD and its district's CCV
        (None: any node, the acta has no CATD)."""
        owner = self.owner(key)
        if owner is None:
            return None
        ccv = self.ccv_of(key)
        return (owner,) if ccv is None or ccv == owner else (owner, ccv)

    def may_capture(self, key: str, node: str) -> bool:
        """This node may capture (and report) the acta: its CATD, its district's CCV, or any
        node when the catalog assigns it to none."""
        allowed = self.capturers(key)
        return allowed is None or node in allowed

    def ccv_actas(self, node: str) -> tuple[str, ...]:
        """The actas of the districts this node is the CCV of."""
        districts = {d for d, n in self.ccv.items() if n == node}
        if not districts:
            return ()
        return tuple(k for k, spec in self.actas.items() if spec.distrito in districts)

    def actas_of(self, catd: str) -> tuple[str, ...]:
        """The catalog actas a node collects: those assigned to it, and those assigned to none."""
        if not self._by_catd:
            grouped: dict[str | None, list[str]] = {}
            for key, spec in self.actas.items():
                grouped.setdefault(spec.catd, []).append(key)
            self._by_catd.update({k: tuple(v) for k, v in grouped.items()})
        return self._by_catd.get(catd, ()) + self._by_catd.get(None, ())

    def local_offset(self) -> timedelta:
        return timezone_offset(self.timezone)


def _at(where: str, key: str) -> str:
    """`file: actas[3]` + `lista_nominal` → `file: actas[3].lista_nominal`; top level `file: key`."""
    return f"{where} {key}" if where.endswith(":") else f"{where}.{key}"


def _field(obj: Any, key: str, kind: type | tuple[type, ...], where: str, default: Any = ...) -> Any:
    if not isinstance(obj, dict):
        raise BadInput(where.rstrip(":"), "expected a JSON object")
    if key not in obj:
        if default is not ...:
            return default
        raise BadInput(_at(where, key), "missing")
    value = obj[key]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if default is not ... and value is None:
        return default
    if not isinstance(value, kinds) or (int in kinds and isinstance(value, bool)):
        names = "/".join(k.__name__ for k in kinds)
        raise BadInput(_at(where, key), f"expected {names}, got {value!r}")
    return value


def _text(value: str, where: str) -> str:
    if not value or not unicodedata.is_normalized("NFC", value):
        raise BadInput(where, f"expected a non-empty string in Unicode NFC form, got {value!r}")
    return value


def _names(obj: Any, key: str, where: str, default: Any = ...) -> Any:
    items = _field(obj, key, list, where, default)
    if items is default:
        return default
    for i, item in enumerate(items):
        if not isinstance(item, str):
            raise BadInput(f"{where}.{key}[{i}]", f"expected a string, got {item!r}")
        _text(item, f"{where}.{key}[{i}]")
    if len(set(items)) != len(items):
        raise BadInput(f"{where}.{key}", "names repeat")
    return tuple(items)


def _vote_fields(raw: Any, where: str, form: int) -> tuple[VoteField, ...]:
    if form == 1:
        return tuple(VoteField(n, infer_kind(n)) for n in _names(raw, "votes", where))
    fields = []
    for i, item in enumerate(_field(raw, "votes", list, where)):
        at = f"{where}.votes[{i}]"
        name = _text(_field(item, "field", str, at), f"{at}.field")
        kind = _field(item, "kind", str, at)
        if kind not in VOTE_KINDS:
            raise BadInput(f"{at}.kind", f"{kind!r} is not one of {', '.join(VOTE_KINDS)}")
        label = _field(item, "label", str, at, default="")
        fields.append(VoteField(name, kind, _text(label, f"{at}.label") if label else ""))
    if len({f.name for f in fields}) != len(fields):
        raise BadInput(f"{where}.votes", "names repeat")
    return tuple(fields)


def _contest(raw: Any, where: str, form: int) -> Contest:
    contest = Contest(
        id=_text(_field(raw, "id", str, where), f"{where}.id"),
        name=_field(raw, "name", str, where),
        vote_fields=_vote_fields(raw, where, form),
        controls=_names(raw, "controls", where),
        tipo_acta=_names(raw, "tipo_acta", where, default=()),
    )
    if not contest.vote_fields:
        raise BadInput(f"{where}.votes", "a contest needs at least one vote field")
    if set(contest.votes) & set(contest.controls):
        raise BadInput(where, "a field cannot be both a vote and a control")
    return contest


def _check_key(key: str, where: str) -> None:
    if not key.strip() or len(key) > 64:
        raise BadInput(where, "must be 1–64 characters")
    if not unicodedata.is_normalized("NFC", key):
        raise BadInput(where, "not in Unicode NFC form (packets refuse it)")


def _acta_v1(raw: Any, where: str) -> ActaSpec:
    casilla = _field(raw, "casilla", str, where)
    return ActaSpec(
        key=_field(raw, "key", str, where), contest=_field(raw, "contest", str, where),
        seccion=_field(raw, "seccion", int, where), casilla=casilla,
        lista_nominal=_field(raw, "lista_nominal", int, where),
        tipo_casilla=casilla[:1] if casilla[:1] in CASILLA_TYPES else "B",
    )


def _acta_v2(raw: Any, where: str, entidad: int, contests: dict[str, Contest]) -> ActaSpec:
    key = _field(raw, "clave_acta", str, where)
    contest = contests.get(_field(raw, "contest", str, where))
    if contest is None:
        raise BadInput(f"{where}.contest", f"unknown contest {raw['contest']!r}")
    seccion = _field(raw, "seccion", int, where)
    tipo = _field(raw, "tipo_casilla", str, where)
    id_casilla = _field(raw, "id_casilla", int, where)
    ext = _field(raw, "ext_contigua", int, where)
    tipo_acta = _field(raw, "tipo_acta", str, where)
    if tipo not in CASILLA_TYPES:
        raise BadInput(f"{where}.tipo_casilla", f"{tipo!r} is not one of {''.join(sorted(CASILLA_TYPES))}")
    if not (0 <= seccion <= 9999 and 0 <= id_casilla <= 99 and 0 <= ext <= 99):
        raise BadInput(where, "sección (0–9999), id_casilla and ext_contigua (0–99) out of range")
    casilla = f"{tipo}{id_casilla:02d}{ext:02d}"
    clave_casilla = f"{entidad:02d}{seccion:04d}{casilla}"
    if key != clave_casilla + tipo_acta:
        raise BadInput(f"{where}.clave_acta", f"{key!r} does not agree with its parts "
                                              f"({clave_casilla} + {tipo_acta})")
    if contest.tipo_acta and tipo_acta not in contest.tipo_acta:
        raise BadInput(f"{where}.tipo_acta", f"{tipo_acta!r} is not a TIPO_ACTA of contest {contest.id}")
    ballot = _names(raw, "ballot", where, default=None)
    if ballot is not None:
        unknown = [f for f in ballot if f not in contest.kinds]
        if unknown:
            raise BadInput(f"{where}.ballot", f"{unknown[0]!r} is not a vote field of contest {contest.id}")
        order = {name: i for i, name in enumerate(contest.votes)}
        ballot = tuple(sorted(ballot, key=order.__getitem__))
    distrito = _field(raw, "distrito", int, where, default=None)
    municipio = _field(raw, "municipio", int, where, default=None)
    if distrito is None and municipio is None:
        raise BadInput(where, "needs a distrito or a municipio")
    representantes = _field(raw, "representantes", int, where, default=0)
    if representantes < 0:
        raise BadInput(f"{where}.representantes", "must be ≥ 0")
    catd = _field(raw, "catd", str, where, default=None)
    return ActaSpec(
        key=key, contest=contest.id, seccion=seccion, casilla=casilla,
        lista_nominal=_field(raw, "lista_nominal", int, where), tipo_casilla=tipo,
        id_casilla=id_casilla, ext_contigua=ext, tipo_acta=tipo_acta, clave_casilla=clave_casilla,
        distrito=distrito, municipio=municipio, ubicacion=_field(raw, "ubicacion", int, where, default=None),
        representantes=representantes, ballot=ballot,
        catd=_text(catd, f"{where}.catd") if catd is not None else None,
        mecanismo_traslado=_mecanismo(raw, where),
    )


def parse(data: Any, source: str = "election") -> Election:
    """Build an Election from parsed JSON, naming the bad field (e.g. `actas[3].lista_nominal`)."""
    top = f"{source}:"
    form = _field(data, "form", int, top, default=1)
    if form not in (1, 2):
        raise BadInput(_at(top, "form"), f"unknown form {form} (1 or 2)")
    contests: dict[str, Contest] = {}
    for i, raw in enumerate(_field(data, "contests", list, top)):
        contest = _contest(raw, f"{source}: contests[{i}]", form)
        if contest.id in contests:
            raise BadInput(f"{source}: contests[{i}].id", f"contest {contest.id!r} is defined twice")
        contests[contest.id] = contest
    extra: dict[str, Any] = {}
    entidad = 0
    if form == 2:
        ent = _field(data, "entidad", dict, top)
        entidad = _field(ent, "id", int, f"{source}: entidad")
        if not 1 <= entidad <= 32:
            raise BadInput(f"{source}: entidad.id", f"{entidad} is not an entity id (1–32)")
        timezone = _field(data, "timezone", str, top, default=DEFAULT_TIMEZONE)
        timezone_offset(timezone)
        extra = {"entidad_id": entidad, "entidad": _field(ent, "nombre", str, f"{source}: entidad"),
                 "release": _field(data, "release", str, top), "timezone": timezone,
                 "max_boletas_especial": _field(data, "max_boletas_especial", int, top,
                                                default=DEFAULT_MAX_BOLETAS_ESPECIAL)}
    actas: dict[str, ActaSpec] = {}
    for i, raw in enumerate(_field(data, "actas", list, top)):
        where = f"{source}: actas[{i}]"
        spec = _acta_v1(raw, where) if form == 1 else _acta_v2(raw, where, entidad, contests)
        _check_key(spec.key, f"{where}.{'key' if form == 1 else 'clave_acta'}")
        if spec.contest not in contests:
            raise BadInput(f"{where}.contest", f"unknown contest {spec.contest!r}")
        if spec.lista_nominal < 0:
            raise BadInput(f"{where}.lista_nominal", "must be ≥ 0")
        if spec.key in actas:
            raise BadInput(f"{where}.key", f"acta {spec.key!r} is listed twice")
        actas[spec.key] = spec
    if form == 2:
        extra["candidaturas"] = _candidaturas(data, top, source, contests)
        extra["distritos"] = _distritos(data, top, source)
        extra["ccv"] = _ccv(data, top, source, actas)
    return Election(name=_field(data, "election", str, top), contests=contests, actas=actas,
                    form=form, **extra)


def _candidaturas(data: Any, top: str, source: str, contests: dict[str, Contest]) -> tuple[Candidatura, ...]:
    """The optional `candidaturas` list: each names a vote field of its contest."""
    out = []
    for i, raw in enumerate(_field(data, "candidaturas", list, top, default=[])):
        at = f"{source}: candidaturas[{i}]"
        contest = _field(raw, "contest", str, at)
        if contest not in contests:
            raise BadInput(f"{at}.contest", f"unknown contest {contest!r}")
        label = _text(_field(raw, "candidatura", str, at), f"{at}.candidatura")
        if label not in contests[contest].kinds:
            raise BadInput(f"{at}.candidatura", f"{label!r} is not a vote field of contest {contest}")
        partidos = _names(raw, "partidos", at, default=())
        propietaria = _field(raw, "propietaria", str, at)
        distrito = _field(raw, "distrito", int, at, default=None)
        out.append(Candidatura(contest, label, partidos, propietaria.strip(),
                               _field(raw, "suplente", str, at, default="").strip(), distrito))
    return tuple(out)


def _distritos(data: Any, top: str, source: str) -> dict[int, str]:
    """The optional `distritos` object: district number (as text) → its name."""
    out: dict[int, str] = {}
    for number, name in _field(data, "distritos", dict, top, default={}).items():
        at = f"{source}: distritos.{number}"
        if not str(number).isdigit() or not isinstance(name, str):
            raise BadInput(at, f"expected \"<number>\": \"<name>\", got {number!r}: {name!r}")
        out[int(number)] = _text(name, at)
    return out


def _ccv(data: Any, top: str, source: str, actas: dict[str, ActaSpec]) -> dict[int, str]:
    """The optional `ccv` object: district number (as text) → the node id of its capture
    centre (CCV), which may also capture that district's casilla photos."""
    out: dict[int, str] = {}
    raw = _field(data, "ccv", dict, top, default={})
    districts = {spec.distrito for spec in actas.values()} if raw else set()
    for number, node in raw.items():
        at = f"{source}: ccv.{number}"
        if not str(number).isdigit() or not isinstance(node, str):
            raise BadInput(at, f"expected \"<district>\": \"<node id>\", got {number!r}: {node!r}")
        if not NODE_ID.fullmatch(node):
            raise BadInput(at, f"{node!r} is not a node id (letters, digits, '-', '_', '.'; 1–64)")
        if int(number) not in districts:
            raise BadInput(at, f"no acta of the catalog is in district {int(number)}")
        out[int(number)] = node
    return out


def load(path: Path) -> Election:
    """Read and validate an election file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise BadInput(str(path), "election file not found") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadInput(str(path), f"not valid JSON ({exc})") from exc
    return parse(data, str(path))


def _mecanismo(raw: dict[str, Any], where: str) -> str | None:
    """The acta's transfer mechanism as the release printed it (`D`, `F`, `I`…), or None."""
    value = raw.get("mecanismo_traslado")
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > 16 or not value.isprintable():
        raise BadInput(f"{where}.mecanismo_traslado", f"expected a short text, got {value!r}")
    return value.strip()


def split_clave_acta(key: str) -> tuple[int, int, str, int, int, str] | None:
    """(entidad, sección, tipo, id, ext contigua, TIPO_ACTA) of a CLAVE_ACTA, or None."""
    match = _CLAVE_ACTA.fullmatch(key)
    if not match:
        return None
    ent, sec, tipo, ident, ext, tipo_acta = match.groups()
    return int(ent), int(sec), tipo, int(ident), int(ext), tipo_acta
