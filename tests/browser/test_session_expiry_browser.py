"""A real Chromium against a real `catd-node web`: the session dies while ana is typing an acta;
she signs in again and sends what she typed with one click (issue 14). Screenshots go to
test-artifacts/."""

from __future__ import annotations

import sqlite3

import pytest

from tests.browser.test_web_browser import (  # noqa: F401  (web_process is a fixture)
    ARGS,
    ARTIFACTS,
    CHROMIUM,
    KEY,
    PASSWORD,
    VALUES,
    sign_in,
    web_process,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium is not installed (make system-deps)")
async def test_a_capture_typed_across_an_expired_session_is_not_lost(web_process, node_dir):  # noqa: F811
    from playwright.async_api import async_playwright

    url = web_process
    ARTIFACTS.mkdir(exist_ok=True)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            ana = await sign_in(browser, url, "ana")
            await ana.goto(f"{url}/captura")
            await ana.wait_for_selector(f"text=Captura: {KEY}")
            values = list(VALUES.values())
            for value in values[:-1]:
                await ana.keyboard.type(value)
                await ana.keyboard.press("Enter")
            await ana.keyboard.type(values[-1])
            conn = sqlite3.connect(node_dir.db_path)  # the session ends under her (idle, revoked…)
            conn.execute("UPDATE web_sessions SET revoked = 1")
            conn.commit()
            conn.close()
            await ana.keyboard.press("Enter")
            await ana.wait_for_selector("text=lo que escribió se conservó")
            await ana.screenshot(path=ARTIFACTS / "web-6-sesion-vencida.png")
            await ana.fill("#usuario", "ana")
            await ana.fill("#contrasena", PASSWORD)
            await ana.press("#contrasena", "Enter")
            await ana.wait_for_selector("text=Su sesión había vencido")
            table = await ana.locator("table.fields").inner_text()
            assert "PAN\t101" in table and "MORENA\t160" in table, table
            await ana.screenshot(path=ARTIFACTS / "web-7-reenviar.png")
            await ana.keyboard.press("Enter")  # the Enviar button has the focus
            await ana.wait_for_selector(f"text=Acta {KEY} capturada")
        finally:
            await browser.close()
    conn = sqlite3.connect(node_dir.db_path)
    try:
        rows = conn.execute("SELECT COUNT(*) FROM packets WHERE kind = 'acta.captured'").fetchone()
    finally:
        conn.close()
    assert rows[0] == 1
