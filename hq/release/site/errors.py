"""The pages of the public side's errors (404, 405, 500…): Spanish HTML with a way back,
served by `catd-hq serve` (hq/site.py) and written into the site as `404.html` for any other
web server or CDN that serves the folder at its root."""

from __future__ import annotations

import html

# What a reader is told, in Spanish, when the public side cannot answer (never JSON: the
# /v1 API keeps its own answers).
ERRORS = {
    404: ("No existe esa página",
          "La dirección que abrió no es parte del sitio de resultados: puede tener un error, o el acta o la "
          "sección que busca no están en el catálogo."),
    405: ("El sitio solo se consulta",
          "El sitio de resultados es de solo lectura: no recibe envíos ni cambios."),
    500: ("No pudimos mostrar esta página",
          "Ocurrió un error en el servidor. Intente de nuevo en unos minutos."),
}
OTHER_ERROR = ("No pudimos atender la solicitud", "La solicitud no es válida para el sitio de resultados.")


def error_html(status: int, detail: str = "") -> str:
    """The Spanish page of an error on the public side, with a way back. Links are absolute:
    the page answers at any depth of the site (`catd-hq serve` serves it at `/`)."""
    heading, text = ERRORS.get(status, ERRORS[500] if status >= 500 else OTHER_ERROR)
    text = html.escape(detail) if detail else text
    return f"""<!doctype html>
<html lang="es"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{heading} · PREP</title>
<link rel="stylesheet" href="/estilo.css"></head>
<body><header class="cabecera">
<p class="programa">Programa de Resultados Electorales Preliminares</p></header>
<main id="contenido"><h1>{heading}</h1>
<p>{text}</p>
<p>Error {status}.</p>
<ul><li><a href="/">Volver a los resultados</a></li>
<li><a href="/secciones.html">Consultar el acta de una casilla por su sección</a></li></ul>
</main></body></html>
"""
