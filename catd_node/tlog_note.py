"""C2SP signed notes, tlog-checkpoints and tlog-cosignature/v1 (stdlib + cryptography).

A checkpoint is the note text `<origin>\\n<size>\\n<base64 root>\\n`, then a blank line, then
one signature line per signer: `— <name> <base64(key ID || signature)>`. HQ signs with an
Ed25519 note key (key ID: first 4 bytes of SHA-256(name || 0x0A || 0x01 || public key));
each witness adds a timestamped cosignature (alg 0x04: key ID from 0x04, signature bytes
= 8-byte big-endian time || Ed25519 over `cosignature/v1\\ntime <t>\\n` + the note text).
Verifier keys are written `<name>+<hex key ID>+<base64(alg || public key)>` (a "vkey").
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import time
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

ALG_ED25519 = 0x01
ALG_COSIGNATURE = 0x04
DASH = "\u2014"  # the em dash that starts each signature line
COSIG_HEADER = "cosignature/v1\n"


class NoteError(ValueError):
    """A note, checkpoint, key or signature that is malformed or does not verify."""


def _raw(pub: Ed25519PublicKey) -> bytes:
    return pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(name: str, alg: int, pub: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + bytes([alg]) + pub).digest()[:4]


def _check_name(name: str) -> None:
    if not name or any(c.isspace() for c in name) or "+" in name:
        raise NoteError(f"key name {name!r}: must be non-empty, without spaces or '+'")


@dataclass(frozen=True)
class Verifier:
    """A named public key: HQ's log key (alg 0x01) or a witness key (alg 0x04)."""

    name: str
    alg: int
    pub: bytes

    @property
    def id(self) -> bytes:
        return key_id(self.name, self.alg, self.pub)

    def vkey(self) -> str:
        return f"{self.name}+{self.id.hex()}+{base64.b64encode(bytes([self.alg]) + self.pub).decode()}"

    @property
    def key(self) -> Ed25519PublicKey:
        return Ed25519PublicKey.from_public_bytes(self.pub)


def parse_vkey(text: str) -> Verifier:
    parts = text.strip().split("+", 2)  # base64 may itself hold "+"
    if len(parts) != 3:
        raise NoteError(f"verifier key {text.strip()[:60]!r}: expected <name>+<hex id>+<base64 key>")
    name, hex_id, b64 = parts
    _check_name(name)
    try:
        raw = base64.b64decode(b64, validate=True)
        want = bytes.fromhex(hex_id)
    except (binascii.Error, ValueError) as exc:
        raise NoteError(f"verifier key {name}: bad hex or base64") from exc
    if len(raw) != 33 or raw[0] not in (ALG_ED25519, ALG_COSIGNATURE):
        raise NoteError(f"verifier key {name}: expected Ed25519 (0x01) or cosignature/v1 (0x04)")
    v = Verifier(name, raw[0], raw[1:])
    if v.id != want:
        raise NoteError(f"verifier key {name}: key ID {hex_id} does not match the key")
    return v


def log_origin(hq_pub: bytes) -> str:
    """HQ's log origin line and note-key name, fixed by HQ's raw 32-byte public key."""
    return f"catd-hq/{hashlib.sha256(hq_pub).hexdigest()[:16]}"


def log_verifier(hq_pub: Ed25519PublicKey | bytes) -> Verifier:
    """The verifier of HQ's checkpoints from HQ's public key (hq.pub)."""
    raw = hq_pub if isinstance(hq_pub, bytes) else _raw(hq_pub)
    return Verifier(log_origin(raw), ALG_ED25519, raw)


def signer(name: str, key: Ed25519PrivateKey, alg: int = ALG_ED25519) -> tuple[Verifier, Ed25519PrivateKey]:
    _check_name(name)
    return Verifier(name, alg, _raw(key.public_key())), key


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes
    extra: tuple[str, ...] = ()

    def text(self) -> str:
        lines = [self.origin, str(self.size), base64.b64encode(self.root).decode(), *self.extra]
        return "".join(line + "\n" for line in lines)


def parse_checkpoint_text(text: str) -> Checkpoint:
    if not text.endswith("\n"):
        raise NoteError("checkpoint text must end in a newline")
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise NoteError("checkpoint needs an origin, a size and a root hash")
    origin, size_s, root_s, *extra = lines
    if not origin:
        raise NoteError("checkpoint origin line is empty")
    if not size_s.isdigit() or (size_s != "0" and size_s.startswith("0")):
        raise NoteError(f"checkpoint size {size_s[:30]!r} is not a decimal number")
    try:
        root = base64.b64decode(root_s, validate=True)
    except binascii.Error as exc:
        raise NoteError("checkpoint root hash is not base64") from exc
    if len(root) != 32:
        raise NoteError(f"checkpoint root hash has {len(root)} bytes, expected 32")
    return Checkpoint(origin, int(size_s), root, tuple(extra))


@dataclass
class Note:
    """A signed note: its text and its signature lines as (name, key ID, signature bytes)."""

    text: str
    sigs: list[tuple[str, bytes, bytes]] = field(default_factory=list)

    def render(self) -> str:
        out = self.text + "\n"
        for name, kid, sig in self.sigs:
            out += f"{DASH} {name} {base64.b64encode(kid + sig).decode()}\n"
        return out


MAX_NOTE = 1 << 20


def parse_note(data: str | bytes) -> Note:
    if isinstance(data, bytes):
        if len(data) > MAX_NOTE:
            raise NoteError("note too large")
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise NoteError("note is not UTF-8") from exc
    cut = data.rfind("\n\n")
    if cut < 0:
        raise NoteError("note has no blank line before its signatures")
    text, sig_block = data[:cut + 1], data[cut + 2:]
    if not sig_block.endswith("\n"):
        raise NoteError("note signatures must end in a newline")
    sigs = []
    for line in sig_block[:-1].split("\n"):
        parts = line.split(" ")
        if len(parts) != 3 or parts[0] != DASH:
            raise NoteError(f"bad signature line {line[:60]!r}")
        try:
            raw = base64.b64decode(parts[2], validate=True)
        except binascii.Error as exc:
            raise NoteError(f"signature of {parts[1]} is not base64") from exc
        if len(raw) < 5:
            raise NoteError(f"signature of {parts[1]} is too short")
        sigs.append((parts[1], raw[:4], raw[4:]))
    if not sigs:
        raise NoteError("note has no signature")
    return Note(text, sigs)


def sign_note(text: str, name: str, key: Ed25519PrivateKey) -> Note:
    v, _ = signer(name, key)
    return Note(text, [(name, v.id, key.sign(text.encode()))])


def cosign_message(text: str, t: int) -> bytes:
    return f"{COSIG_HEADER}time {t}\n".encode() + text.encode()


def cosign(text: str, name: str, key: Ed25519PrivateKey, t: int | None = None) -> tuple[str, bytes, bytes]:
    """A witness's cosignature line parts for checkpoint `text` (at time t, default now)."""
    t = int(time.time()) if t is None else t
    v, _ = signer(name, key, ALG_COSIGNATURE)
    return name, v.id, t.to_bytes(8, "big") + key.sign(cosign_message(text, t))


def _find(note: Note, v: Verifier) -> bytes | None:
    for name, kid, sig in note.sigs:
        if name == v.name and kid == v.id:
            return sig
    return None


def verify_by(note: Note, v: Verifier) -> int | None:
    """Check v's signature on the note: None for an HQ key (alg 1), the cosignature's time for
    a witness key; NoteError when absent or wrong."""
    sig = _find(note, v)
    if sig is None:
        raise NoteError(f"no signature by {v.name}")
    try:
        if v.alg == ALG_ED25519:
            v.key.verify(sig, note.text.encode())
            return None
        if len(sig) != 72:
            raise NoteError(f"cosignature of {v.name} has {len(sig)} bytes, expected 72")
        t = int.from_bytes(sig[:8], "big")
        v.key.verify(sig[8:], cosign_message(note.text, t))
        return t
    except InvalidSignature as exc:
        raise NoteError(f"signature by {v.name} does not verify") from exc


def cosigners(note: Note, witnesses: list[Verifier]) -> list[str]:
    """Names of the witnesses whose cosignature on the note verifies."""
    good = []
    for w in witnesses:
        try:
            verify_by(note, w)
        except NoteError:
            continue
        good.append(w.name)
    return good


@dataclass(frozen=True)
class WitnessPolicy:
    witnesses: tuple[Verifier, ...]
    quorum: int

    def check(self, note: Note) -> list[str]:
        good = cosigners(note, list(self.witnesses))
        if len(good) < self.quorum:
            raise NoteError(f"checkpoint cosigned by {len(good)} of the named witnesses"
                            f" ({', '.join(good) or 'none'}); {self.quorum} required")
        return good


def parse_policy(text: str, what: str = "witnesses") -> WitnessPolicy:
    """A witness file: one vkey a line, `quorum K` (default: all), `#` comments."""
    ws: list[Verifier] = []
    quorum: int | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        try:
            if line.startswith("quorum"):
                parts = line.split()
                if len(parts) != 2 or not parts[1].isdigit():
                    raise NoteError("expected `quorum K`")
                quorum = int(parts[1])
            else:
                v = parse_vkey(line)
                if v.alg != ALG_COSIGNATURE:
                    raise NoteError(f"{v.name} is not a witness (cosignature/v1) key")
                ws.append(v)
        except NoteError as exc:
            raise NoteError(f"{what} line {number}: {exc}") from exc
    quorum = len(ws) if quorum is None else quorum
    if quorum > len(ws):
        raise NoteError(f"{what}: quorum {quorum} but only {len(ws)} witnesses")
    return WitnessPolicy(tuple(ws), quorum)
