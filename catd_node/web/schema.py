"""Web tables: users, sessions, login throttling, upload devices (owned by catd_node/web/)."""

from __future__ import annotations

MIGRATIONS: list[str] = [
    """
    CREATE TABLE web_users (
        name TEXT PRIMARY KEY,
        role TEXT NOT NULL CHECK (role IN ('capturista', 'verificador', 'coordinador')),
        password_hash TEXT NOT NULL,
        active INTEGER NOT NULL DEFAULT 1,
        created_at TEXT NOT NULL
    );
    CREATE TABLE web_sessions (
        token_sha256 TEXT PRIMARY KEY,
        username TEXT NOT NULL REFERENCES web_users (name),
        created_at REAL NOT NULL,
        seen_at REAL NOT NULL,
        revoked INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX web_sessions_user ON web_sessions (username);
    CREATE TABLE web_login_failures (
        account TEXT NOT NULL,
        at REAL NOT NULL
    );
    CREATE INDEX web_login_failures_account ON web_login_failures (account, at);
    CREATE TABLE web_devices (
        id TEXT PRIMARY KEY,
        token_sha256 TEXT NOT NULL UNIQUE,
        created_by TEXT NOT NULL,
        created_at TEXT NOT NULL,
        active INTEGER NOT NULL DEFAULT 1
    );
    """,
    # Browsers that signed in as an account before: not held by the account-wide login
    # ceiling (catd_node/web/throttle.py), so guessing from elsewhere never locks the clerk out.
    """
    CREATE TABLE web_known_devices (
        token_sha256 TEXT NOT NULL,
        account TEXT NOT NULL,
        seen_at REAL NOT NULL,
        PRIMARY KEY (token_sha256, account)
    );
    """,
    # PREP Casilla (catd_node/web/casilla.py): one-time enrolment codes, phones and their keys.
    """
    CREATE TABLE web_casilla_codes (
        code_sha256 TEXT PRIMARY KEY,
        device TEXT NOT NULL,
        created_by TEXT NOT NULL,
        expires_at REAL NOT NULL,
        used INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE web_casilla_devices (
        id TEXT PRIMARY KEY,
        pubkey TEXT NOT NULL,
        created_by TEXT NOT NULL,
        created_at TEXT NOT NULL,
        active INTEGER NOT NULL DEFAULT 1
    );
    """,
]
