"""The app factory: routes, middlewares, templates, and the database opened for the app's life."""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import jinja2
from aiohttp import web

from catd_node import netguard, wording
from catd_node.catalog import Election
from catd_node.config import WebConfig
from catd_node.datadir import DataDir
from catd_node.web import (
    acopio,
    admin,
    auth,
    capture,
    casilla,
    dashboard,
    images,
    pages,
    passwords,
    proxy,
    security,
    sinacta,
    uploads,
    verification,
)
from catd_node.web.board import Board
from catd_node.web.db import Database
from catd_node.web.forms import shown
from catd_node.web.passwords import Hasher
from catd_node.web.state import (
    BOARD,
    CLOCK,
    DATADIR,
    DB,
    ELECTION,
    HASHER,
    IP_BUCKETS,
    SECURE_COOKIES,
    SETTINGS,
    STATUS_TOKEN,
    TEMPLATES,
    TRUSTED_ORIGINS,
    Clock,
    wall_clock,
)
from catd_node.web.throttle import IPBuckets

log = logging.getLogger("catd.web")
HERE = Path(__file__).resolve().parent
_DEFAULT_ZONE = Election(name="", contests={}, actas={})   # UTC-6, CDMX's official time
FORM_LIMIT = 64 * 1024  # forms are small; uploads stream past this with their own limit


def templates(election: Election | None = None) -> jinja2.Environment:
    """The pages' Jinja environment; `| hora` shows a stored UTC time (RFC 3339) in the
    election's official zone and the publication's format, `07/06/2026 19:05 (UTC-6)`."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True,
        trim_blocks=True, lstrip_blocks=True,
        auto_reload=False,  # package files: no stat() per page
    )
    env.filters["shown"] = shown
    env.filters["hora"] = functools.partial(official_time, election=election)
    return env


def official_time(at: object, election: Election | None = None) -> str:
    """The one way a node screen shows a time: `wording.official_time_text` in the election's
    zone (default UTC-6 when no election is given); empty for no time."""
    if at is None or at == "":
        return ""
    return wording.official_time_text(str(at), election or _DEFAULT_ZONE)


def create_app(datadir: DataDir, *, clock: Clock = wall_clock, settings: WebConfig | None = None,
               ) -> web.Application:
    """The clerks' web app for `datadir`, set up by its [web] config (or `settings`);
    `clock` is injectable for session and throttling tests."""
    passwords.probe()
    settings = settings or datadir.config.web
    app = web.Application(
        client_max_size=FORM_LIMIT,
        # error_pages turns every refusal below into the one Spanish page; refuse_encoded
        # refuses a compressed body before anything reads it; forwarded comes before
        # body_deadline: a request can be cloned only before its body is read
        middlewares=[security.headers_middleware, pages.error_pages, netguard.refuse_encoded,
                     proxy.forwarded_middleware,
                     netguard.body_deadline(settings.request_timeout_s),
                     security.session_middleware, security.csrf_middleware],
    )
    app[DATADIR] = datadir
    app[ELECTION] = datadir.election
    app[CLOCK] = clock
    app[TEMPLATES] = templates(datadir.election)
    app[SETTINGS] = settings
    app[SECURE_COOKIES] = settings.secure_cookies
    app[TRUSTED_ORIGINS] = frozenset(settings.trusted_origins)
    app[IP_BUCKETS] = IPBuckets()
    app[STATUS_TOKEN] = dashboard.status_token(datadir.status_token_path)
    app.cleanup_ctx.append(_resources)
    app.router.add_get("/", auth.home)
    app.router.add_get("/login", auth.login_form)
    app.router.add_post("/login", auth.login)
    app.router.add_post("/logout", auth.logout)
    app.router.add_get("/acopio", acopio.acopio_form)
    app.router.add_post("/acopio", acopio.acopio_submit)
    app.router.add_get("/captura", capture.capture_next)
    app.router.add_post("/captura", capture.capture_submit)
    app.router.add_post("/captura/asignar", capture.assign_submit)
    app.router.add_get("/verificacion", verification.verify_next)
    app.router.add_post("/verificacion", verification.verify_submit)
    app.router.add_get("/coordinacion/discrepancias", verification.mismatches)
    app.router.add_get("/coordinacion/resolver", verification.resolve_form)
    app.router.add_post("/coordinacion/resolver", verification.resolve_submit)
    app.router.add_get("/coordinacion/sin-acta", sinacta.sin_acta_page)
    app.router.add_post("/coordinacion/sin-acta", sinacta.sin_acta_submit)
    app.router.add_post("/coordinacion/sin-acta/deshacer", sinacta.sin_acta_undo)
    app.router.add_get("/tablero", dashboard.dashboard)
    app.router.add_post("/coordinacion/otra-imagen", dashboard.second_image_submit)
    app.router.add_get("/status", dashboard.status_json)
    app.router.add_get("/metrics", dashboard.metrics)
    app.router.add_get("/usuarios", admin.users_page)
    app.router.add_post("/usuarios", admin.users_add)
    app.router.add_post("/usuarios/estado", admin.users_state)
    app.router.add_post("/usuarios/rol", admin.users_role)
    app.router.add_get("/dispositivos", admin.devices_page)
    app.router.add_post("/dispositivos", admin.devices_add)
    app.router.add_post("/dispositivos/revocar", admin.devices_revoke)
    casilla.add_routes(app)
    app.router.add_get("/uploads", uploads.upload_form)
    app.router.add_post("/uploads", uploads.upload)
    app.router.add_get("/imagenes/{sha}", images.image)
    app.router.add_static("/static/", HERE / "static", append_version=False)
    return app


async def _resources(app: web.Application) -> AsyncIterator[None]:
    db = Database(app[DATADIR])
    app[DB] = db
    app[BOARD] = Board(election=app[ELECTION], node=app[DATADIR].config.node_id)
    app[HASHER] = Hasher()
    await app[BOARD].refresh(db.read)
    log.info("web ready node=%s seq=%d", app[DATADIR].config.node_id, app[BOARD].cursor)
    try:
        yield
    finally:
        await db.drain()  # answer every submit already taken before closing the writer
        db.close()
