"""Clerk accounts: roles, Argon2id password hashes, enable/disable."""

from __future__ import annotations

import logging
import sqlite3
import unicodedata
from dataclasses import dataclass

from catd_node import packets, store
from catd_node.datadir import DataDir
from catd_node.errors import BadInput
from catd_node.web import passwords

log = logging.getLogger("catd.web.users")

CAPTURISTA = "capturista"
VERIFICADOR = "verificador"
COORDINADOR = "coordinador"
ROLES = (CAPTURISTA, VERIFICADOR, COORDINADOR)
ROLE_LABELS = {CAPTURISTA: "Capturista", VERIFICADOR: "Verificador(a)", COORDINADOR: "Coordinador(a)"}
MIN_PASSWORD = 8


@dataclass(frozen=True)
class User:
    name: str
    role: str
    active: bool
    password_hash: str


def check_name(name: str) -> str:
    """A user name: 1–64 printable characters (any script; output is always escaped)."""
    name = name.strip()
    if not 1 <= len(name) <= 64:
        raise BadInput("nombre", "use de 1 a 64 caracteres")
    if any(unicodedata.category(c).startswith("C") for c in name):
        raise BadInput("nombre", "no use caracteres de control")
    return name


def check_new(name: str, role: str, password: str) -> str:
    name = check_name(name)
    if role not in ROLES:
        raise BadInput("rol", f"debe ser uno de {', '.join(ROLES)}")
    if len(password) < MIN_PASSWORD:
        raise BadInput("contraseña", f"use al menos {MIN_PASSWORD} caracteres")
    return name


def insert(conn: sqlite3.Connection, name: str, role: str, password_hash: str) -> None:
    """Insert a user row (inside the caller's transaction)."""
    if conn.execute("SELECT 1 FROM web_users WHERE name = ?", (name,)).fetchone():
        raise BadInput(f"usuario {name!r}", "ya existe")
    conn.execute(
        "INSERT INTO web_users (name, role, password_hash, active, created_at) VALUES (?, ?, ?, 1, ?)",
        (name, role, password_hash, packets.now()),
    )


def get(conn: sqlite3.Connection, name: str) -> User | None:
    row = conn.execute(
        "SELECT name, role, active, password_hash FROM web_users WHERE name = ?", (name,)
    ).fetchone()
    return User(row[0], row[1], bool(row[2]), row[3]) if row else None


def all_users(conn: sqlite3.Connection) -> list[User]:
    rows = conn.execute("SELECT name, role, active, password_hash FROM web_users ORDER BY name")
    return [User(r[0], r[1], bool(r[2]), r[3]) for r in rows]


def set_active(conn: sqlite3.Connection, name: str, active: bool) -> None:
    """Enable or disable a user; disabling revokes every session of theirs."""
    if not conn.execute("UPDATE web_users SET active = ? WHERE name = ?", (int(active), name)).rowcount:
        raise BadInput(f"usuario {name!r}", "no existe")
    if not active:
        conn.execute("UPDATE web_sessions SET revoked = 1 WHERE username = ?", (name,))


def add_user(datadir: DataDir, name: str, role: str, password: str) -> None:
    """`catd-node user add NAME --role R` (password from stdin)."""
    name = check_new(name, role, password)
    password_hash = passwords.hash_password(password)
    conn = datadir.reader()
    try:
        with store.immediate(conn):
            insert(conn, name, role, password_hash)
    finally:
        conn.close()
    log.info("user added role=%s", role)
