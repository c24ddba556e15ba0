"""What a clerk typed when the session expired: kept through the login page, sent again after.

A POST that reaches a guarded handler without a live session raises `SessionExpired` with the
posted text fields (not the CSRF token). The login page carries them in one hidden field (the
clerk's own browser, autoescaped); after signing in, the clerk sees them and sends them to the
same path with one click and a fresh form token. Nothing is stored server-side, and nothing is
sent without the clerk's click — the handler then checks everything as for any submit.
"""

from __future__ import annotations

import json
import re
from typing import Any

from aiohttp import web

MAX_FIELDS = 200
_PATH = re.compile(r"/[a-z0-9/_-]{1,64}")


class SessionExpired(web.HTTPUnauthorized):
    """A POST whose session expired; `fields` go back through the login page to `path`."""

    def __init__(self, path: str, fields: list[tuple[str, str]]) -> None:
        super().__init__(text="Sesión vencida: vuelva a entrar.")
        self.path = path
        self.fields = fields


def fields_of(form: Any) -> list[tuple[str, str]]:
    """The text fields of a posted form worth keeping (not the CSRF token), bounded."""
    return [(k, v) for k, v in form.items() if isinstance(v, str) and k != "csrf"][:MAX_FIELDS]


def dump(fields: list[tuple[str, str]]) -> str:
    return json.dumps(fields, ensure_ascii=False, separators=(",", ":"))


def load(raw: Any) -> list[tuple[str, str]]:
    """Fields as the login form sends them back; anything malformed is dropped."""
    if not isinstance(raw, str) or not raw:
        return []
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        return []
    if not isinstance(value, list):
        return []
    pairs = [p for p in value if isinstance(p, list) and len(p) == 2]
    kept = [(k, v) for k, v in pairs if isinstance(k, str) and isinstance(v, str) and k != "csrf"]
    return kept[:MAX_FIELDS]


def target(raw: Any) -> str | None:
    """Where held fields go back to: one of the app's own paths, never another site."""
    if isinstance(raw, str) and _PATH.fullmatch(raw) and raw not in ("/login", "/logout"):
        return raw
    return None


def label(name: str) -> str:
    """A field's name as the clerk knows it (capture fields are `v_<FIELD>`)."""
    return {"acta": "Acta", "imagen": "Imagen", "clave": "Clave"}.get(name, name.removeprefix("v_"))
