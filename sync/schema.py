"""Sync tables: receipts and HQ link state (owned by sync/)."""

from __future__ import annotations

MIGRATIONS: list[str] = []
