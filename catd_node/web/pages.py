"""One error page, in Spanish, for every 4xx/5xx the web app raises.

Every HTTPException with a status ≥ 400 (ours, and aiohttp's own 404/405/413) and every
unexpected exception become `error.html`: a title and a message for the clerk, never a stack
trace (that goes to the log, with the path). A POST refused because the session expired
(`held.SessionExpired`, raised by `require`) becomes the login page carrying what was typed.
"""

from __future__ import annotations

import logging

from aiohttp import web

from catd_node import diskfull
from catd_node.web import auth
from catd_node.web.held import SessionExpired
from catd_node.web.state import DATADIR, Handler, render

log = logging.getLogger("catd.web.pages")
TITLES = {
    400: "Solicitud no válida", 401: "Sesión vencida", 403: "Acceso denegado", 404: "Página no encontrada",
    405: "Operación no permitida", 408: "La solicitud tardó demasiado", 409: "Conflicto",
    413: "Envío demasiado grande", 415: "Formato no admitido", 422: "Datos no válidos",
    429: "Demasiados intentos", 500: "Error del servidor", 503: "Servicio no disponible",
    507: "Disco lleno",
}
MESSAGES = {
    400: "La solicitud no se pudo leer. Vuelva a la página anterior e intente de nuevo.",
    401: "Su sesión venció. Vuelva a entrar.",
    403: "No tiene permiso para esta operación.",
    404: "La dirección no existe. Use el menú para ir a otra sección.",
    405: "Esta dirección no admite esa operación.",
    408: "La información tardó demasiado en llegar. Revise la red e intente de nuevo.",
    409: "Otra persona cambió estos datos al mismo tiempo. Recargue la página.",
    413: "El envío excede el tamaño permitido.",
    415: "El navegador envió los datos en un formato que el sistema no admite.",
    422: "Revise los datos enviados.",
    429: "Demasiados intentos. Espere unos segundos e intente de nuevo.",
    500: "Algo falló en el servidor; no se guardó nada de esta operación. Avise a coordinación.",
}
DISK_FULL = ("El disco del CATD está lleno: este envío no se guardó. Lo registrado antes está a salvo. "
             "Avise a coordinación y vuelva a intentarlo en unos minutos.")
# Refusals from the connection layer (netguard) carry English text for HQ's logs.
GENERIC_ONLY = frozenset({408, 413, 415})


def _message(exc: web.HTTPException) -> str:
    text = (exc.text or "").strip()
    own = text and text != f"{exc.status}: {exc.reason}" and exc.content_type == "text/plain"
    if own and exc.status not in GENERIC_ONLY:
        return text
    return MESSAGES.get(exc.status, MESSAGES[400] if exc.status < 500 else MESSAGES[500])


def error_page(request: web.Request, status: int, message: str) -> web.Response:
    title = TITLES.get(status, "Error" if status < 500 else TITLES[500])
    return render(request, "error.html", {"title": title, "message": message, "status": status},
                  status=status)


@web.middleware
async def error_pages(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except SessionExpired as expired:
        return auth.login_page(request, auth.EXPIRED, status=401, held=expired.fields, target=expired.path)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        page = error_page(request, exc.status, _message(exc))
        for name in ("Allow", "Accept-Encoding", "Retry-After"):
            if name in exc.headers:
                page.headers[name] = exc.headers[name]
        if exc.keep_alive is False:
            page.force_close()
        return page
    except Exception as exc:
        if diskfull.in_chain(exc) is not None:  # issue 21: a state, said plainly, not a stack trace
            log.error("disk_full path=%s request=%s error=%s (nothing of this request was saved)",
                      request.app[DATADIR].db_path, request.path, exc)
            page = error_page(request, 507, DISK_FULL)
            page.headers["Retry-After"] = "10"
            return page
        log.exception("unexpected error path=%s", request.path)
        return error_page(request, 500, MESSAGES[500])
