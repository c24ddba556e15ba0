"""Web tables: users, sessions, login throttling (owned by catd_node/web/)."""

from __future__ import annotations

MIGRATIONS: list[str] = []
