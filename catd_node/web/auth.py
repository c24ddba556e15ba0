"""Sign in and out: generic errors, throttled attempts, sessions rotated on login."""

from __future__ import annotations

import logging
import secrets

from aiohttp import web

from catd_node.errors import BadInput
from catd_node.ledger import Transaction
from catd_node.web import held as held_mod
from catd_node.web import proxy, sessions, throttle, users
from catd_node.web.state import (
    BOARD,
    DB,
    HASHER,
    IP_BUCKETS,
    PRE_COOKIE,
    SESSION,
    SESSION_TOKEN,
    Clerk,
    clerk,
    form_token,
    now,
    render,
)

log = logging.getLogger("catd.web.auth")
GENERIC = "Usuario o contraseña incorrectos, o demasiados intentos. Espere unos segundos e intente de nuevo."
EXPIRED = "Su sesión venció. Entre de nuevo: lo que escribió se conservó y podrá enviarlo."
MAX_PASSWORD = 1024


def login_page(request: web.Request, message: str | None = None, name: str = "", status: int = 200,
               held: list[tuple[str, str]] | None = None, target: str | None = None) -> web.Response:
    """The sign-in form; `held` fields (typed before the session expired) ride along to `target`."""
    secret = request.cookies.get(PRE_COOKIE) or secrets.token_urlsafe(24)
    keep = held if held and target else None
    response = render(request, "login.html", {
        "message": message, "name": name, "csrf": form_token(secret),
        "held": held_mod.dump(keep) if keep else "", "target": target if keep else "",
        "held_count": len(keep or [])}, status=status)
    if not request.cookies.get(PRE_COOKIE):
        response.set_cookie(PRE_COOKIE, secret, httponly=True, samesite="Strict", path="/",
                            secure=proxy.secure_cookies(request))
    return response


async def login_form(request: web.Request) -> web.StreamResponse:
    if clerk(request):
        raise web.HTTPSeeOther("/")
    return login_page(request)


def _start_session(tx: Transaction, name: str, account: str, client: str, old: str | None,
                   device: str | None, at: float) -> tuple[str, str]:
    """A new session (and the known-device token of this browser for `account`)."""
    throttle.clear(tx.conn, client)  # the account-wide rows stay: they slow guessers elsewhere
    device = throttle.remember_device(tx.conn, device, account, at)
    if old:
        sessions.revoke(tx.conn, sessions.digest(old))
    sessions.prune(tx.conn, at)
    token = sessions.create(tx.conn, name, at)
    tx.append("user.login", {"by": name})
    return token, device


def _failure(tx: Transaction, account: str, client: str, at: float) -> int:
    return throttle.record_failure(tx.conn, account, at, client)


async def login(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    raw_name, password = form.get("usuario", ""), form.get("contrasena", "")
    held, target = held_mod.load(form.get("retenido")), held_mod.target(form.get("siguiente"))
    if not isinstance(raw_name, str) or not isinstance(password, str):
        return login_page(request, GENERIC, status=400, held=held, target=target)
    at, ip = now(request), request.remote or "-"
    db, buckets = request.app[DB], request.app[IP_BUCKETS]
    account = throttle.account_key(raw_name)
    try:
        name = users.check_name(raw_name)
    except BadInput:
        name = ""
    # a browser that signed in as this user before is its own client, and passes the
    # account-wide ceiling; any other is known by its address (throttle.py)
    sent_device = request.cookies.get(throttle.KNOWN_COOKIE)
    known = await db.read(throttle.known_device, sent_device, account, at)
    client = throttle.client_key(raw_name, known or f"ip:{ip}")
    if not buckets.allows(ip, at) or await db.read(throttle.login_wait, account, client, bool(known), at) > 0:
        buckets.take(ip, at)
        log.warning("login throttled account=%s ip=%s", account[:12], ip)
        return login_page(request, GENERIC, raw_name[:64], status=429, held=held, target=target)
    user = await db.read(users.get, name) if name and len(password) <= MAX_PASSWORD else None
    usable = user is not None and user.active
    ok = await request.app[HASHER].verify(password, user.password_hash if user and usable else None)
    if not (ok and usable and user):
        failures = await db.write(_failure, account, client, at)
        buckets.take(ip, at)
        log.warning("login failed account=%s ip=%s failures=%d", account[:12], ip, failures)
        return login_page(request, GENERIC, raw_name[:64], status=401, held=held, target=target)
    token, device = await db.write(_start_session, user.name, account, client,
                                   request.cookies.get(sessions.COOKIE), sent_device, at)
    log.info("login role=%s ip=%s known_device=%s", user.role, ip, bool(known))
    response: web.Response = web.HTTPSeeOther("/")
    if held and target:  # what was typed before the session expired: shown, sent on a click
        response = render(request, "resubmit.html", {
            "clerk": Clerk(user.name, user.role), "csrf": form_token(token), "target": target,
            "fields": held, "shown": [(held_mod.label(k), v) for k, v in held if k != "imagen"]})
    response.set_cookie(sessions.COOKIE, token, httponly=True, samesite="Strict", path="/",
                        secure=proxy.secure_cookies(request))
    response.set_cookie(throttle.KNOWN_COOKIE, device, max_age=throttle.KNOWN_DAYS * 86400, httponly=True,
                        samesite="Strict", path="/", secure=proxy.secure_cookies(request))
    response.del_cookie(PRE_COOKIE, path="/")
    if isinstance(response, web.HTTPException):
        raise response
    return response


def _end_session(tx: Transaction, token_sha256: str, name: str) -> None:
    sessions.revoke(tx.conn, token_sha256)
    tx.append("user.logout", {"by": name})


async def logout(request: web.Request) -> web.StreamResponse:
    session = request.get(SESSION)
    if session is not None:
        await request.app[DB].write(_end_session, session.token_sha256, session.username)
        request.pop(SESSION_TOKEN, None)
    response = web.HTTPSeeOther("/login")
    response.del_cookie(sessions.COOKIE, path="/")
    raise response


async def home(request: web.Request) -> web.StreamResponse:
    who = clerk(request)
    if who is None:
        raise web.HTTPSeeOther("/login")
    board = request.app[BOARD]
    await board.refresh(request.app[DB].read)
    return render(request, "home.html", {
        "to_capture": len(board.to_capture()) + len(board.unidentified),
        "to_verify": len(board.to_verify(who.name)),
        "mismatched": len(board.mismatched()),
        "role_label": users.ROLE_LABELS.get(who.role, who.role),
    })
