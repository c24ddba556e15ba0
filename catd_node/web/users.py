"""Clerk accounts: roles, Argon2id password hashes, enable/disable.

Every change to an account is a packet naming the account and who changed it, in the same
transaction as the row (`add`, `switch`, `change_role`): an account that can capture or
verify never appears unseen (DESIGN invariant 3). Never a password or its hash in a packet.
"""

from __future__ import annotations

import getpass
import logging
import os
import sqlite3
import unicodedata
from dataclasses import dataclass

from catd_node import packets
from catd_node.datadir import DataDir
from catd_node.errors import BadInput
from catd_node.ledger import Transaction
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


def check_role(role: str) -> str:
    if role not in ROLES:
        raise BadInput("rol", f"debe ser uno de {', '.join(ROLES)}")
    return role


def check_new(name: str, role: str, password: str) -> str:
    name = check_name(name)
    check_role(role)
    if len(password) < MIN_PASSWORD:
        raise BadInput("contraseña", f"use al menos {MIN_PASSWORD} caracteres")
    why = passwords.weakness(password, name)
    if why:
        raise BadInput("contraseña", why)
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


def _existing(conn: sqlite3.Connection, name: str) -> User:
    user = get(conn, name)
    if user is None:
        raise BadInput(f"usuario {name!r}", "no existe")
    return user


def add(tx: Transaction, name: str, role: str, password_hash: str, by: str) -> None:
    """Insert the account and its `user.added` packet."""
    insert(tx.conn, name, role, password_hash)
    tx.append("user.added", {"user": name, "role": role, "by": by})


def switch(tx: Transaction, name: str, active: bool, by: str) -> bool:
    """Enable or disable an account (disabling revokes every session of theirs), with its
    `user.enabled` / `user.disabled` packet; False, and no packet, when it already was so."""
    if _existing(tx.conn, name).active == active:
        return False
    tx.conn.execute("UPDATE web_users SET active = ? WHERE name = ?", (int(active), name))
    if not active:
        tx.conn.execute("UPDATE web_sessions SET revoked = 1 WHERE username = ?", (name,))
    tx.append("user.enabled" if active else "user.disabled", {"user": name, "by": by})
    return True


def change_role(tx: Transaction, name: str, role: str, by: str) -> str | None:
    """Give an account another role, with its `user.role_changed` packet; returns the role it
    had, or None (and no packet) when it already had `role`. Sessions read the role on every
    request, so the change holds at once."""
    check_role(role)
    old = _existing(tx.conn, name).role
    if old == role:
        return None
    tx.conn.execute("UPDATE web_users SET role = ? WHERE name = ?", (role, name))
    tx.append("user.role_changed", {"user": name, "role": role, "from": old, "by": by})
    return old


def set_password(tx: Transaction, name: str, password_hash: str, by: str) -> None:
    """Replace an account's password hash, end its sessions, and record `user.password_changed`."""
    _existing(tx.conn, name)
    tx.conn.execute("UPDATE web_users SET password_hash = ? WHERE name = ?", (password_hash, name))
    tx.conn.execute("UPDATE web_sessions SET revoked = 1 WHERE username = ?", (name,))
    tx.append("user.password_changed", {"user": name, "by": by})


def cli_actor() -> str:
    """`by` for acts from the command line: `cli:` and the OS account that ran it."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no name for this uid (e.g. a bare container)
        return f"cli:uid{os.getuid()}"


def add_user(datadir: DataDir, name: str, role: str, password: str, by: str | None = None) -> None:
    """`catd-node user add NAME --role R` (password from stdin)."""
    name = check_new(name, role, password)
    password_hash = passwords.hash_password(password)
    ledger = datadir.ledger()
    try:
        with ledger.transaction() as tx:
            add(tx, name, role, password_hash, by or cli_actor())
    finally:
        ledger.close()
    log.info("user added role=%s", role)


def change_password(datadir: DataDir, name: str, password: str, by: str | None = None) -> None:
    """`catd-node user passwd NAME` (the same rules as a new account's password)."""
    name = check_name(name)
    if len(password) < MIN_PASSWORD:
        raise BadInput("contraseña", f"use al menos {MIN_PASSWORD} caracteres")
    if why := passwords.weakness(password, name):
        raise BadInput("contraseña", why)
    password_hash = passwords.hash_password(password)
    ledger = datadir.ledger()
    try:
        with ledger.transaction() as tx:
            set_password(tx, name, password_hash, by or cli_actor())
    finally:
        ledger.close()
    log.info("user password changed")


def disable_user(datadir: DataDir, name: str, by: str | None = None) -> bool:
    """`catd-node user disable NAME`: False when it already was disabled."""
    ledger = datadir.ledger()
    try:
        with ledger.transaction() as tx:
            changed = switch(tx, check_name(name), False, by or cli_actor())
    finally:
        ledger.close()
    log.info("user disabled changed=%s", changed)
    return changed
