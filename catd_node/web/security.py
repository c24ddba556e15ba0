"""Middlewares: security headers, session lookup, and cross-origin (CSRF) protection.

CSRF rules, in order (after Go's http.CrossOriginProtection): safe methods pass; a trusted
Origin passes; Sec-Fetch-Site must be same-origin or none; else an Origin must name this
host. A request with neither header (old browsers, scripts) must carry the form token bound
to the session cookie — so a forged form from another site is refused with 403 either way.
"""

from __future__ import annotations

import logging
import secrets
from urllib.parse import urlsplit

from aiohttp import web

from catd_node.ledger import Transaction
from catd_node.web import sessions
from catd_node.web.state import (
    DB,
    SESSION,
    SESSION_TOKEN,
    TRUSTED_ORIGINS,
    Handler,
    csrf_token,
    now,
)

log = logging.getLogger("catd.web.security")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Not cookie-authenticated: the device token in the request is the proof.
TOKEN_AUTHENTICATED = frozenset({"/uploads"})
# Cross-origin by design: the phone page HQ serves enrols here; its one-time code is the proof.
CODE_AUTHENTICATED = frozenset({"/casilla/alta"})
CSP = ("default-src 'self'; img-src 'self'; script-src 'self'; style-src 'self'; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'")


def _same_host(origin: str, host: str) -> bool:
    parts = urlsplit(origin)
    return parts.scheme in ("http", "https") and parts.netloc.lower() == host.lower()


async def cross_origin_ok(request: web.Request) -> bool:
    """Whether a state-changing request may proceed (see the module rules)."""
    if request.method in SAFE_METHODS or request.path in CODE_AUTHENTICATED:
        return True
    origin = request.headers.get("Origin")
    site = request.headers.get("Sec-Fetch-Site")
    if origin and origin in request.app[TRUSTED_ORIGINS]:
        return True
    if site is not None:
        return site in ("same-origin", "none")
    if origin is not None:
        return _same_host(origin, request.host)
    if request.path in TOKEN_AUTHENTICATED:
        return True
    expected = csrf_token(request)
    if not expected or request.content_type != "application/x-www-form-urlencoded":
        return False
    form = await request.post()
    sent = form.get("csrf")
    return isinstance(sent, str) and secrets.compare_digest(sent.encode(), expected.encode())


@web.middleware
async def headers_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        response = exc
        _decorate(response)
        raise
    _decorate(response)
    return response


def _decorate(response: web.StreamResponse) -> None:
    h = response.headers
    h.setdefault("Content-Security-Policy", CSP)
    h.setdefault("X-Content-Type-Options", "nosniff")
    h.setdefault("X-Frame-Options", "DENY")
    h.setdefault("Referrer-Policy", "no-referrer")
    h.setdefault("Cross-Origin-Opener-Policy", "same-origin")


@web.middleware
async def session_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    token = request.cookies.get(sessions.COOKIE)
    if token and not request.path.startswith("/static/"):
        at = now(request)
        session = await request.app[DB].read(sessions.lookup, token, at)
        if session is not None:
            request[SESSION] = session
            request[SESSION_TOKEN] = token
            if session.stale(at):
                await request.app[DB].write(_touch, session.token_sha256, at)
    return await handler(request)


def _touch(tx: Transaction, token_sha256: str, at: float) -> None:
    sessions.touch(tx.conn, token_sha256, at)


@web.middleware
async def csrf_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not await cross_origin_ok(request):
        log.warning("cross-origin request refused path=%s origin=%s site=%s", request.path,
                    request.headers.get("Origin", "-")[:80], request.headers.get("Sec-Fetch-Site", "-"))
        raise web.HTTPForbidden(text="Solicitud rechazada: origen no permitido (CSRF).")
    return await handler(request)
