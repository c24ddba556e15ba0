"""The results site served read-only at `/` by `catd-hq serve`: the static files of the last
cut (`DATA/publicacion/sitio/`), GET and HEAD only, nothing outside that folder, no hidden
files. The same folder can sit behind any web server or CDN instead."""

from __future__ import annotations

import mimetypes
import re
from pathlib import Path

from aiohttp import web

from hq.release import cut
from hq.release.site.build import placeholder
from hq.release.site.errors import error_html
from hq.store import HQDir

SITE_ROOT = web.AppKey("site_root", Path)
# Only what a browser needs, from this origin: no scripts at all (the site has none); the one
# form (the search of «Consulta tu casilla») goes to this origin.
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; img-src 'self'; style-src 'self'; "
                               "base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "public, max-age=60",
}
TEXT = "text/plain; charset=utf-8"
TYPES = {".html": "text/html; charset=utf-8", ".css": "text/css; charset=utf-8", ".py": TEXT, ".pub": TEXT,
         ".zip": "application/zip", ".webp": "image/webp"}


def _resolve(root: Path, tail: str) -> Path | None:
    """The file a request path names inside the site, or None."""
    parts = [p for p in tail.split("/") if p]
    if any(p.startswith(".") for p in parts):
        return None
    path = (root / Path(*parts)) if parts else root
    if path.is_dir():
        path = path / "index.html"
    try:
        path = path.resolve(strict=True)
    except (FileNotFoundError, RuntimeError):
        return None
    return path if path.is_relative_to(root.resolve()) and path.is_file() else None


def is_public(request: web.Request) -> bool:
    """The site's side of HQ: every path but the /v1 API."""
    return not (request.path == "/v1" or request.path.startswith("/v1/"))


def error_response(status: int, headers: dict[str, str] | None = None, detail: str = "") -> web.Response:
    """A Spanish HTML error page (`Allow` kept from a 405); never cached."""
    extra = {k: v for k, v in (headers or {}).items() if k.lower() == "allow"}
    return web.Response(status=status, text=error_html(status, detail), content_type="text/html",
                        charset="utf-8", headers={**HEADERS, "Cache-Control": "no-store", **extra})


async def page(request: web.Request) -> web.StreamResponse:
    path = _resolve(request.app[SITE_ROOT], request.match_info.get("tail", ""))
    if path is None:
        return error_response(404)
    kind = TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return web.FileResponse(path, headers={**HEADERS, "Content-Type": kind})


# A casilla's key (CLAVE_CASILLA, 11 characters) or an acta's (CLAVE_ACTA, longer): the
# sección is the four digits after the entity's two.
_CLAVE = re.compile(r"\d{2}(\d{4})[A-Z]\d{4}([A-Z0-9]*)")
_ACTA_PAGE = re.compile(r"[A-Za-z0-9_-]{1,64}")


async def buscar(request: web.Request) -> web.StreamResponse:
    """`/buscar?q=0056` or `?q=090056B0100A02`: the sección's page, or the acta's, as a
    redirect — «Consulta tu casilla» without JavaScript. A copy of the folder on another
    server has the sección index pages instead (secciones.html)."""
    root = request.app[SITE_ROOT]
    asked = "".join(request.query.get("q", "").split()).upper()[:40]
    target: str | None = None
    if asked.isdigit() and len(asked) <= 4:
        target = f"seccion/{int(asked):04d}.html"
    elif _ACTA_PAGE.fullmatch(asked):
        page = next(iter(sorted(root.glob(f"acta/*/{asked}.html"))), None)   # an acta's key
        if page is not None:
            target = page.relative_to(root).as_posix()
        elif (found := _CLAVE.fullmatch(asked)) is not None:                 # a casilla's: its sección
            target = f"seccion/{found.group(1)}.html"
    if target is not None and (root / target).is_file():
        raise web.HTTPFound(target, headers=HEADERS)
    what = f"«{asked}»" if asked else "nada"
    return error_response(404, detail=f"Buscamos {what} y no está en el catálogo de esta elección. Escriba "
                                      "los cuatro dígitos de su sección (están en su credencial) o la clave "
                                      "del acta.")


def add_routes(app: web.Application, hq: HQDir) -> None:
    """GET/HEAD `/` and `/{path}` from the site folder (made, with a placeholder, if absent)."""
    folder = hq.root / cut.PUBLICACION
    folder.mkdir(exist_ok=True)
    app[SITE_ROOT] = placeholder(folder)
    app.router.add_get("/", page)
    app.router.add_get("/buscar", buscar)
    # Never under /v1: an API path keeps the API's own answers (JSON 404, 405 for a method).
    app.router.add_get(r"/{tail:(?!v1(?:/|$)).+}", page)
