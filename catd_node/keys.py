"""Ed25519 key files: PKCS#8 PEM private key (mode 0600, never overwritten), PEM public key."""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from catd_node.errors import BadInput


def generate() -> Ed25519PrivateKey:
    """A fresh Ed25519 private key."""
    return Ed25519PrivateKey.generate()


def write_private(path: Path, key: Ed25519PrivateKey) -> None:
    """Write `key` as PKCS#8 PEM, mode 0600; refuse to replace an existing file."""
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as exc:
        raise BadInput(str(path), "a key already exists here; refusing to overwrite it") from exc
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
        out.flush()
        os.fsync(out.fileno())


def public_pem(key: Ed25519PublicKey) -> bytes:
    """The SubjectPublicKeyInfo PEM of `key`."""
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def write_public(path: Path, key: Ed25519PublicKey) -> None:
    """Write the public key as PEM (world-readable: it is meant to be shared)."""
    path.write_bytes(public_pem(key))


def read_private(path: Path) -> Ed25519PrivateKey:
    """Load a PKCS#8 PEM Ed25519 private key, with a clear error for anything else."""
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except FileNotFoundError as exc:
        raise BadInput(str(path), "private key file not found") from exc
    except ValueError as exc:
        raise BadInput(str(path), f"not a PEM private key ({exc})") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise BadInput(str(path), "not an Ed25519 key")
    return key


def read_public(path: Path) -> Ed25519PublicKey:
    """Load a PEM Ed25519 public key, with a clear error for anything else."""
    try:
        return public_from_pem(path.read_bytes(), str(path))
    except FileNotFoundError as exc:
        raise BadInput(str(path), "public key file not found") from exc


def public_from_pem(pem: bytes, what: str = "public key") -> Ed25519PublicKey:
    """Parse PEM bytes into an Ed25519 public key."""
    try:
        key = serialization.load_pem_public_key(pem)
    except ValueError as exc:
        raise BadInput(what, f"not a PEM public key ({exc})") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise BadInput(what, "not an Ed25519 key")
    return key


def verify(key: Ed25519PublicKey, signature: bytes, message: bytes) -> bool:
    """True when `signature` is `key`'s signature of `message`."""
    try:
        key.verify(signature, message)
    except InvalidSignature:
        return False
    return True
