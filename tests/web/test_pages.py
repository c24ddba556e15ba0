"""One Spanish error page for every 4xx/5xx, no stack traces; a clerk whose session expires
mid-capture keeps what was typed (issue 14)."""

from __future__ import annotations

import html
import re
import sqlite3

from catd_node.web import sessions
from tests.web.conftest import GOOD, PASSWORD, digitize, hidden, packets_of, values_form

KEY = "DIP-14-01-0123-B01"


async def fetch(b, method: str, path: str, **kw) -> tuple[int, str, dict[str, str]]:
    async with b.session.request(method, f"{b.base}{path}", allow_redirects=False, **kw) as r:
        return r.status, await r.text(), dict(r.headers)


def assert_error_page(status: int, page: str, headers: dict[str, str], want: int, title: str) -> None:
    assert status == want, page[:200]
    assert headers["Content-Type"].startswith("text/html"), headers
    assert f"<h1>{title}</h1>" in page and 'lang="es"' in page and "Volver al inicio" in page
    assert headers["Cache-Control"] == "no-store" and headers["X-Frame-Options"] == "DENY"
    for leak in ("Traceback", "File \"", "aiohttp", "sqlite3", "Error:"):
        assert leak not in page


async def test_every_refusal_is_the_one_spanish_page(clerks, browser, signed_in):
    b = browser()
    assert_error_page(*await fetch(b, "GET", "/no-existe"), 404, "Página no encontrada")
    status, page, headers = await fetch(b, "GET", "/logout")
    assert_error_page(status, page, headers, 405, "Operación no permitida")
    assert "POST" in headers["Allow"]
    status, page, headers = await fetch(b, "POST", "/login", data={"usuario": "ana", "contrasena": "x"})
    assert_error_page(status, page, headers, 403, "Acceso denegado")  # no Origin, no form token: CSRF
    assert "origen no permitido" in page
    same = {"Sec-Fetch-Site": "same-origin"}
    assert_error_page(*await fetch(b, "POST", "/login", data={"usuario": "x" * 70_000}, headers=same),
                      413, "Envío demasiado grande")
    assert_error_page(*await fetch(b, "POST", "/login", data=b"x", headers={
        **same, "Content-Encoding": "gzip", "Content-Type": "application/x-www-form-urlencoded"}),
        415, "Formato no admitido")
    ana = await signed_in("ana")
    status, page, headers = await fetch(ana, "GET", "/imagenes/" + "0" * 64)
    assert_error_page(status, page, headers, 404, "Página no encontrada")
    assert "imagen no encontrada" in page


async def test_an_unexpected_failure_is_a_500_page_without_the_trace(clerks, signed_in, caplog):
    coco = await signed_in("coco")
    conn = sqlite3.connect(clerks.db_path)
    conn.execute("DROP TABLE web_devices")  # a real fault under the handler
    conn.commit()
    conn.close()
    status, page, headers = await fetch(coco, "GET", "/dispositivos")
    assert_error_page(status, page, headers, 500, "Error del servidor")
    assert "web_devices" not in page and "no such table" not in page
    assert "no such table: web_devices" in caplog.text  # the trace goes to the log


async def test_a_capture_sent_after_the_session_expired_is_kept_and_sent_after_login(
        clerks, signed_in, clock):
    sha = digitize(clerks, KEY, seed=7)
    ana = await signed_in("ana")
    status, page = await ana.get("/captura")
    assert hidden(page, "acta") == KEY
    form = {"csrf": hidden(page, "csrf"), "acta": KEY, "imagen": sha, **values_form(GOOD)}
    clock.advance(sessions.IDLE_S + 1)  # ana went for a coffee before pressing Enter
    status, page = await ana.post("/captura", form)
    assert status == 401 and "lo que escribió se conservó" in page
    assert not packets_of(clerks, "acta.captured")
    login = {"usuario": "ana", "contrasena": PASSWORD, "retenido": html.unescape(hidden(page, "retenido")),
             "siguiente": hidden(page, "siguiente")}
    status, page = await ana.post("/login", {**login, "contrasena": "mal"})  # a typo keeps it too
    assert status == 401 and hidden(page, "siguiente") == "/captura"
    status, page = await ana.post("/login", login)
    assert status == 200 and "Su sesión había vencido" in page and 'action="/captura"' in page
    assert re.search(r"<th>PAN</th><td>120</td>", page) and re.search(r"<th>MORENA</th><td>150</td>", page)
    again = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page))
    assert again["v_PAN"] == "120" and again["acta"] == KEY and again["csrf"] != form["csrf"]
    status, page = await ana.post("/captura", again)
    assert status == 200 and f"Acta {KEY} capturada" in page
    [captured] = packets_of(clerks, "acta.captured")
    assert captured["by"] == "ana" and captured["values"]["PAN"] == 120 and captured["image_sha256"] == sha


async def test_held_fields_cannot_be_sent_elsewhere(clerks, browser):
    b = browser()
    status, page = await b.get("/login")
    for target in ("https://evil.example/x", "//evil.example", "/login", "/captura?x=1", "/a b"):
        status, page = await b.post("/login", {"usuario": "ana", "contrasena": PASSWORD,
                                               "retenido": '[["v_PAN","1"]]', "siguiente": target})
        assert status == 200 and "Su sesión había vencido" not in page  # a plain sign-in
        await b.post("/logout", {})
