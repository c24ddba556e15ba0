"""A real Chromium (Debian's, driven by Playwright) against a real `catd-node web` process:
a capturista captures an acta from its image, a verificador verifies it blind, the
coordinator's dashboard shows it verified. Screenshots go to test-artifacts/."""

from __future__ import annotations

import io
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

from catd_node.web import passwords, users
from tests.browser.kit import PASSWORD, sign_in, stop

pytestmark = [pytest.mark.browser, pytest.mark.slow]
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
KEY = "DIP-14-01-0125-B01"
VALUES = {"PAN": "101", "PRI": "87", "PRD": "12", "PVEM": "9", "PT": "6", "MC": "44", "MORENA": "160",
          "CNR": "1", "NULOS": "11", "TOTAL_ASENTADO": "431", "PERSONAS_VOTARON": "431",
          "REPRESENTANTES_VOTARON": "3", "BOLETAS_SOBRANTES": "299"}


def acta_image() -> bytes:
    """A legible acta-like sheet with the counts written on it."""
    img = Image.new("RGB", (850, 1100), "white")
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=30)
    draw.text((40, 30), "ACTA DE ESCRUTINIO Y COMPUTO", fill="black", font=font)
    draw.text((40, 75), f"{KEY}  ·  DIPUTACIONES", fill="black", font=font)
    for i, (field, value) in enumerate(VALUES.items()):
        y = 150 + i * 66
        draw.rectangle((40, y, 810, y + 56), outline="black", width=2)
        draw.text((60, y + 12), field, fill="black", font=font)
        draw.text((640, y + 12), value, fill=(20, 20, 140), font=font)
    out = io.BytesIO()
    img.save(out, "JPEG", quality=80)
    return out.getvalue()


@pytest.fixture
def web_process(node_dir, monkeypatch):
    monkeypatch.setattr(passwords, "PARAMS", passwords.Params(memory_kib=1024, iterations=1, lanes=1))
    for name, role in (("ana", "capturista"), ("beto", "verificador"), ("coco", "coordinador")):
        users.add_user(node_dir, name, role, PASSWORD)
    data = acta_image()
    sha = node_dir.blobs().put(data)
    ledger = node_dir.ledger()
    try:
        ledger.append("acta.digitized", {
            "image": {"sha256": sha, "bytes": len(data), "format": "jpeg", "width": 850, "height": 1100,
                      "dpi": 200},
            "original": {"sha256": sha, "bytes": len(data), "name": f"{KEY}.jpg"},
            "source": {"kind": "scanner", "id": "scanner-1"}, "acta": KEY, "identified_by": "filename"})
    finally:
        ledger.close()
    proc = subprocess.Popen([sys.executable, "-m", "catd_node.cli", "web", "-d", str(node_dir.root),
                             "--host", "127.0.0.1", "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    url = None
    deadline = time.monotonic() + 30
    while url is None and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if m := re.search(r"(http://127\.0\.0\.1:\d+)/", line):
            url = m.group(1)
        elif not line and proc.poll() is not None:
            break
    try:
        assert url, "catd-node web did not start"
        yield url
    finally:
        stop(proc)


async def type_values(page) -> None:
    """Keyboard only: the first field has focus; Enter moves on, and submits on the last field."""
    for value in VALUES.values():
        await page.keyboard.type(value)
        await page.keyboard.press("Enter")


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium is not installed (make system-deps)")
async def test_capture_verify_and_dashboard_in_a_real_browser(web_process):
    from playwright.async_api import async_playwright

    url = web_process
    ARTIFACTS.mkdir(exist_ok=True)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            ana = await sign_in(browser, url, "ana")
            await ana.screenshot(path=ARTIFACTS / "web-1-inicio.png")
            await ana.keyboard.press("Alt+2")  # accesskey: Captura
            await ana.wait_for_selector(f"text=Captura: {KEY}")
            await ana.wait_for_function("document.getElementById('acta-img').naturalWidth > 0")
            await ana.screenshot(path=ARTIFACTS / "web-2-captura.png")
            await type_values(ana)
            await ana.wait_for_selector(f"text=Acta {KEY} capturada")
            await ana.screenshot(path=ARTIFACTS / "web-3-capturada.png")

            beto = await sign_in(browser, url, "beto")
            await beto.goto(f"{url}/verificacion")
            await beto.wait_for_selector(f"text=Verificación: {KEY}")
            assert await beto.input_value("#v_PAN") == ""  # blind second entry
            await beto.click("[data-act=rotate]")
            await beto.click("[data-act=rotate]")
            await beto.click("[data-act=rotate]")
            await beto.click("[data-act=rotate]")
            await beto.focus("#v_PAN")
            await type_values(beto)
            await beto.wait_for_selector(f"text=Acta {KEY} verificada: Contabilizada")
            await beto.screenshot(path=ARTIFACTS / "web-4-verificada.png")

            coco = await sign_in(browser, url, "coco")
            await coco.goto(f"{url}/tablero")
            row = coco.locator("tr", has_text=KEY)
            assert "verificada" in await row.inner_text()
            assert "Contabilizada" in await row.inner_text()
            services = coco.locator("h2", has_text="Servicios:")
            assert "escaneo, web, sincronización — reinicios" in await services.inner_text()
            assert await coco.locator("text=sin supervisor").count() == 1  # a bare `catd-node web`
            await coco.screenshot(path=ARTIFACTS / "web-5-tablero.png", full_page=True)
        finally:
            await browser.close()


async def type_these(page, values: dict[str, str]) -> None:
    """Keyboard only, from the focused field: clear, type, Enter (the last Enter submits)."""
    for value in values.values():
        await page.keyboard.press("Control+A")
        if value:
            await page.keyboard.type(value)
        else:
            await page.keyboard.press("Delete")
        await page.keyboard.press("Enter")


FOCUSED = "[document.activeElement.id, document.activeElement.getAttribute('aria-invalid')]"


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium is not installed (make system-deps)")
async def test_after_each_kind_of_typo_the_focus_is_on_the_first_invalid_field(web_process):
    """Blank, not a number, out of range, negative: after each the clerk's keyboard is on the
    first wrong field, marked aria-invalid, under a summary linking to it; then an implausible
    value is asked about and confirmed with the keyboard alone."""
    from playwright.async_api import async_playwright

    url = web_process
    ARTIFACTS.mkdir(exist_ok=True)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            ana = await sign_in(browser, url, "ana")
            await ana.goto(f"{url}/captura")
            await ana.wait_for_selector(f"text=Captura: {KEY}")
            assert await ana.evaluate("document.activeElement.id") == "v_PAN"
            cases = [({"PAN": ""}, "v_PAN", "PAN"),                         # the first field itself
                     ({"PRD": "doce", "MC": ""}, "v_PRD", "PRD, MC"),       # not a number, then blank
                     ({"MORENA": "100000"}, "v_MORENA", "MORENA"),          # out of range
                     ({"NULOS": "-3", "TOTAL_ASENTADO": "4 31"}, "v_NULOS",
                      "VOTOS NULOS, TOTAL DE VOTOS ASENTADO EN EL ACTA")]
            for n, (wrong, first, named) in enumerate(cases):
                await ana.focus("#v_PAN")
                await type_these(ana, {**VALUES, **wrong})
                await ana.wait_for_selector("#resumen")
                assert await ana.evaluate(FOCUSED) == [first, "true"], wrong
                summary = await ana.inner_text("#resumen")
                count = len(wrong)
                assert f"{count} {'campo por corregir' if count == 1 else 'campos por corregir'}: {named}." \
                    in summary, summary
                await ana.screenshot(path=ARTIFACTS / f"web-typo-{n}.png")
            # corrected from where the focus is, then a value that cannot be: asked, not refused
            await ana.focus("#v_PAN")
            await type_these(ana, {**VALUES, "MORENA": "1600", "TOTAL_ASENTADO": "1871"})
            await ana.wait_for_selector("text=Revise antes de guardar")
            assert await ana.evaluate("document.activeElement.id") == "v_MORENA"
            await ana.screenshot(path=ARTIFACTS / "web-confirmar.png")
            # keyboard only: Tab to the confirmation, Space, Tab to the button, Enter
            for _ in range(100):
                await ana.keyboard.press("Tab")
                if await ana.evaluate("document.activeElement.id") == "confirmar":
                    break
            assert await ana.evaluate("document.activeElement.id") == "confirmar"
            await ana.keyboard.press("Space")
            await ana.keyboard.press("Tab")
            await ana.keyboard.press("Enter")
            await ana.wait_for_selector(f"text=Acta {KEY} capturada")
        finally:
            await browser.close()
