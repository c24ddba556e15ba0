"""Argon2id password hashes (PHC strings), computed off the event loop behind a semaphore,
and the check that refuses passwords anyone would guess."""

from __future__ import annotations

import asyncio
import functools
import os
import string
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidKey, UnsupportedAlgorithm
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id


@dataclass(frozen=True)
class Params:
    memory_kib: int = 64 * 1024   # 64 MiB, t=3: above the OWASP minimum (19 MiB, t=2)
    iterations: int = 3
    lanes: int = 1


DEFAULT = Params()
# Tests set this to cheap parameters; stored hashes carry their own, so verification follows them.
PARAMS = DEFAULT
SLOTS = 2  # 64 MiB each: at most two hashes in memory at once
# The most common passwords (heads of the published lists, Spanish and election words added),
# one a line; compared without case or accents.
COMMON_FILE = Path(__file__).resolve().parents[1] / "data" / "common-passwords.txt"
_EDGES = string.digits + string.punctuation + string.whitespace + "¡¿"
MIN_DISTINCT = 4


def probe() -> None:
    """Fail early, with a clear reason, where OpenSSL lacks Argon2 (it needs OpenSSL ≥ 3.2)."""
    try:
        hash_password("probe", Params(memory_kib=8, iterations=1, lanes=1))
    except UnsupportedAlgorithm as exc:
        raise RuntimeError("this OpenSSL build has no Argon2id (needs OpenSSL ≥ 3.2)") from exc


def hash_password(password: str, params: Params | None = None) -> str:
    """A PHC-encoded Argon2id hash of `password` with a fresh 16-byte salt."""
    p = params or PARAMS
    kdf = Argon2id(salt=os.urandom(16), length=32, iterations=p.iterations, lanes=p.lanes,
                   memory_cost=p.memory_kib)
    return kdf.derive_phc_encoded(password.encode("utf-8"))


def verify_password(password: str, encoded: str) -> bool:
    """True when `password` matches the PHC hash; False for a mismatch or a malformed hash."""
    try:
        Argon2id.verify_phc_encoded(password.encode("utf-8"), encoded)
    except (InvalidKey, ValueError):
        return False
    return True


class Hasher:
    """Hash and verify in the default executor, at most SLOTS at a time."""

    def __init__(self) -> None:
        self._slots = asyncio.Semaphore(SLOTS)
        self._dummy: str | None = None

    async def verify(self, password: str, encoded: str | None) -> bool:
        """Verify against `encoded`, or against a dummy hash (same cost) for unknown users."""
        loop = asyncio.get_running_loop()
        async with self._slots:
            if encoded is None:
                if self._dummy is None:
                    self._dummy = await loop.run_in_executor(None, hash_password, os.urandom(16).hex())
                await loop.run_in_executor(None, verify_password, password, self._dummy)
                return False
            return await loop.run_in_executor(None, verify_password, password, encoded)

    async def hash(self, password: str) -> str:
        loop = asyncio.get_running_loop()
        async with self._slots:
            return await loop.run_in_executor(None, hash_password, password)


def _plain(text: str) -> str:
    """Casefolded, without accents: "Contraseña" and "CONTRASENA" compare equal."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


@functools.cache
def common() -> frozenset[str]:
    lines = COMMON_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(_plain(line.strip()) for line in lines if line.strip())


def weakness(password: str, name: str) -> str | None:
    """Why `password` is too easy to guess for the account `name` (Spanish, shown to the
    coordinator), or None. Digits and symbols around a word do not hide it: "Contraseña2024!"
    is "contrasena"; nor does reversing or doubling the user's name."""
    plain = _plain(password)
    core = plain.strip(_EDGES)
    own = _plain(name.strip())
    if own and (core in (own, own[::-1], own * 2) or plain == own):
        return "no use su nombre de usuario (ni al revés, ni con números)"
    if plain in common() or (len(core) >= 4 and core in common()):
        return "es de las contraseñas más comunes; elija otra (p. ej. tres palabras al azar)"
    if len(set(plain)) < MIN_DISTINCT:
        return f"use al menos {MIN_DISTINCT} caracteres distintos"
    return None
