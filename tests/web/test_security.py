"""Hostile input and stolen or forged requests: each test can fail if a defence is missing."""

from __future__ import annotations

import sqlite3

from yarl import URL

from catd_node import store
from catd_node.web import sessions, throttle
from tests.web.conftest import GOOD, PASSWORD, digitize, hidden, packets_of, values_form

KEY = "DIP-14-01-0123-B01"
XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'


async def test_xss_in_user_names_keys_and_fields_comes_back_escaped(clerks, signed_in, browser):
    coco = await signed_in("coco")
    status, page = await coco.post("/usuarios", {"nombre": XSS, "rol": "capturista",
                                                 "contrasena": "una-clave-larga"})
    assert status == 200 and XSS not in page and "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page
    status, page = await coco.post("/acopio", {"clave": XSS})  # refused as no acta key, named escaped
    assert status == 400 and XSS not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    assert not packets_of(clerks, "acta.acopio")
    ledger = clerks.ledger()  # a key recorded by an older node: pages still escape it
    try:
        ledger.append("acta.acopio", {"acta": XSS, "by": "ana", "in_catalog": False})
    finally:
        ledger.close()
    sha = digitize(clerks, KEY, seed=20)
    ana = await signed_in("ana")
    status, page = await ana.post("/captura", {"acta": KEY, "imagen": sha,
                                                **values_form({**GOOD, "PAN": '"><script>x</script>'})})
    assert status == 422 and "<script>x</script>" not in page and "&lt;script&gt;x" in page
    status, page = await coco.get("/tablero")
    assert XSS not in page and "&lt;script&gt;" in page
    # the hostile name can sign in; it is escaped in the page header too
    evil = browser()
    status, page = await evil.post("/login", {"usuario": XSS, "contrasena": "una-clave-larga"})
    assert status == 200 and XSS not in page and "&lt;script&gt;" in page


async def test_sql_injection_strings_are_stored_as_text(clerks, signed_in):
    coco = await signed_in("coco")
    nasty = "x'); DROP TABLE packets; --"
    status, _ = await coco.post("/usuarios", {"nombre": nasty, "rol": "capturista",
                                              "contrasena": "una-clave-larga"})
    assert status == 200
    ana = await signed_in("ana")
    status, page = await ana.post("/acopio", {"clave": nasty})  # no acta key: refused, named
    assert status == 400 and "no es una clave de acta" in page
    conn = store.connect(clerks.db_path)
    try:
        assert conn.execute("SELECT COUNT(*) FROM packets").fetchone()[0] >= 2
        assert conn.execute("SELECT name FROM web_users WHERE name = ?", (nasty,)).fetchone()
    finally:
        conn.close()
    intruder = await signed_in("coco")
    status, _ = await intruder.post("/logout", {})
    status, _page = await intruder.login("' OR '1'='1", "' OR '1'='1")
    assert status == 401 and intruder.cookie() is None


async def test_state_changes_without_or_with_foreign_origin_are_refused(clerks, signed_in):
    ana = await signed_in("ana")
    for headers in ({}, {"Origin": "http://evil.example"}, {"Sec-Fetch-Site": "cross-site"},
                    {"Sec-Fetch-Site": "same-site"}, {"Origin": "null"}):
        status, page = await ana.post("/acopio", {"clave": KEY}, headers=headers)
        assert status == 403, headers
    _, page = await ana.get("/acopio")
    token = hidden(page, "csrf")
    status, _ = await ana.post("/acopio", {"clave": KEY, "csrf": token},
                               headers={"Sec-Fetch-Site": "cross-site"})
    assert status == 403  # a token does not override a cross-site fetch
    assert not packets_of(clerks, "acta.acopio")
    status, _ = await ana.post("/acopio", {"clave": KEY, "csrf": "0" * 40}, headers={})
    assert status == 403 and not packets_of(clerks, "acta.acopio")
    # an old browser sends neither header: the form token bound to its session lets it through
    status, _ = await ana.post("/acopio", {"clave": KEY, "csrf": token}, headers={})
    assert status == 200 and len(packets_of(clerks, "acta.acopio")) == 1
    host = ana.base.split("//", 1)[1]
    status, _ = await ana.post("/acopio", {"clave": "DIP-14-01-0124-B01"}, headers={"Origin": f"http://{host}"})
    assert status == 200 and len(packets_of(clerks, "acta.acopio")) == 2


async def test_a_forged_login_from_another_site_is_refused(clerks, browser):
    b = browser()
    status, _ = await b.post("/login", {"usuario": "ana", "contrasena": PASSWORD},
                             headers={"Origin": "http://evil.example"})
    assert status == 403 and b.cookie() is None
    status, _ = await b.post("/login", {"usuario": "ana", "contrasena": PASSWORD}, headers={})
    assert status == 403 and b.cookie() is None


async def test_session_fixation_a_cookie_set_before_login_is_not_honoured(clerks, browser, server):
    b = browser()
    planted = "fixed-by-attacker-0123456789abcdefghijklmnopq"
    b.session.cookie_jar.update_cookies({"catd_session": planted}, server.make_url("/"))
    status, _ = await b.login("ana")
    assert status == 200
    assert b.cookie() not in (None, planted)
    attacker = browser()
    attacker.session.cookie_jar.update_cookies({"catd_session": planted}, server.make_url("/"))
    status, page = await attacker.get("/acopio")
    assert "Entrar" in page and "Acopio</h1>" not in page
    # signing in again rotates the token and revokes the previous one
    old = b.cookie()
    await b.login("ana")
    assert b.cookie() != old
    stale = browser()
    stale.session.cookie_jar.update_cookies({"catd_session": old}, server.make_url("/"))
    _, page = await stale.get("/acopio")
    assert "Acopio</h1>" not in page


async def test_logout_revokes_the_session_everywhere(clerks, signed_in, browser, server):
    ana = await signed_in("ana")
    copied = ana.cookie()
    _, page = await ana.get("/acopio")
    assert "Acopio</h1>" in page
    status, _ = await ana.post("/logout", {})
    thief = browser()
    thief.session.cookie_jar.update_cookies({"catd_session": copied}, server.make_url("/"))
    status, page = await thief.get("/acopio")
    assert "Acopio</h1>" not in page and "Entrar" in page
    status, page = await thief.post("/acopio", {"clave": KEY})  # the login page, form held, nothing done
    assert status == 401 and "Entrar" in page and not packets_of(clerks, "acta.acopio")
    conn = store.connect(clerks.db_path)
    try:
        stored = [r[0] for r in conn.execute("SELECT token_sha256 FROM web_sessions")]
    finally:
        conn.close()
    assert copied not in stored and sessions.digest(copied) in stored  # only the hash is kept


async def test_sessions_expire_when_idle_and_after_twelve_hours(clerks, signed_in, clock):
    ana = await signed_in("ana")
    clock.advance(sessions.IDLE_S + 1)
    _, page = await ana.get("/acopio")
    assert "Acopio</h1>" not in page
    ana = await signed_in("ana")
    for _ in range(int(sessions.ABSOLUTE_S // (20 * 60))):
        clock.advance(20 * 60)
        _, page = await ana.get("/acopio")
        assert "Acopio</h1>" in page
    clock.advance(20 * 60)
    _, page = await ana.get("/acopio")
    assert "Acopio</h1>" not in page


async def test_brute_force_meets_growing_delays_not_a_lockout(clerks, browser, clock):
    b = browser()
    status, wrong_page = await b.login("ana", "nope-nope")
    assert status == 401
    for _ in range(4):
        status, _ = await b.login("ana", "nope-nope")
        assert status == 401
    # five failures: the right password now has to wait one second
    status, page = await b.login("ana")
    assert status == 429 and b.cookie() is None
    _, unknown_page = await browser().login("nadie", "x")
    generic = "Usuario o contraseña incorrectos, o demasiados intentos."
    assert generic in page and generic in wrong_page and generic in unknown_page
    delays = []
    for _ in range(6):
        clock.advance(throttle.MAX_DELAY_S)
        status, _ = await b.login("ana", "nope-nope")
        assert status == 401
        conn = sqlite3.connect(clerks.db_path)
        try:
            delays.append(round(throttle.wait_left(conn, throttle.account_key("ana"), clock())))
        finally:
            conn.close()
    assert delays == [2, 4, 8, 16, 32, 60]
    clock.advance(30)
    status, _ = await b.login("ana")
    assert status == 429 and b.cookie() is None  # still waiting
    clock.advance(30.5)
    status, _ = await b.login("ana")
    assert status == 200 and b.cookie()  # the right password works once the delay is over


async def test_one_address_guessing_many_accounts_is_slowed(clerks, browser, clock):
    b = browser()
    statuses = []
    for i in range(int(throttle.IP_CAPACITY) + 3):
        status, _ = await b.login(f"user{i}", "guess")
        statuses.append(status)
    assert statuses[: int(throttle.IP_CAPACITY)] == [401] * int(throttle.IP_CAPACITY)
    assert statuses[-1] == 429
    clock.advance(60)
    status, _ = await b.login("beto")
    assert status == 200


async def test_image_urls_refuse_path_traversal(clerks, signed_in):
    sha = digitize(clerks, KEY, seed=21)
    ana = await signed_in("ana")
    async with ana.session.get(f"{ana.base}/imagenes/{sha}") as r:
        assert r.status == 200 and r.headers["Content-Type"] == "image/jpeg"
        assert "immutable" in r.headers["Cache-Control"] and r.headers["ETag"] == f'"{sha}"'
        assert await r.read() == clerks.blobs().read(sha)
    async with ana.session.get(f"{ana.base}/imagenes/{sha}", headers={"If-None-Match": f'"{sha}"'}) as r:
        assert r.status == 304
    for evil in ("..%2F..%2Fcatd.toml", "..%2Fnode.key", "%2e%2e%2fnode.key", "../../node.key",
                 "%2e%2e/%2e%2e/catd.toml", sha.upper(), sha[:-1] + "g", sha[:2] + "%2F" + sha,
                 "..%5C..%5Cnode.key", "a" * 65, "%00" + sha):
        # sent as raw bytes on the wire: the client must not normalise the path for us
        async with ana.session.get(URL(f"{ana.base}/imagenes/{evil}", encoded=True)) as r:
            body = await r.read()
            assert r.status in (400, 404), evil
            assert b"PRIVATE KEY" not in body and b"node_id" not in body
    anonymous = ana.session.__class__()
    try:
        async with anonymous.get(f"{ana.base}/imagenes/{sha}", allow_redirects=False) as r:
            assert r.status == 303  # images only for signed-in clerks
    finally:
        await anonymous.close()


async def test_security_headers_and_cookie_flags(clerks, browser):
    b = browser()
    async with b.session.post(f"{b.base}/login", data={"usuario": "ana", "contrasena": PASSWORD},
                              headers={"Sec-Fetch-Site": "same-origin"}, allow_redirects=False) as r:
        cookie = r.headers.getall("Set-Cookie")
        assert r.status == 303
    session_cookie = next(c for c in cookie if c.startswith("catd_session="))
    assert "HttpOnly" in session_cookie and "SameSite=Strict" in session_cookie
    token = session_cookie.split("=", 1)[1].split(";", 1)[0]
    assert len(token) >= 43
    async with b.session.get(f"{b.base}/acopio") as r:
        assert "default-src 'self'" in r.headers["Content-Security-Policy"]
        assert r.headers["X-Frame-Options"] == "DENY" and r.headers["Cache-Control"] == "no-store"
