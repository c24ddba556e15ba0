"""Packet bodies: every kind, its fields and the closed vocabularies — the code's own contract.

A body stays the dict that is signed (the canonical JSON of the envelope, DESIGN invariant 3):
these TypedDicts describe it and never re-serialize it, so no signed byte depends on them.
`check` names what a body lacks or should not hold; the ledger refuses such an append (a
programming error the tests catch, never a clerk's input). `docs/packets.md` is generated from
this module (`python -m catd_node.bodies > docs/packets.md`) and a test keeps it current.
Older packets lack fields added later (`NotRequired`); readers default them as documented.
"""

# No `from __future__ import annotations` here: Python 3.11 reads NotRequired only from
# annotations evaluated at class creation.
import sys
import typing
from enum import StrEnum
from functools import cache
from typing import Any, Literal, NotRequired, TypedDict

# -- closed vocabularies ---------------------------------------------------------------------


class Class(StrEnum):
    """An acta's class (Anexo 13; catd_node/actas.py, docs/rules.md)."""

    COUNTED = "counted"
    EXCEEDS_LISTA_NOMINAL = "exceeds_lista_nominal"
    ALL_UNREADABLE = "all_unreadable"
    SIN_ACTA = "sin_acta"
    OUT_OF_CATALOG = "out_of_catalog"


class SinActaReason(StrEnum):
    """Why an expected acta never arrived (actas.SIN_ACTA_REASONS)."""

    PAQUETE_NO_ENTREGADO = "paquete_no_entregado"
    CASILLA_NO_INSTALADA = "casilla_no_instalada"
    PAQUETE_SIN_BOLSA = "paquete_sin_bolsa"


class Origen(StrEnum):
    """Where the acta was digitized (LEEME ORIGEN)."""

    CATD = "CATD"
    CASILLA = "CASILLA"


class Digitalizacion(StrEnum):
    """How the acta was digitized (LEEME DIGITALIZACION)."""

    ESCANER = "ESCANER"
    MOVIL = "MOVIL"


class TipoDocumento(StrEnum):
    """Which document was digitized (LEEME TIPO_DOCUMENTO)."""

    ACTA_PREP = "ACTA PREP"
    RPP = "RPP"
    CC = "CC"
    PPC = "PPC"
    ACTA_VRME = "ACTA VRME"
    ACTA_VA = "ACTA VA"
    ACTA_VPPP = "ACTA VPPP"
    ACTA_UE = "ACTA UE"


class MecanismoTraslado(StrEnum):
    """How the package travelled from the casilla (LEEME MECANISMOS_TRASLADO); null: directly."""

    DISPOSITIVO_APOYO = "D"
    CRYT_FIJO = "F"
    CRYT_ITINERANTE = "I"


class SourceKind(StrEnum):
    """Where a file came from: a scanner's drop folder or a phone's upload."""

    SCANNER = "scanner"
    UPLOAD = "upload"


class IdentifiedBy(StrEnum):
    """How the scanner service identified the acta on an image (null: a clerk assigns it)."""

    QR = "qr"
    SIDECAR = "sidecar"
    FILENAME = "filename"
    CASILLA = "casilla"  # the phone's signed statement names the acta (docs/casilla.md)


class Role(StrEnum):
    """A clerk's role (catd_node/web/users.py)."""

    CAPTURISTA = "capturista"
    VERIFICADOR = "verificador"
    COORDINADOR = "coordinador"


VOCABULARIES: tuple[type[StrEnum], ...] = (Class, SinActaReason, Origen, Digitalizacion, TipoDocumento,
                                           MecanismoTraslado, SourceKind, IdentifiedBy, Role)

# -- parts shared by several bodies ------------------------------------------------------------

Value = int | str  # a captured value: 0–99999, "ILEGIBLE" or "SIN_DATO"


class Image(TypedDict):
    """The stored image: its SHA-256 is the acta's código de integridad."""

    sha256: str
    bytes: int
    format: str
    width: int
    height: int
    dpi: int


class Original(TypedDict):
    """The file as dropped (kept in processed/)."""

    sha256: str
    bytes: int
    name: str


class CasillaStatement(TypedDict):
    """The phone's signed statement behind a casilla photo (sync/casilla_protocol.py)."""

    statement: str  # base64 of the canonical {acta, bytes, device, node, sha256, taken_at}
    sig: str        # base64 Ed25519 signature by the device key the node's chain enrolled


class Source(TypedDict):
    """Where the file came from: the scanner's id, or the phone's device name."""

    kind: SourceKind
    id: str


class StoreHead(TypedDict):
    """The ledger's head when the manifest was signed."""

    seq: int
    hash: str


class AttestCompare(TypedDict):
    """What changed since the manifest compared against (`--compare`)."""

    against_created_at: str
    changed: list[str]
    added: list[str]
    removed: list[str]


# -- one body per kind -----------------------------------------------------------------------


class NodeGenesis(TypedDict):
    """Packet 1: the node, its public key and the election it serves."""

    node: str
    pubkey: str
    election: str
    election_sha256: str
    actas_expected: int


class ActaAcopio(TypedDict):
    """The acta was received at the CATD (acopio), once."""

    acta: str
    by: str
    in_catalog: bool
    mecanismo_traslado: NotRequired[MecanismoTraslado | None]
    tipo_documento: NotRequired[TipoDocumento]  # absent: "ACTA PREP"


class ActaDigitized(TypedDict):
    """One page of a dropped or uploaded file became an image (a blob HQ must receive)."""

    image: Image
    original: Original
    source: Source
    acta: str | None
    identified_by: IdentifiedBy | None
    page: NotRequired[int]
    origen: NotRequired[Origen]  # absent: CATD
    digitalizacion: NotRequired[Digitalizacion]  # absent: ESCANER from a scanner, MOVIL from an upload
    casilla: NotRequired[CasillaStatement]  # a photo sent from the casilla (origen CASILLA)


class ActaAssigned(TypedDict):
    """A clerk identified an image (or, confirmed, replaced the acta's image)."""

    acta: str
    image_sha256: str
    by: str
    replaces: NotRequired[str]


class ActaImageKept(TypedDict):
    """A coordinator kept the acta's image over another image identified as the same acta
    (`other_sha256`, a second scan or photo): the other stays aside, the captures stand."""

    acta: str
    image_sha256: str
    other_sha256: str
    by: str


class ActaCaptured(TypedDict):
    """A capture: round 1, or the blind second entry (round 2)."""

    acta: str
    image_sha256: str | None
    values: dict[str, Value]
    by: str
    round: Literal[1, 2]


ActaVerified = TypedDict("ActaVerified", {  # `class` is a Python keyword
    "acta": str,
    "image_sha256": str | None,
    "values": dict[str, Value],
    "class": Class,
    "observations": list[str],
    "total": int,
    "captured_seq": int,
    "by": str,
})
ActaVerified.__doc__ = "The agreed values (a matching second entry, or the coordinator's decision)."


class ActaMismatch(TypedDict):
    """The second entry differs: the fields go to the coordinator."""

    acta: str
    captured_seq: int
    fields: list[str]
    by: str


class ActaSinActa(TypedDict):
    """An expected acta will not arrive, with the reason (class sin_acta)."""

    acta: str
    reason: SinActaReason
    by: str


class ActaSinActaUndone(TypedDict):
    """The acta turned up after all: the sin acta at `sin_acta_seq` no longer stands."""

    acta: str
    sin_acta_seq: int
    by: str


class ScanQuarantined(TypedDict):
    """A dropped file was refused; it sits in quarantine/ beside NAME.why.txt."""

    file: str
    source: Source
    reason: str  # a code of scanners/quarantine.py REASONS
    detail: str
    original_sha256: str | None


class ScanDuplicate(TypedDict):
    """The same bytes again: not a second acta."""

    file: str
    source: Source
    original_sha256: str
    first_seq: int


class NodeAttested(TypedDict):
    """A signed manifest of the installed code and the store (catd-node attest)."""

    manifest_sha256: str
    version: str
    files: int
    store_head: StoreHead
    at_zero: bool
    compare: NotRequired[AttestCompare]


class UserLogin(TypedDict):
    """A clerk signed in (never a password or a token)."""

    by: str


class UserLogout(TypedDict):
    """A clerk signed out."""

    by: str


class UserAdded(TypedDict):
    """An account was created; `by` is the coordinator, or `cli:<user>` for catd-node user add."""

    user: str
    role: Role
    by: str


class UserDisabled(TypedDict):
    """An account can no longer sign in."""

    user: str
    by: str


class UserEnabled(TypedDict):
    """A disabled account may sign in again."""

    user: str
    by: str


class UserPasswordChanged(TypedDict):
    """An account's password was replaced (never the password or its hash); its sessions end."""

    user: str
    by: str


UserRoleChanged = TypedDict("UserRoleChanged", {"user": str, "role": Role, "from": Role, "by": str})
UserRoleChanged.__doc__ = "An account's role changed (`from` the old one)."


class DeviceAdded(TypedDict):
    """A phone may upload: on the LAN (its token's SHA-256 prefix, never the token) or, with
    `pubkey`, from the casilla (the prefix is then the key's SHA-256)."""

    device: str
    token_sha256_prefix: str
    by: str
    pubkey: NotRequired[str]  # base64 raw Ed25519 key the phone signs casilla statements with


class DeviceRevoked(TypedDict):
    """A phone may no longer upload."""

    device: str
    by: str


BODIES: dict[str, Any] = {
    "node.genesis": NodeGenesis,
    "node.attested": NodeAttested,
    "acta.acopio": ActaAcopio,
    "acta.digitized": ActaDigitized,
    "acta.assigned": ActaAssigned,
    "acta.image_kept": ActaImageKept,
    "acta.captured": ActaCaptured,
    "acta.verified": ActaVerified,
    "acta.mismatch": ActaMismatch,
    "acta.sin_acta": ActaSinActa,
    "acta.sin_acta_undone": ActaSinActaUndone,
    "scan.quarantined": ScanQuarantined,
    "scan.duplicate": ScanDuplicate,
    "user.login": UserLogin,
    "user.logout": UserLogout,
    "user.added": UserAdded,
    "user.disabled": UserDisabled,
    "user.enabled": UserEnabled,
    "user.role_changed": UserRoleChanged,
    "user.password_changed": UserPasswordChanged,
    "device.added": DeviceAdded,
    "device.revoked": DeviceRevoked,
}
KINDS = frozenset(BODIES)
# What a reader takes for an optional field a packet lacks (written before the field existed).
ABSENT: dict[tuple[str, str], str] = {
    ("acta.acopio", "mecanismo_traslado"): "null",
    ("acta.acopio", "tipo_documento"): "`ACTA PREP`",
    ("acta.digitized", "page"): "1",
    ("acta.digitized", "origen"): "`CATD`",
    ("acta.digitized", "digitalizacion"): "`ESCANER` from a scanner, `MOVIL` from an upload",
    ("acta.digitized", "casilla"): "not a casilla photo",
    ("device.added", "pubkey"): "a LAN upload device (token)",
}


# -- checking a body against its type -----------------------------------------------------------


@cache
def _hints(typed: Any) -> dict[str, Any]:
    return typing.get_type_hints(typed)


def check(kind: str, body: Any) -> list[str]:
    """What is wrong with `body` as a `kind` body (empty when it conforms)."""
    typed = BODIES.get(kind)
    if typed is None:
        return [f"kind {kind!r} is not declared in catd_node/bodies.py"]
    found: list[str] = []
    _checker(typed)(body, "body", found)
    return found


# (value, path, problems) -> conforms; problems None: only the answer is wanted (a union's
# members are tried quietly), so no message is formatted on the common path.
Checker = typing.Callable[[Any, str, list[str] | None], bool]


@cache
def _checker(hint: Any) -> Checker:
    """A checker for `hint`, built once: the ledger runs it on every append."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if typing.is_typeddict(hint):
        return _typeddict_checker(hint)
    if origin in (typing.Union, type(int | str)):
        if set(args) <= {int, str, type(None)}:  # `Value`, `str | None`: one isinstance
            plain, no_bool = tuple(args), int in args
            return _leaf(hint, lambda v: isinstance(v, plain) and not (no_bool and isinstance(v, bool)))
        members = [_checker(a) for a in args]
        return _leaf(hint, lambda v: any(m(v, "", None) for m in members))
    if hint is type(None):
        return _leaf(hint, lambda v: v is None)
    if origin is Literal:
        return _leaf(hint, lambda v: any(type(v) is type(a) and v == a for a in args))
    if isinstance(hint, type) and issubclass(hint, StrEnum):
        allowed = frozenset(m.value for m in hint)
        return _leaf(hint, lambda v: isinstance(v, str) and v in allowed)
    if origin is dict:
        item = _checker(args[1])
        return _leaf(hint, lambda v: isinstance(v, dict) and all(item(x, "", None) for x in v.values()))
    if origin is list:
        item = _checker(args[0])
        return _leaf(hint, lambda v: isinstance(v, list) and all(item(x, "", None) for x in v))
    if hint is int:
        return _leaf(hint, lambda v: isinstance(v, int) and not isinstance(v, bool))
    return _leaf(hint, lambda v: isinstance(v, hint))


def _leaf(hint: Any, test: typing.Callable[[Any], bool]) -> Checker:
    def run(value: Any, path: str, found: list[str] | None) -> bool:
        if test(value):
            return True
        if found is not None:
            found.append(f"{path}: {value!r} is not {describe(hint)}")
        return False

    return run


def _typeddict_checker(typed: Any) -> Checker:
    fields = {name: _checker(hint) for name, hint in _hints(typed).items()}
    required, known = typed.__required_keys__, frozenset(fields)

    def run(value: Any, path: str, found: list[str] | None) -> bool:
        if not isinstance(value, dict):
            if found is not None:
                found.append(f"{path}: expected an object")
            return False
        problems: list[str] = []
        if not required <= value.keys():
            problems += [f"{path}.{k}: missing" for k in sorted(required - value.keys())]
        if not value.keys() <= known:
            problems += [f"{path}.{k}: not a field of this kind" for k in sorted(value.keys() - known)]
        for key, item in value.items():
            check_field = fields.get(key)
            if check_field is not None and not check_field(item, "", None):
                check_field(item, f"{path}.{key}", problems)
        if found is not None:
            found += problems
        return not problems

    return run


def describe(hint: Any) -> str:
    """A field's type in words, as docs/packets.md shows it."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, type(int | str)):
        return " or ".join(describe(a) for a in args)
    if hint is type(None):
        return "null"
    if origin is Literal:
        return " or ".join(str(a) for a in args)
    if isinstance(hint, type) and issubclass(hint, StrEnum):
        return f"{hint.__name__}: one of {', '.join(f'`{m.value}`' for m in hint)}"
    if typing.is_typeddict(hint):
        return "{" + ", ".join(f"`{k}`" for k in _hints(hint)) + "}"
    if origin is dict:
        return f"object of {describe(args[1])}"
    if origin is list:
        return f"list of {describe(args[0])}"
    words = {str: "text", int: "integer", bool: "true or false"}
    return words.get(hint, getattr(hint, "__name__", str(hint)))


# -- docs/packets.md ---------------------------------------------------------------------------


def render_markdown() -> str:
    """docs/packets.md: every kind and body, generated from this module."""
    out = [
        "# Packet kinds and bodies",
        "",
        "Generated from `catd_node/bodies.py` (`python -m catd_node.bodies > docs/packets.md`);",
        "`tests/node/test_bodies.py` fails when they differ. Every packet is the canonical JSON",
        "envelope `{v, node, seq, prev, kind, at, body}` (docs/contracts.md); the node refuses to",
        "append a body that does not match its kind. Fields marked *optional* are absent from",
        "packets written before they existed.",
        "",
    ]
    for kind, typed in BODIES.items():
        out += [f"## `{kind}`", "", (typed.__doc__ or "").strip(), "",
                "| field | type | present |", "|---|---|---|"]
        for name, hint in _hints(typed).items():
            note = "always"
            if name in typed.__optional_keys__:
                absent = ABSENT.get((kind, name))
                note = f"optional (absent: {absent})" if absent else "optional"
            out.append(f"| `{name}` | {describe(hint)} | {note} |")
        out.append("")
    parts = (Image, Original, Source, CasillaStatement, StoreHead, AttestCompare)
    out += ["## Parts", ""]
    for typed in parts:
        out.append(f"- `{typed.__name__}`: " + ", ".join(
            f"`{name}` ({describe(hint)})" for name, hint in _hints(typed).items()))
    out += ["", "## Vocabularies", ""]
    for vocabulary in VOCABULARIES:
        values = ", ".join(f"`{m.value}`" for m in vocabulary)
        out.append(f"- **{vocabulary.__name__}** — {(vocabulary.__doc__ or '').strip()} {values}")
    out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    sys.stdout.write(render_markdown())
