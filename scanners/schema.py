"""Scanner ingest tables (owned by scanners/)."""

from __future__ import annotations

MIGRATIONS: list[str] = []
