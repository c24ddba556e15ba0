"""Typed app and request keys, page rendering, and role guards shared by the handlers."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import jinja2
from aiohttp import web

from catd_node.catalog import Election
from catd_node.config import WebConfig
from catd_node.datadir import DataDir
from catd_node.web import held
from catd_node.web.board import Board
from catd_node.web.db import Database
from catd_node.web.passwords import Hasher
from catd_node.web.sessions import Session
from catd_node.web.throttle import IPBuckets

Clock = Callable[[], float]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

DATADIR = web.AppKey("datadir", DataDir)
DB = web.AppKey("db", Database)
BOARD = web.AppKey("board", Board)
ELECTION = web.AppKey("election", Election)
CLOCK: web.AppKey[Clock] = web.AppKey("clock")
TEMPLATES = web.AppKey("templates", jinja2.Environment)
HASHER = web.AppKey("hasher", Hasher)
IP_BUCKETS = web.AppKey("ip_buckets", IPBuckets)
SECURE_COOKIES = web.AppKey("secure_cookies", bool)
TRUSTED_ORIGINS = web.AppKey("trusted_origins", frozenset)
SETTINGS = web.AppKey("settings", WebConfig)  # the [web] table of catd.toml
STATUS_TOKEN = web.AppKey("status_token", str)  # bearer token for /status and /metrics

SESSION = web.RequestKey("session", Session)
SESSION_TOKEN = web.RequestKey("session_token", str)
PRE_COOKIE = "catd_pre"
FORM = "application/x-www-form-urlencoded"


@dataclass(frozen=True)
class Clerk:
    name: str
    role: str


def now(request: web.Request) -> float:
    return request.app[CLOCK]()


def clerk(request: web.Request) -> Clerk | None:
    session = request.get(SESSION)
    return Clerk(session.username, session.role) if session else None


def form_token(secret: str) -> str:
    """The CSRF form token bound to a cookie secret (an attacker's page cannot read the cookie)."""
    return hashlib.sha256(b"catd/csrf\n" + secret.encode("utf-8")).hexdigest()[:40]


def csrf_token(request: web.Request) -> str:
    secret = request.get(SESSION_TOKEN) or request.cookies.get(PRE_COOKIE, "")
    return form_token(secret) if secret else ""


def render(request: web.Request, template: str, context: dict[str, Any] | None = None,
           status: int = 200) -> web.Response:
    """A server-rendered page (Jinja2, autoescaped), never cached."""
    env = request.app[TEMPLATES]
    ctx = {"clerk": clerk(request), "csrf": csrf_token(request), "path": request.path,
           "election": request.app[ELECTION]}
    ctx.update(context or {})
    text = env.get_template(template).render(**ctx)
    response = web.Response(text=text, content_type="text/html", charset="utf-8", status=status)
    response.headers["Cache-Control"] = "no-store"
    return response


def require(*roles: str) -> Callable[[Handler], Handler]:
    """Only signed-in clerks with one of `roles` (the coordinator may do everything)."""
    def wrap(handler: Handler) -> Handler:
        async def guarded(request: web.Request) -> web.StreamResponse:
            who = clerk(request)
            if who is None:
                if request.method == "GET":
                    raise web.HTTPSeeOther("/login")
                # what was typed goes back through the login page (held.py), not lost
                form = await request.post() if request.content_type == FORM else {}
                raise held.SessionExpired(request.path, held.fields_of(form))
            if who.role not in roles and who.role != "coordinador":
                return render(request, "error.html", {
                    "title": "Sin permiso",
                    "message": "Su cuenta no tiene permiso para esta sección."}, status=403)
            return await handler(request)
        guarded.__name__ = handler.__name__
        guarded.__doc__ = handler.__doc__
        return guarded
    return wrap


def wall_clock() -> float:
    return time.time()
