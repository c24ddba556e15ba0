#!/usr/bin/env python3
"""Check a PREP cut (corte) with nothing of the PREP's software installed.

    python verify_release.py CUT.zip [LATER_CUT.zip] [--keys DIR]

Needs Python 3.11+ and the `cryptography` package. Checks, stopping at the first fault and
naming it (exit 1; 0 when all holds, 2 when a file cannot be read):
  1. MANIFEST.json is signed by the HQ key (DIR/hq.pub, else the cut's own hq.pub: then
     compare the printed fingerprint with the one the institute publishes);
  2. every file has the SHA-256 the manifest gives, and no file is unlisted;
  3. each CATD's packets in evidencia.ndjson form its chain: seq 1, 2, …, each linked to the
     one before, hashed and signed by that CATD's key, ending at the head the manifest names;
  4. every row of the results CSV recomputes from those packets and the catalog under the
     rules of Anexo 13, in the official order, and no acta its CATD reported is left out;
  5. the 13 summary fields recompute from the rows;
  6. each photo sent from the casilla carries the phone's statement, signed by the device key
     its CATD's chain enrolled (device.added) and had not revoked; a photo a district's capture
     centre (the catalog's `ccv`) recorded, by a key the acta's CATD's chain enrolled.
With --keys DIR (the keys published before the night: hq.pub, nodos/<NODE>.pub, catalogo.json)
every CATD the cut covers must have its key in DIR: a key only the cut carries may be a CATD
HQ made up. Always, catalogo.json must be the election file every CATD was installed with (the
election_sha256 its node.genesis signs), and DIR/catalogo.json when given.
With two cuts (the earlier first) it also says whether the later extends the earlier: same
HQ key, later number and time, every chain extended (not rewritten), and no published row
changed without a new packet of that acta behind the change.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import hashlib
import itertools
import json
import re
import stat
import struct
import sys
import unicodedata
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

DOMAIN = b"catd/packet/v1\n"
ZERO = "0" * 64
KINDS = ("acta.acopio", "acta.digitized", "acta.assigned", "acta.captured", "acta.verified",
         "acta.sin_acta", "acta.sin_acta_undone")
REPORTS = ("acta.verified", "acta.sin_acta", "acta.sin_acta_undone")
SIN_ACTA = {"paquete_no_entregado": "SIN ACTA POR PAQUETE NO ENTREGADO",
            "casilla_no_instalada": "SIN ACTA POR CASILLA NO INSTALADA",
            "paquete_sin_bolsa": "SIN ACTA POR PAQUETE ENTREGADO SIN BOLSA"}
TIPOS = {"ACTA PREP", "RPP", "CC", "PPC", "ACTA VRME", "ACTA VA", "ACTA VPPP", "ACTA UE"}
BY_SOURCE = {"scanner": ("CATD", "ESCANER"), "upload": ("CATD", "MOVIL")}
SUMMARY = ("ACTAS_ESPERADAS ACTAS_REGISTRADAS ACTAS_FUERA_CATALOGO ACTAS_CAPTURADAS "
           "PORCENTAJE_ACTAS_CAPTURADAS ACTAS_CONTABILIZADAS PORCENTAJE_ACTAS_CONTABILIZADAS "
           "PORCENTAJE_ACTAS_CON_INCONSISTENCIAS ACTAS_NO_CONTABILIZADAS LISTA_NOMINAL_ACTAS_CONTABILZADAS "
           "TOTAL_VOTOS_C_CS TOTAL_VOTOS_S_CS PORCENTAJE_PARTICIPACION_CIUDADANA").split()
HEAD = ("CLAVE_CASILLA CLAVE_ACTA ID_ENTIDAD ENTIDAD ID_DISTRITO_LOCAL SECCION ID_CASILLA TIPO_CASILLA "
        "EXT_CONTIGUA UBICACION_CASILLA TIPO_ACTA").split()
CONTROLS = ("TOTAL_BOLETAS_SOBRANTES", "TOTAL_PERSONAS_VOTARON", "TOTAL_REP_PARTIDO_CI_VOTARON",
            "TOTAL_VOTOS_SACADOS")
TAIL = ("TOTAL_VOTOS_CALCULADOS LISTA_NOMINAL REPRESENTANTES OBSERVACIONES CONTABILIZADAS "
        "MECANISMOS_TRASLADO CODIGO_INTEGRIDAD FECHA_HORA_ACOPIO FECHA_HORA_CAPTURA "
        "FECHA_HORA_VERIFICACION ORIGEN DIGITALIZACION TIPO_DOCUMENTO").split()
OLD_CONTROLS = {"BOLETAS_SOBRANTES": "TOTAL_BOLETAS_SOBRANTES", "PERSONAS_VOTARON": "TOTAL_PERSONAS_VOTARON",
                "REPRESENTANTES_VOTARON": "TOTAL_REP_PARTIDO_CI_VOTARON",
                "TOTAL_ASENTADO": "TOTAL_VOTOS_ASENTADO"}
TEMPLATE_NAMES = {"no_registrados": "NO_REGISTRADOS", "nulos": "NULOS"}
ACTA_KEY = re.compile(r"[0-9A-Za-z][0-9A-Za-z_-]{0,63}")
CUT_NAME = re.compile(r"\d{8}_\d{4}_PREP_[A-Z0-9]+_[A-Z0-9]+\.zip")


class Fail(Exception):
    """The first fault found, naming the file, packet or acta."""


def given_key(keys_dir: Path, node: str) -> Path | None:
    """The node's key in DIR: nodos/<NODE>.pub (the published layout) or <NODE>.pub."""
    for candidate in (keys_dir / "nodos" / f"{node}.pub", keys_dir / f"{node}.pub"):
        if candidate.is_file():
            return candidate
    return None


def check_keys_dir(keys_dir: Path) -> dict[str, str]:
    """DIR's keys file (llaves.json, when DIR has one): signed by DIR/hq.pub, naming that key,
    each DIR/nodos key's hash and the catalog's; node → when it was added after publication."""
    path = keys_dir / "llaves.json"
    if not path.is_file():
        return {}
    body = path.read_bytes()
    sig_path = keys_dir / "llaves.json.sig"
    try:
        held = sig_path.read_bytes().strip() if sig_path.is_file() else b""
        raw_sig = base64.b64decode(held, validate=True)
    except ValueError:
        raw_sig = b""
    pem = (keys_dir / "hq.pub").read_bytes()
    if not signed(public_key(pem, "hq.pub"), raw_sig, body):
        raise Fail(f"llaves.json: not signed by {keys_dir / 'hq.pub'} "
                   "(llaves.json.sig missing or not its signature)")
    try:
        doc = json.loads(body)
        nodes, added = dict(doc["nodes"]), dict(doc.get("added_after_publication") or {})
        named_hq, named_election = doc["hq_key"], doc["election_sha256"]
    except (ValueError, KeyError, TypeError):
        raise Fail("llaves.json: not a catd/llaves/v1 keys file") from None
    if named_hq != hashlib.sha256(pem).hexdigest():
        raise Fail(f"llaves.json: names another HQ key than {keys_dir / 'hq.pub'}")
    catalog = keys_dir / "catalogo.json"
    if catalog.is_file() and hashlib.sha256(catalog.read_bytes()).hexdigest() != named_election:
        raise Fail(f"llaves.json: names another election file than {catalog}")
    for node, digest in sorted(nodes.items()):
        given = given_key(keys_dir, str(node))
        if given is not None and hashlib.sha256(given.read_bytes()).hexdigest() != digest:
            raise Fail(f"llaves.json: {given} is not the key it lists for {node}")
    return {str(k): str(v) for k, v in added.items()}


def missing_key(node: str, keys_dir: Path, added_at: str | None) -> str:
    if added_at is not None:
        return (f"{node}: no key for it in {keys_dir}; the cut says HQ registered it after the "
                f"keys were published ({added_at}): only that CATD can confirm its key")
    return (f"{node}: no key for it in {keys_dir}; a CATD whose key only the cut carries may be "
            "one HQ made up")


def percent(part: int, whole: int) -> str:
    """part / whole × 100, four decimals, truncated."""
    if whole <= 0:
        return "0.0000"
    n = part * 1_000_000 // whole
    return f"{n // 10_000}.{n % 10_000:04d}"


def public_key(pem: bytes, what: str) -> Ed25519PublicKey:
    try:
        key = load_pem_public_key(pem)
    except ValueError as exc:
        raise Fail(f"{what}: not a PEM public key ({exc})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise Fail(f"{what}: not an Ed25519 key")
    return key


def signed(key: Ed25519PublicKey, sig: bytes, message: bytes) -> bool:
    try:
        key.verify(sig, message)
        return True
    except InvalidSignature:
        return False


# ---- PREP Casilla: the phone's statement behind a photo (docs/casilla.md) -------------------

CASILLA_TAG = b"catd/casilla-statement/v1\n"
CASILLA_FIELDS = ["acta", "bytes", "device", "node", "sha256", "taken_at"]


def casilla_problem(node: str, devices: dict[str, str | None], body: dict[str, Any]) -> str | None:
    """Why the phone's signed statement in an acta.digitized body does not hold (None: it does,
    or the body has none): it must name this node, acta and image, and verify against the
    device key this node's chain enrolled (device.added `pubkey`) and had not revoked."""
    held = body.get("casilla")
    if held is None:
        return None
    try:
        statement = base64.b64decode(held["statement"], validate=True)
        st = json.loads(statement.decode("utf-8"), parse_float=lambda t: 1 / 0)
        sig = base64.b64decode(held["sig"], validate=True)
    except (ValueError, KeyError, TypeError, ZeroDivisionError):
        return "casilla statement unreadable"
    if not isinstance(st, dict) or sorted(st) != CASILLA_FIELDS or json.dumps(
            st, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8") != statement:
        return "casilla statement is not canonical JSON of its fields"
    image = body.get("image") if isinstance(body.get("image"), dict) else {}
    if st["acta"] != body.get("acta") or st["sha256"] != image.get("sha256") \
            or st["bytes"] != image.get("bytes"):
        return "casilla statement does not name this node, acta and image"
    if st["node"] != node:
        return None  # a capture centre's photo from its CATD's phone: ccv_problem, after every chain
    if st["device"] not in devices:
        return f"casilla device {st['device']!r} was never enrolled in this chain"
    pubkey = devices[st["device"]]
    if pubkey is None:
        return f"casilla device {st['device']!r} was revoked before this photo was recorded"
    try:
        key = Ed25519PublicKey.from_public_bytes(base64.b64decode(pubkey, validate=True))
    except ValueError:
        return f"casilla device {st['device']!r} has no usable key"
    if not signed(key, sig, CASILLA_TAG + statement):
        return f"casilla statement signature does not verify against device {st['device']!r}"
    return None


def ccv_problem(cat: Catalog, node: str, body: dict[str, Any], enrolled: dict[str, list[str]]) -> str | None:
    """A photo `node` recorded from another node's phone: `node` must be the capture centre
    (CCV) the catalog names for the acta's district, the phone's node the acta's CATD, and the
    statement must verify against a key that CATD's chain enrolled for the device (chains have
    no common order: a revocation there is not weighed)."""
    held = body["casilla"]
    statement = base64.b64decode(held["statement"], validate=True)
    st = json.loads(statement.decode("utf-8"))
    acta = st["acta"]
    if node not in (cat.capturers(acta) or [])[1:]:
        return (f"casilla statement names {st['node']}, and the catalog does not name {node} capture "
                f"centre of the district of {acta}")
    owner = cat.actas.get(acta, {}).get("catd")
    if owner not in (st["node"], None):
        return f"casilla statement names {st['node']}, not {owner}, the CATD of {acta}"
    sig = base64.b64decode(held["sig"], validate=True)
    for pubkey in enrolled.get(st["device"], []):
        try:
            key = Ed25519PublicKey.from_public_bytes(base64.b64decode(pubkey, validate=True))
        except ValueError:
            continue
        if signed(key, sig, CASILLA_TAG + statement):
            return None
    return (f"casilla statement signature does not verify against a key {st['node']}'s chain enrolled "
            f"for {st['device']!r}")


# ---- the zip itself: whoever handed it over may have written it byte by byte -----------------

MIB = 1 << 20
MAX_MEMBER, MAX_TOTAL, MAX_READ, MAX_LINE = 2048 * MIB, 4096 * MIB, 256 * MIB, 16 * MIB
LOCAL = struct.Struct("<4s2B4HL2L2H")


def one_line(text: str) -> str:
    """`text` as printed: control and format characters, line separators and the backslash
    escaped (`\\x1b`, `\\u202e`, `\\\\`). Text read from a cut never reaches the terminal raw:
    an escape sequence could turn a FAIL line into an "ok" on the screen."""
    out = []
    for ch in text:
        if ch == "\\" or unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp", "Cs"):
            code = ord(ch)
            out.append("\\\\" if ch == "\\" else f"\\x{code:02x}" if code < 0x100
                       else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
        else:
            out.append(ch)
    return "".join(out)


def check_members(archive: zipfile.ZipFile, label: str) -> None:
    """Before any byte is inflated: each name once, relative, printable, never climbing out
    (`..`) or hidden (`.x`); regular files only; declared sizes bounded (zipfile never inflates
    past them); and the members tile the zip from byte 0 to the central directory, so no
    entry is hidden from `zipfile` or shared between two names."""
    seen: set[str] = set()
    total = 0
    for info in archive.infolist():
        name = info.filename
        if name in seen:
            raise Fail(f"{name}: two members of the zip have this name; a reader may take either")
        seen.add(name)
        if not name.isprintable():
            raise Fail(f"{name}: the name holds characters that are not printable")
        if "\\" in name or name.startswith("/"):
            raise Fail(f"{name}: the name is not a relative path with / between its parts")
        if any(part in ("", ".", "..") or part.startswith(".") for part in name.split("/")):
            raise Fail(f"{name}: the name climbs out of its folder, hides itself or is empty "
                       "(a part is '', '.', '..' or starts with '.')")
        if info.is_dir() or stat.S_IFMT(info.external_attr >> 16) not in (0, stat.S_IFREG):
            raise Fail(f"{name}: not a regular file (a link or a folder)")
        if info.file_size > MAX_MEMBER:
            raise Fail(f"{name}: inflates to {info.file_size / MIB:.0f} MiB; "
                       f"a member may hold at most {MAX_MEMBER // MIB} MiB")
        total += info.file_size
    if total > MAX_TOTAL:
        raise Fail(f"{label}: its members inflate to {total / MIB:.0f} MiB in all; "
                   f"at most {MAX_TOTAL // MIB} MiB")
    fp, at = archive.fp, 0
    assert fp is not None
    for info in sorted(archive.infolist(), key=lambda i: i.header_offset):
        if info.header_offset != at:
            how = "overlap" if info.header_offset < at else "belong to no member the zip lists"
            raise Fail(f"{label}: bytes {min(at, info.header_offset)}–{max(at, info.header_offset)} "
                       f"{how} (before {info.filename}): a hidden or shared entry")
        fp.seek(info.header_offset)
        head = fp.read(LOCAL.size)
        if len(head) != LOCAL.size or head[:4] != b"PK\x03\x04":
            raise Fail(f"{info.filename}: its local header is not where the directory says")
        name_len, extra_len = LOCAL.unpack(head)[-2:]
        at = info.header_offset + LOCAL.size + name_len + extra_len + info.compress_size
        if info.flag_bits & 0x08:  # a data descriptor follows the data: crc and both sizes
            fp.seek(at)
            big = info.file_size >= 0xFFFFFFFF or info.compress_size >= 0xFFFFFFFF
            at += (4 if fp.read(4) == b"PK\x07\x08" else 0) + 4 + (16 if big else 8)
    start_dir = getattr(archive, "start_dir", at)
    if at != start_dir:
        raise Fail(f"{label}: bytes {at}–{start_dir} belong to no member the zip lists: a hidden entry")


# ---- the catalog (catalogo.json, both forms of the election file) ---------------------------------

class Catalog:
    def __init__(self, data: dict[str, Any]) -> None:
        self.name = data["election"]
        ent = data.get("entidad") or {}
        self.entidad, self.entidad_name = ent.get("id"), ent.get("nombre") or ""
        self.tz = data.get("timezone", "UTC-6")
        zone = re.fullmatch(r"UTC([+-])(\d{1,2})(?::(\d\d))?", self.tz)
        if zone is None:
            raise Fail(f"catalogo.json: timezone {self.tz!r} is not like UTC-6")
        sign, hours, minutes = zone.groups()
        self.offset = (1 if sign == "+" else -1) * (int(hours) * 60 + int(minutes or 0))
        self.max_especial = data.get("max_boletas_especial", 750)
        self.contests = {}
        for c in data["contests"]:
            votes = [(v["field"], v["kind"]) if isinstance(v, dict) else (v, kind_of(v)) for v in c["votes"]]
            self.contests[c["id"]] = {"votes": votes, "controls": list(c["controls"]),
                                      "tipo_acta": c.get("tipo_acta", [])}
        self.ccv = {int(d): n for d, n in (data.get("ccv") or {}).items()}  # district → capture centre
        self.actas = {}
        for a in data["actas"]:
            if "clave_acta" in a:
                tipo, ident, ext = a["tipo_casilla"], a["id_casilla"], a["ext_contigua"]
                a = {**a, "key": a["clave_acta"], "casilla": f"{tipo}{ident:02d}{ext:02d}"}
            else:
                tipo = a["casilla"][:1] if a["casilla"][:1] in "BCESMAPV" else "B"
                a = {**a, "tipo_casilla": tipo, "id_casilla": 0, "ext_contigua": 0, "tipo_acta": "",
                     "casilla": f"{tipo}0000"}   # the first form has no casilla parts
            self.actas[a["key"]] = a
        self.votes: list[str] = []
        self.headers: list[str] = []
        self.controls: dict[str, str] = {}
        for c in self.contests.values():
            for name, kind in c["votes"]:
                if name not in self.votes:
                    self.votes.append(name)
                    self.headers.append(TEMPLATE_NAMES.get(kind, name))
            for name in c["controls"]:
                self.controls.setdefault(OLD_CONTROLS.get(name, name), name)
        specs = self.actas.values()
        by_municipio = any(a.get("municipio") is not None for a in specs) and \
            all(a.get("distrito") is None for a in specs)
        district = "ID_MUNICIPIO" if by_municipio else "ID_DISTRITO_LOCAL"
        self.header = [district if h == "ID_DISTRITO_LOCAL" else h for h in HEAD] + list(CONTROLS) + \
            self.headers + ["TOTAL_VOTOS_ASENTADO"] + TAIL

    def capturers(self, key: str) -> list[str] | None:
        """The nodes whose report of `key` may count: its CATD and its district's capture
        centre (`ccv`); None: any node (no CATD)."""
        spec = self.actas.get(key, {})
        owner = spec.get("catd")
        if owner is None:
            return None
        ccv = self.ccv.get(spec.get("distrito"))
        return [owner] if ccv is None or ccv == owner else [owner, ccv]

    def contest(self, key: str) -> dict[str, Any] | None:
        spec = self.actas.get(key)
        if spec is not None:
            return self.contests[spec["contest"]]
        for c in self.contests.values():
            if any(key.endswith(t) for t in c["tipo_acta"] if t):
                return c
        return next(iter(self.contests.values())) if len(self.contests) == 1 else None

    def ballot(self, key: str) -> list[str]:
        c, spec = self.contest(key), self.actas.get(key)
        if c is None:
            return []
        every = [name for name, _ in c["votes"]]
        if spec is None or spec.get("ballot") is None:
            return every
        return [f for f in every if f in spec["ballot"]]

    def order(self, key: str) -> tuple[Any, ...]:
        a = self.actas.get(key)
        if a is None:
            return (2, key)
        d = a.get("distrito") if a.get("distrito") is not None else a.get("municipio")
        modality = {"M": 0, "A": 1, "P": 2}.get(a["tipo_casilla"], 9) if d is None else 9
        return (0 if d is None else 1, d or 0, modality, a["seccion"], a["tipo_casilla"], a["id_casilla"],
                a["ext_contigua"], a["tipo_acta"], key)


def kind_of(name: str) -> str:
    up = name.upper()
    if up == "NULOS":
        return "nulos"
    if up in ("NO_REGISTRADOS", "NO_REGISTRADAS", "CNR"):
        return "no_registrados"
    if up.startswith(("CAND_IND", "CI_", "IND_")):
        return "independiente"
    return "coalicion" if up.startswith("C_") or "_" in up else "partido"


# ---- the count: which report of an acta counts, and the row it makes ----------------------------

def value(raw: Any) -> int | str | None:
    """A captured value as the node's rules read it, or None when they refuse it."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, str):
        text = raw.strip().upper()
        if text in ("ILEGIBLE", "SIN_DATO", "SIN DATO"):
            return "ILEGIBLE" if text == "ILEGIBLE" else "SIN_DATO"
        if not (text.isdecimal() and text.isascii()) or len(text.lstrip("0")) > 5:
            return None
        raw = int(text)
    return raw if isinstance(raw, int) and 0 <= raw <= 99_999 else None


def classify(cat: Catalog, key: str, values: dict[str, Any]) -> tuple[str, bool, int, list[str], list[str]]:
    """(class, counted, total, observations, unreadable fields) under Anexo 13."""
    ballot = cat.ballot(key)
    read = {f: values.get(f, "SIN_DATO") for f in ballot}
    unreadable = [f for f, v in read.items() if not isinstance(v, int)]
    total = sum(v for v in read.values() if isinstance(v, int))
    some = ["ALGÚN CAMPO ILEGIBLE O SIN DATO"] if unreadable else []
    spec = cat.actas.get(key)
    if spec is None:
        return "out_of_catalog", False, total, ["FUERA DE CATÁLOGO"], unreadable
    kinds = dict(cat.contests[spec["contest"]]["votes"])
    base = cat.max_especial if spec["tipo_casilla"] == "S" else spec["lista_nominal"]
    ceiling = base + 2 * sum(1 for f in ballot if kinds[f] in ("partido", "independiente"))
    if total > ceiling:
        return "exceeds_lista_nominal", False, total, ["EXCEDE LISTA NOMINAL", *some], unreadable
    if ballot and len(unreadable) == len(ballot):
        return "all_unreadable", False, total, ["TODOS ILEGIBLES O SIN DATO"], unreadable
    return "counted", True, total, some, unreadable


class Chain:
    """One CATD's packets, as the count reads them."""

    def __init__(self) -> None:
        self.reports: dict[str, list[tuple[int, str, str, dict[str, Any]]]] = {}
        self.acopio: dict[str, tuple[int, str, dict[str, Any]]] = {}
        self.images: dict[str, tuple[int, str | None, dict[str, Any]]] = {}
        self.assigned: dict[tuple[str, str], int] = {}
        self.captured: dict[int, tuple[str | None, str]] = {}
        self.replaced: dict[str, list[int]] = {}    # acta → seqs of assignments replacing its image
        self.touched: dict[str, list[int]] = {}     # acta → seqs of every packet naming it

    def add(self, seq: int, kind: str, at: str, body: dict[str, Any]) -> None:
        acta = body.get("acta") if isinstance(body.get("acta"), str) else None
        if acta is not None:
            self.touched.setdefault(acta, []).append(seq)
        if kind == "acta.captured":
            self.captured[seq] = (acta, at)
        elif kind in REPORTS and acta is not None:
            self.reports.setdefault(acta, []).append((seq, kind, at, body))
        elif kind == "acta.acopio" and acta is not None:
            self.acopio.setdefault(acta, (seq, at, body))
        elif kind == "acta.digitized":
            sha = (body.get("image") or {}).get("sha256") if isinstance(body.get("image"), dict) else None
            if isinstance(sha, str):
                self.images.setdefault(sha, (seq, acta, body))
        elif kind == "acta.assigned" and acta is not None:
            if isinstance(body.get("image_sha256"), str):
                self.assigned.setdefault((acta, body["image_sha256"]), seq)
            if body.get("replaces") is not None:
                self.replaced.setdefault(acta, []).append(seq)

    def bound(self, acta: str, sha: object, before: int) -> bool:
        """This CATD linked image `sha` to `acta` (digitized or assigned) before packet `before`,
        and no assignment replaced the acta's image in between: a capture is of its own image."""
        if not isinstance(sha, str):
            return False
        image = self.images.get(sha)
        links = [image[0]] if image is not None and image[1] == acta else []
        links += [self.assigned[(acta, sha)]] if (acta, sha) in self.assigned else []
        moved = self.replaced.get(acta, [])
        return any(link < before and not any(link < r < before for r in moved) for link in links)


def choice(body: dict[str, Any], name: str, allowed: set[str], default: str | None) -> str | None:
    v = body.get(name)
    return default if v is None else (v if v in allowed else None)


def record(cat: Catalog, key: str, chain: Chain) -> dict[str, Any] | None:
    """The record the count makes of `key` from this chain's reports, or None."""
    if key not in cat.actas and not ACTA_KEY.fullmatch(key):
        return None   # not an acta key (a formula, a space…): never a row
    standing: tuple[int, str, str, dict[str, Any]] | None = None
    history: list[int] = []
    for report in chain.reports.get(key, []):
        seq, kind, _, body = report
        if kind == "acta.sin_acta_undone":
            if standing is not None and standing[1] == "acta.sin_acta" \
                    and body.get("sin_acta_seq") == standing[0]:
                history += [standing[0], seq]
                standing = None
            continue
        if standing is None:
            standing = report
    if standing is None or (standing[1] == "acta.verified"
                            and not chain.bound(key, standing[3].get("image_sha256"), standing[0])):
        return None
    seq, kind, at, body = standing
    evidence = set(history) | {seq}
    rec: dict[str, Any] = {"key": key, "values": {}, "sha": None, "acopio": None, "captured": None,
                           "verified": at, "origen": None, "digit": None, "tipo": None, "mecanismo": None}
    if kind == "acta.sin_acta":
        if body.get("reason") not in SIN_ACTA or key not in cat.actas:
            return None
        rec.update(cls="sin_acta", counted=False, total=0, obs=[SIN_ACTA[body["reason"]]], unreadable=[])
    else:
        raw = body.get("values")
        c = cat.contest(key)
        fields = cat.ballot(key) + (c["controls"] if c else [])
        if not isinstance(raw, dict) or not fields or set(raw) != set(fields):
            return None
        values = {f: value(raw[f]) for f in fields}
        if any(v is None for v in values.values()):
            return None
        cls, counted, total, obs, unreadable = classify(cat, key, values)
        rec.update(values=values, cls=cls, counted=counted, total=total, obs=obs, unreadable=unreadable)
    if key in chain.acopio:
        a_seq, a_at, a_body = chain.acopio[key]
        evidence.add(a_seq)
        rec.update(acopio=a_at, tipo=choice(a_body, "tipo_documento", TIPOS, "ACTA PREP"),
                   mecanismo=choice(a_body, "mecanismo_traslado", {"D", "F", "I"}, None))
    if kind == "acta.verified":
        raw_sha = body.get("image_sha256")
        sha: str = raw_sha if isinstance(raw_sha, str) else ""
        rec["sha"] = sha or None
        cap = body.get("captured_seq")
        if isinstance(cap, int) and not isinstance(cap, bool) and chain.captured.get(cap, (None,))[0] == key:
            evidence.add(cap)
            rec["captured"] = chain.captured[cap][1]
        image = chain.images.get(sha)
        if image is not None and (image[1] == key or (image[1] is None and (key, sha) in chain.assigned)):
            if image[1] != key:
                evidence.add(chain.assigned[(key, sha)])
            evidence.add(image[0])
            source = image[2].get("source")
            kind_of_source = str(source.get("kind")) if isinstance(source, dict) else ""
            origen, digit = BY_SOURCE.get(kind_of_source, ("", ""))
            rec.update(origen=choice(image[2], "origen", {"CATD", "CASILLA"}, origen or None),
                       digit=choice(image[2], "digitalizacion", {"ESCANER", "MOVIL"}, digit or None))
    rec["evidence"] = sorted(evidence)
    return rec


def stamp(cat: Catalog, at: str | None) -> str:
    if at is None:
        return ""
    t = dt.datetime.strptime(at, "%Y-%m-%dT%H:%M:%S.%fZ") + dt.timedelta(minutes=cat.offset)
    return f"{t:%d/%m/%Y %H:%M:%S} ({cat.tz})"


def row(cat: Catalog, rec: dict[str, Any]) -> list[str]:
    """The row the release template prints for a record."""
    key, spec, sin = rec["key"], cat.actas.get(rec["key"]), rec["cls"] == "sin_acta"
    ent = cat.entidad or 0
    name = " ".join(cat.entidad_name.replace("|", " ").split())
    name = "'" + name if name.startswith(("=", "+", "-", "@")) else name
    if spec is not None:
        casilla = f"{ent:02d}{spec['seccion']:04d}{spec['casilla']}"
        d = spec.get("distrito") if spec.get("distrito") is not None else spec.get("municipio")
        out = [f'="{casilla}"', f'="{key}"', f"{ent:02d}", name, "N/A" if d is None else f"{d:03d}",
               f"{spec['seccion']:04d}", f"{spec['id_casilla']:02d}", spec["tipo_casilla"],
               f"{spec['ext_contigua']:02d}",
               "N/A" if spec.get("ubicacion") is None else str(spec["ubicacion"]), spec["tipo_acta"] or "N/A"]
    else:
        m = re.fullmatch(r"(\d{2})(\d{4})([A-Z])(\d{2})(\d{2})([0-9A-Z]{1,8})", key)
        if m is None:
            out = [f'="{key}"', f'="{key}"', f"{ent:02d}" if ent else "N/A", name] + ["N/A"] * 5 + ["3", "0"]
        else:
            e, s, t, i, x, _ = m.groups()
            out = [f'="{e}{s}{t}{i}{x}"', f'="{key}"', e, name, "N/A", s, i, t, x, "3", "0"]
    c = cat.contest(key)
    fields = cat.ballot(key) + (c["controls"] if c else [])

    def cell(f: str | None) -> str:
        if f is None:
            return "N/A"
        if f not in fields:
            return "-"
        if sin:
            return "SIN ACTA"
        v = rec["values"].get(f, "SIN_DATO")
        return str(v) if isinstance(v, int) else ("SIN DATO" if v == "SIN_DATO" else "ILEGIBLE")
    out += [cell(cat.controls.get(x)) for x in CONTROLS] + [cell(v) for v in cat.votes]
    out += [cell(cat.controls.get("TOTAL_VOTOS_ASENTADO")), "SIN ACTA" if sin else str(rec["total"]),
            str(spec["lista_nominal"]) if spec else "N/A",
            str(spec.get("representantes", 0)) if spec else "N/A", ", ".join(rec["obs"]),
            {"counted": "1", "out_of_catalog": "2"}.get(rec["cls"], "0"),
            rec["mecanismo"] or (spec or {}).get("mecanismo_traslado") or ""]
    if sin:
        return [*out, *["N/A"] * 7]
    sha = rec["sha"] or ""
    code = sha.upper() if re.fullmatch(r"[0-9a-f]{64}", sha) else ""   # a hostile node's text: not printed
    return [*out, code, stamp(cat, rec["acopio"]), stamp(cat, rec["captured"]),
            stamp(cat, rec["verified"]), rec["origen"] or "", rec["digit"] or "", rec["tipo"] or ""]


def summary(cat: Catalog, recs: list[dict[str, Any]], final: bool) -> dict[str, str]:
    fuera = sum(r["cls"] == "out_of_catalog" for r in recs)
    counted = [r for r in recs if r["counted"]]
    incons = sum(r["cls"] in ("exceeds_lista_nominal", "all_unreadable")
                 or (r["counted"] and bool(r["unreadable"])) for r in recs)
    ln = sum(cat.actas[r["key"]]["lista_nominal"] for r in counted)
    c_cs = sum(r["total"] for r in counted)
    s_cs = sum(r["total"] for r in counted if cat.actas[r["key"]]["tipo_casilla"] != "S")
    esperadas, capt = len(cat.actas), len(recs) - fuera
    no = sum(r["cls"] in ("exceeds_lista_nominal", "all_unreadable", "sin_acta") for r in recs)
    values = [esperadas, len(recs), fuera, capt, percent(capt, esperadas), len(counted),
              percent(len(counted), esperadas), percent(incons, esperadas), no, ln, c_cs, s_cs,
              percent(c_cs if final else s_cs, ln)]
    return dict(zip(SUMMARY, map(str, values), strict=True))


# ---- one cut ------------------------------------------------------------------------------------

# ---- the transparency log (docs/tlog.md): RFC 6962 and C2SP notes, written apart from HQ's

def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def tree_root(hashes: list[bytes]) -> bytes:
    """RFC 6962 MTH from leaf hashes: pair each level, an odd last node goes up as it is."""
    if not hashes:
        return hashlib.sha256(b"").digest()
    level = hashes
    while len(level) > 1:
        up = [hashlib.sha256(b"\x01" + level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            up.append(level[-1])
        level = up
    return level[0]


def consistent(old: int, new: int, old_root: bytes, new_root: bytes, proof: list[bytes]) -> None:
    """RFC 9162 §2.1.4.2: ValueError unless the tree old_root/old is a prefix of new_root/new."""
    node = lambda a, b: hashlib.sha256(b"\x01" + a + b).digest()  # noqa: E731
    if old > new:
        raise ValueError(f"size went from {old} to {new}")
    if old == new:
        if proof or old_root != new_root:
            raise ValueError(f"two different trees of size {new}")
        return
    if old == 0 or not proof:
        raise ValueError("no consistency proof")
    if old & (old - 1) == 0:
        proof = [old_root, *proof]
    fn, sn = old - 1, new - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            raise ValueError("consistency proof too long")
        if fn & 1 or fn == sn:
            fr, sr = node(c, fr), node(c, sr)
            while fn and not fn & 1:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node(sr, c)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0 or fr != old_root or sr != new_root:
        raise ValueError(f"the tree of size {new} does not extend the cut's tree of size {old}")


def cut_leaf(name: str, manifest_sha: str) -> bytes:
    return json.dumps({"corte": name, "manifest_sha256": manifest_sha}, separators=(",", ":")).encode()


def split_note(raw: bytes, what: str) -> tuple[str, list[tuple[str, bytes]]]:
    """A C2SP signed note: its text, and (name, key ID + signature) per signature line."""
    try:
        data = raw.decode("utf-8")
        text, block = data[:data.rindex("\n\n") + 1], data[data.rindex("\n\n") + 2:]
        sigs = []
        for line in block.rstrip("\n").split("\n"):
            dash, name, b64 = line.split(" ")
            if dash != "\u2014":
                raise ValueError("a signature line starts with an em dash")
            sigs.append((name, base64.b64decode(b64, validate=True)))
    except ValueError as exc:
        raise Fail(f"{what}: not a signed note ({exc})") from None
    return text, sigs


def note_key_id(name: str, alg: int, raw: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + bytes([alg]) + raw).digest()[:4]


def read_witnesses(path: Path) -> tuple[list[tuple[str, bytes]], int]:
    """(name, raw key) per vkey line of a witness file, and its quorum (default: all)."""
    found, quorum = [], None
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("quorum"):
            parts = line.split()
            if len(parts) != 2 or not parts[1].isdigit():
                raise SystemExit(f"error: {path} line {number}: expected `quorum K`")
            quorum = int(parts[1])
            continue
        parts = line.split("+", 2)
        try:
            key = base64.b64decode(parts[2], validate=True)
        except (IndexError, ValueError):
            key = b""
        if len(key) != 33 or key[0] != 4 or note_key_id(parts[0], 4, key[1:]).hex() != parts[1]:
            raise SystemExit(f"error: {path} line {number}: not a witness (cosignature/v1) vkey")
        found.append((parts[0], key[1:]))
    quorum = len(found) if quorum is None else quorum
    if quorum > len(found):
        raise SystemExit(f"error: {path}: quorum {quorum} but only {len(found)} witnesses")
    return found, quorum


class Cut:
    def __init__(self, path: Path, keys_dir: Path | None, want_hashes: dict[str, int] | None = None,
                 witnesses: tuple[list[tuple[str, bytes]], int] | None = None) -> None:
        self.path = path
        self.witnesses = witnesses
        self.log_hashes: list[bytes] | None = None
        try:
            self.zip = zipfile.ZipFile(path)
        except (OSError, zipfile.BadZipFile) as exc:
            raise SystemExit(f"error: {path}: not a readable zip ({exc})") from None
        self.keys_dir, self.want = keys_dir, want_hashes or {}
        self.hashes_at: dict[str, str] = {}
        self.genesis: dict[str, object] = {}     # node → election_sha256 its node.genesis names
        self.key_from: dict[str, str] = {}       # node → where its key was taken from

    def info(self, name: str) -> zipfile.ZipInfo:
        try:
            return self.zip.getinfo(name)
        except KeyError:
            raise Fail(f"{name}: missing from {self.path.name}") from None

    def read(self, name: str) -> bytes:
        info = self.info(name)
        if info.file_size > MAX_READ:
            raise Fail(f"{name}: inflates to {info.file_size / MIB:.0f} MiB; "
                       f"read whole, a file may hold at most {MAX_READ // MIB} MiB")
        return self.zip.read(info)

    def sha256(self, name: str) -> str:
        digest = hashlib.sha256()
        with self.zip.open(self.info(name)) as stream:
            while piece := stream.read(MIB):
                digest.update(piece)
        return digest.hexdigest()

    def lines(self, name: str) -> Iterator[tuple[int, bytes]]:
        """(number, bytes) of each line, a line at a time, none longer than MAX_LINE."""
        with self.zip.open(self.info(name)) as stream:
            number = 0
            while raw := stream.readline(MAX_LINE + 1):
                number += 1
                if len(raw) > MAX_LINE:
                    raise Fail(f"{name} line {number}: longer than {MAX_LINE // MIB} MiB")
                yield number, raw

    def check(self) -> None:
        check_members(self.zip, self.path.name)
        body, sig = self.read("MANIFEST.json"), self.read("MANIFEST.json.sig")
        pem = (self.keys_dir / "hq.pub").read_bytes() if self.keys_dir else self.read("hq.pub")
        self.fingerprint = hashlib.sha256(pem).hexdigest()
        try:
            raw_sig = base64.b64decode(sig.strip(), validate=True)
        except ValueError:
            raw_sig = b""
        if not signed(public_key(pem, "hq.pub"), raw_sig, body):
            raise Fail("MANIFEST.json.sig: not a signature of MANIFEST.json by the HQ key "
                       f"{self.fingerprint[:16]}…")
        self.manifest = m = json.loads(body)
        self.manifest_sha = hashlib.sha256(body).hexdigest()
        if CUT_NAME.fullmatch(self.path.name) and self.path.name != m["name"]:
            raise Fail(f"{self.path.name}: the file is named so, but its manifest names cut {m['name']}")
        for name in sorted(m["files"]):
            if self.sha256(name) != m["files"][name]:
                raise Fail(f"{name}: its SHA-256 differs from the one MANIFEST.json gives")
        for name in self.zip.namelist():
            if name not in m["files"] and name not in ("MANIFEST.json", "MANIFEST.json.sig"):
                raise Fail(f"{name}: in the zip but not in MANIFEST.json")
        self.outside_keys()
        self.chains()
        self.in_log(pem)
        self.catalog_bound()
        self.rows()

    def in_log(self, pem: bytes) -> None:
        """Every evidence line is a leaf of HQ's log checkpoint named by the manifest."""
        log = self.manifest.get("log")
        if log is None:
            if self.witnesses is not None:
                raise Fail("MANIFEST.json: names no transparency log; --witnesses needs one")
            return
        where = "registro/checkpoint"
        text, sigs = split_note(self.read(where), where)
        raw = public_key(pem, "hq.pub").public_bytes(serialization.Encoding.Raw,
                                                     serialization.PublicFormat.Raw)
        name = "catd-hq/" + hashlib.sha256(raw).hexdigest()[:16]
        kid = note_key_id(name, 1, raw)
        if not any(n == name and sig[:4] == kid and signed(public_key(pem, "hq.pub"), sig[4:], text.encode())
                   for n, sig in sigs):
            raise Fail(f"{where}: no signature by {name}")
        lines = text.split("\n")
        if lines[:3] != [log["origin"], str(log["size"]), log["root"]]:
            raise Fail(f"{where}: not the checkpoint MANIFEST.json names")
        size, root = int(log["size"]), base64.b64decode(log["root"])
        data = self.read("registro/hojas.bin")
        if len(data) != 32 * size:
            raise Fail(f"registro/hojas.bin: {len(data)} bytes for a log of {size} leaves")
        hashes = [data[i:i + 32] for i in range(0, len(data), 32)]
        if tree_root(hashes) != root:
            raise Fail("registro/hojas.bin: its leaves do not give the checkpoint's root")
        held = set(hashes)
        for number, line in self.lines("evidencia.ndjson"):
            if leaf_hash(line.rstrip(b"\n")) not in held:
                raise Fail(f"evidencia.ndjson line {number}: this packet is not in HQ's transparency log")
        if self.witnesses is not None:
            beside = self.path.with_name(self.path.name + ".testigos.json")
            if beside.exists():
                try:
                    doc = json.loads(beside.read_bytes())
                    later_text, later_sigs = split_note(doc["checkpoint"].encode(), beside.name)
                    if not any(n == name and sig[:4] == kid
                               and signed(public_key(pem, "hq.pub"), sig[4:], later_text.encode())
                               for n, sig in later_sigs):
                        raise ValueError(f"no signature by {name}")
                    head = later_text.split("\n")
                    if head[0] != name:
                        raise ValueError(f"origin {head[0]!r} is not {name}")
                    consistent(size, int(head[1]), root, base64.b64decode(head[2]),
                               [bytes.fromhex(h) for h in doc["consistency"]])
                except (ValueError, KeyError, TypeError, IndexError) as exc:
                    raise Fail(f"{beside.name}: {exc}") from None
                text, sigs = later_text, later_sigs
            good = []
            for wname, wkey in self.witnesses[0]:
                wid = note_key_id(wname, 4, wkey)
                for n, sig in sigs:
                    if n == wname and sig[:4] == wid and len(sig) == 76:
                        t = int.from_bytes(sig[4:12], "big")
                        message = f"cosignature/v1\ntime {t}\n".encode() + text.encode()
                        if signed(Ed25519PublicKey.from_public_bytes(wkey), sig[12:], message):
                            good.append(wname)
                            break
            if len(good) < self.witnesses[1]:
                raise Fail(f"{where}: checkpoint cosigned by {len(good)} of the named witnesses"
                           f" ({', '.join(good) or 'none'}); {self.witnesses[1]} required")
        self.log_hashes = hashes

    # ---- trust from outside the cut: keys and catalog the party holds --------------------

    def added_after_publication(self) -> dict[str, str]:
        added = (self.manifest.get("llaves") or {}).get("added_after_publication")
        return {str(k): str(v) for k, v in added.items()} if isinstance(added, dict) else {}

    def outside_keys(self) -> None:
        """With --keys DIR, every node the manifest covers has its key in DIR: a CATD whose
        key only the cut carries may be one HQ made up (its key, its chain, its actas)."""
        if self.keys_dir is None:
            return
        for node in sorted(self.manifest["nodes"]):
            if given_key(self.keys_dir, node) is None:
                raise Fail(missing_key(node, self.keys_dir, self.added_after_publication().get(node)))

    def node_key(self, node: str) -> Ed25519PublicKey:
        own = self.read(f"nodos/{node}.pub")
        if self.keys_dir is not None:
            given = given_key(self.keys_dir, node)
            if given is None:
                raise Fail(missing_key(node, self.keys_dir, None))
            if given.read_bytes().strip() != own.strip():
                raise Fail(f"nodos/{node}.pub: differs from {given}")
            own = given.read_bytes()
            self.key_from[node] = str(given)
        else:
            self.key_from[node] = f"nodos/{node}.pub"
        return public_key(own, f"nodos/{node}.pub")

    def catalog_bound(self) -> None:
        """catalogo.json is the election file every CATD was installed with: its SHA-256 is
        the election_sha256 each chain's node.genesis signs, and DIR/catalogo.json's if given."""
        held = self.sha256("catalogo.json")
        for node in sorted(self.genesis):
            if self.genesis[node] != held:
                raise Fail(f"catalogo.json: its SHA-256 {held[:16]}… is not the election file {node} "
                           f"was installed with ({str(self.genesis[node])[:16]}…, named by its node.genesis)")
        if self.keys_dir is not None and (given := self.keys_dir / "catalogo.json").exists():
            if hashlib.sha256(given.read_bytes()).hexdigest() != held:
                raise Fail(f"catalogo.json: differs from {given} "
                           "(the election file published before the night)")

    def key_notes(self, late: dict[str, str], skip: dict[str, str] | None = None) -> list[str]:
        """Per node, where its key came from and what that proves."""
        added, notes = {**self.added_after_publication(), **late}, []
        fresh = {n: w for n, w in self.key_from.items() if n not in (skip or {})}
        if not fresh:
            return []
        for node, where in sorted(fresh.items()):
            late = f"; registered after the keys were published ({added[node]})" if node in added else ""
            if self.keys_dir is None:
                notes.append(f"note: {node}: key taken from the cut ({where}): this proves the chain is "
                             f"that key's, nothing against HQ, who ships the key{late}")
            else:
                notes.append(f"key: {node}: from {where}{late}")
        if self.keys_dir is None:
            notes.append("note: pass --keys DIR with the keys published before the night "
                         "(DATA/publicacion/llaves/, the site's downloads page)")
        return notes

    def chains(self) -> None:
        self.chain: dict[str, Chain] = {}
        heads: dict[str, tuple[int, str]] = {}
        keys: dict[str, Ed25519PublicKey] = {}
        phones: dict[str, dict[str, str | None]] = {}
        self.phones_ever: dict[str, dict[str, list[str]]] = {}
        self.ccv_photos: list[tuple[str, str, dict[str, Any]]] = []
        for number, raw in self.lines("evidencia.ndjson"):
            where = f"evidencia.ndjson line {number}"
            try:
                wire = json.loads(raw.decode("utf-8"))
                seq, text, hash_hex, sig = wire["seq"], wire["canonical"], wire["hash"], wire["sig"]
                env = json.loads(text, parse_float=lambda t: 1 / 0)
            except (ValueError, KeyError, TypeError, ZeroDivisionError):
                raise Fail(f"{where}: not a wire line of a packet") from None
            if set(wire) != {"seq", "canonical", "hash", "sig"} or not isinstance(env, dict):
                raise Fail(f"{where}: not a wire line of a packet")
            node = env.get("node")
            where += f" ({node} seq {seq})"
            at = env.get("at")
            if not isinstance(node, str) or not isinstance(seq, int) or not isinstance(at, str):
                raise Fail(f"{where}: not a packet envelope")
            canonical = text.encode("utf-8")
            if json.dumps(env, sort_keys=True, separators=(",", ":"), ensure_ascii=False) != text \
                    or not unicodedata.is_normalized("NFC", text):
                raise Fail(f"{where}: packet bytes are not canonical JSON")
            digest = hashlib.sha256(DOMAIN + canonical).digest()
            if digest.hex() != hash_hex:
                raise Fail(f"{where}: hash does not match the packet's bytes")
            last_seq, last_hash = heads.get(node, (0, ZERO))
            if env.get("seq") != seq or seq != last_seq + 1:
                raise Fail(f"{where}: expected seq {last_seq + 1}")
            if env.get("prev") != last_hash:
                raise Fail(f"{where}: prev does not link to the packet before")
            if node not in keys:
                keys[node] = self.node_key(node)
            try:
                raw_sig = base64.b64decode(sig, validate=True)
            except ValueError:
                raw_sig = b""
            if not signed(keys[node], raw_sig, digest):
                raise Fail(f"{where}: signature does not verify against {node}'s key")
            heads[node] = (seq, hash_hex)
            if self.want.get(node) == seq:
                self.hashes_at[node] = hash_hex
            body = env.get("body")
            if env.get("kind") == "node.genesis" and isinstance(body, dict):
                self.genesis[node] = body.get("election_sha256")
            elif node not in self.genesis:
                raise Fail(f"{where}: {node}'s chain does not begin with its node.genesis")
            if isinstance(body, dict):
                devices = phones.setdefault(node, {})
                if env.get("kind") == "device.added" and isinstance(body.get("pubkey"), str):
                    devices[str(body.get("device"))] = body["pubkey"]
                    self.phones_ever.setdefault(node, {}).setdefault(str(body.get("device")), []).append(
                        body["pubkey"])
                elif env.get("kind") == "device.revoked" and body.get("device") in devices:
                    devices[str(body["device"])] = None
                elif env.get("kind") == "acta.digitized":
                    if why := casilla_problem(node, devices, body):
                        raise Fail(f"{where}: {why}")
                    if isinstance(body.get("casilla"), dict):
                        st = json.loads(base64.b64decode(body["casilla"]["statement"]).decode("utf-8"))
                        if st["node"] != node:
                            self.ccv_photos.append((where, node, body))
            if env.get("kind") in KINDS and isinstance(env.get("body"), dict):
                self.chain.setdefault(node, Chain()).add(seq, env["kind"], at, env["body"])
        named = {n: (h["seq"], h["hash"]) for n, h in self.manifest["nodes"].items()}
        for node in sorted(set(named) | set(heads)):
            if heads.get(node) != named.get(node):
                raise Fail(f"evidencia.ndjson: {node} ends at {heads.get(node)}, "
                           f"MANIFEST.json names {named.get(node)}")

    def rows(self) -> None:
        m = self.manifest
        self.cat = cat = Catalog(json.loads(self.read("catalogo.json")))
        for where, node, body in self.ccv_photos:
            named = json.loads(base64.b64decode(body["casilla"]["statement"]).decode("utf-8"))["node"]
            if why := ccv_problem(cat, node, body, self.phones_ever.get(named, {})):
                raise Fail(f"{where}: {why}")
        results = [n for n in m["files"] if n.endswith(".csv") and not n.endswith("_CANDIDATURAS.csv")]
        name = results[0] if len(results) == 1 else "results CSV"
        text = self.read(name).decode("utf-8-sig")
        lines = [line.split("|") for line in text.split("\r\n")[:-1]]
        cut = dt.datetime.strptime(m["cut"], "%Y-%m-%dT%H:%M")
        expected = [[cat.name], [f"{cut:%d/%m/%Y %H:%M} ({cat.tz})"], SUMMARY]
        for i, want in enumerate(expected):
            if len(lines) <= i or lines[i] != want:
                raise Fail(f"{name} line {i + 1}: expected {'|'.join(want)}")
        if len(lines) < 5 or lines[4] != cat.header:
            raise Fail(f"{name} line 5: the acta header is not the template's for this election")
        index = [line.split("|") for line in self.read("evidencia_actas.txt").decode().split("\r\n")[1:-1]]
        self.published: dict[str, tuple[list[str], str]] = {}
        recs: list[dict[str, Any]] = []
        if len(index) != len(lines) - 5:
            raise Fail(f"evidencia_actas.txt: {len(index)} entries for {len(lines) - 5} rows")
        for cells, (key, node, seqs) in zip(lines[5:], index, strict=True):
            shown = cells[1][2:-1] if cells[1].startswith('="') else cells[1]
            if shown != key:
                raise Fail(f"acta {shown}: evidencia_actas.txt names {key} for its row")
            owner = cat.actas.get(key, {}).get("catd")
            if node not in (cat.capturers(key) or [node]):
                raise Fail(f"acta {key}: counted from {node}, but the catalog assigns it to {owner}")
            rec = record(cat, key, self.chain.get(node, Chain()))
            if rec is None:
                raise Fail(f"acta {key}: no report of it by {node} stands in the evidence")
            if rec["evidence"] != [int(s) for s in seqs.split()]:
                raise Fail(f"acta {key}: evidencia_actas.txt names seqs {seqs}, "
                           f"the count finds {rec['evidence']}")
            for column, printed, recomputed in zip(cat.header, cells, row(cat, rec), strict=False):
                if printed != recomputed:
                    raise Fail(f"acta {key}: {column} is {printed!r}, the evidence gives {recomputed!r}")
            if len(cells) != len(cat.header):
                raise Fail(f"acta {key}: {len(cells)} columns, the header has {len(cat.header)}")
            self.published[key] = (cells, node)
            recs.append(rec)
        keys = [r["key"] for r in recs]
        for a, b in itertools.pairwise(keys):
            if cat.order(a) >= cat.order(b):
                raise Fail(f"acta {b}: out of the official order (after {a})")
        for node, chain in sorted(self.chain.items()):
            for key in sorted(chain.reports):
                if key in self.published or node not in (cat.capturers(key) or [node]) \
                        or record(cat, key, chain) is None:
                    continue
                first = chain.reports[key][0][0]
                raise Fail(f"acta {key}: reported by {node} (seq {first}) but not in the cut")
        computed = summary(cat, recs, m["final"])
        for name, shown in zip(SUMMARY, lines[3], strict=False):
            if shown != computed[name] or m["summary"].get(name) != computed[name]:
                raise Fail(f"summary {name}: printed {shown}, recomputed {computed[name]}")


def extends(earlier: Cut, later: Cut) -> None:
    """Raise Fail unless `later` extends `earlier`."""
    a, b = earlier.manifest, later.manifest
    if earlier.fingerprint != later.fingerprint:
        raise Fail(f"{later.path.name}: signed by another HQ key than {earlier.path.name}")
    if a["final"]:
        raise Fail(f"{later.path.name}: {earlier.path.name} is the final cut; nothing follows it")
    if b["number"] <= a["number"] or b["cut"] <= a["cut"]:
        raise Fail(f"{later.path.name}: cut {b['number']} ({b['cut']}) does not come after "
                   f"cut {a['number']} ({a['cut']})")
    if b["number"] == a["number"] + 1 and (b["previous"] or {}).get("sha256") != earlier.manifest_sha:
        raise Fail(f"{later.path.name}: does not name {earlier.path.name}'s manifest as the previous one")
    if earlier.log_hashes is not None and later.log_hashes is not None:
        old = earlier.log_hashes
        if len(later.log_hashes) < len(old) or tree_root(later.log_hashes[:len(old)]) != tree_root(old):
            raise Fail(f"{later.path.name}: its transparency log does not extend {earlier.path.name}'s")
        if leaf_hash(cut_leaf(a["name"], earlier.manifest_sha)) not in set(later.log_hashes):
            raise Fail(f"{later.path.name}: {earlier.path.name} is not in its transparency log: that cut "
                       "was not published by this HQ")
    for node, head in sorted(a["nodes"].items()):
        if later.hashes_at.get(node) != head["hash"]:
            raise Fail(f"{later.path.name}: {node}'s chain does not extend its seq {head['seq']} "
                       f"in {earlier.path.name}")
    for key, (cells, _) in earlier.published.items():
        now = later.published.get(key)
        if now is not None and now[0] == cells:
            continue
        fresh = [s for n, ch in later.chain.items() for s in ch.touched.get(key, [])
                 if s > a["nodes"].get(n, {}).get("seq", 0)]
        if not fresh:
            change = "is left out" if now is None else "changed"
            raise Fail(f"acta {key}: its row {change} in {later.path.name}, yet no packet of it came after "
                       f"{earlier.path.name}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("cuts", nargs="+", type=Path, metavar="CUT.zip",
                        help="one cut, or the earlier then the later")
    parser.add_argument("--keys", type=Path, help="the keys published before the night: hq.pub, "
                        "nodos/<NODE>.pub (or <NODE>.pub), catalogo.json")
    parser.add_argument("--witnesses", type=Path, help="witness vkeys and `quorum K`: the cut's log "
                        "checkpoint must carry K cosignatures (CUT.zip.testigos.json beside it)")
    args = parser.parse_args(argv)
    if len(args.cuts) > 2:
        parser.error("give one cut, or two (the earlier first)")
    if args.keys is not None and not (args.keys / "hq.pub").exists():
        print(f"error: {args.keys}: no hq.pub in it", file=sys.stderr)
        return 2
    try:
        late = check_keys_dir(args.keys) if args.keys is not None else {}
        try:
            witnesses = read_witnesses(args.witnesses) if args.witnesses is not None else None
        except (SystemExit, OSError, UnicodeDecodeError) as exc:
            print(exc if isinstance(exc, SystemExit) else f"error: {args.witnesses}: {exc}", file=sys.stderr)
            return 2
        first = Cut(args.cuts[0], args.keys, witnesses=witnesses)
        first.check()
        print(f"ok: {first.path.name}: cut {first.manifest['number']}, {len(first.published)} rows, "
              f"{len(first.manifest['nodes'])} CATD chains; HQ key {first.fingerprint}")
        for line in first.key_notes(late):
            print(one_line(line))
        if len(args.cuts) == 2:
            want = {n: h["seq"] for n, h in first.manifest["nodes"].items()}
            second = Cut(args.cuts[1], args.keys, want, witnesses=witnesses)
            second.check()
            print(f"ok: {second.path.name}: cut {second.manifest['number']}, {len(second.published)} rows")
            for line in second.key_notes(late, skip=first.key_from):
                print(one_line(line))
            extends(first, second)
            print(f"ok: {second.path.name} extends {first.path.name}")
    except Fail as exc:
        print(f"FAIL {one_line(str(exc))}", file=sys.stderr)
        return 1
    except (KeyError, ValueError, TypeError, AttributeError) as exc:
        print(f"FAIL malformed content: {type(exc).__name__}: {one_line(str(exc))}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
