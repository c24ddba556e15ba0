"""The public results site in a real Chromium (Debian's, driven by Playwright), served by a
real `catd-hq serve`: the front page and an acta page render with their charts and the acta's
image, on a phone and on a desktop, with no console error and no script at all. Screenshots
go to test-artifacts/."""

from __future__ import annotations

import io
from datetime import datetime
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

from hq.release import cut
from tests.hq import countkit as ck
from tests.hqkit import HQProcess

pytestmark = [pytest.mark.browser, pytest.mark.slow]
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]


def acta_image(key: str, values: dict[str, int]) -> bytes:
    img = Image.new("RGB", (850, 1100), "white")
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=30)
    draw.text((40, 30), f"ACTA {key}", fill="black", font=font)
    for i, (field, value) in enumerate(values.items()):
        draw.text((60, 120 + i * 60), f"{field}: {value}", fill=(20, 20, 140), font=font)
    out = io.BytesIO()
    img.save(out, "WEBP", quality=60)
    return out.getvalue()


@pytest.fixture
def site(tmp_path):
    hq, a, b = ck.hq_two_catd(tmp_path)
    for node, key, votes in ((a, ck.A1, {"PAN": 30, "PRI": 20, "MORENA": 25}), (b, ck.B1, {"MORENA": 61})):
        image = acta_image(key, votes)
        ck.acopio(node, key)
        digitized = ck.digitize(node, key, image=image)
        hq.blobs().put(image)     # the node's sync would upload it
        ck.report(node, key, ck.values(key, **votes), sha=digitized.body["image"]["sha256"])
    ck.sin_acta(b, ck.BS)
    ck.deliver(hq, a)
    ck.deliver(hq, b)
    cut.publish(hq, at=datetime(2024, 6, 2, 20, 0))
    proc = HQProcess(hq, tmp_path / "serve.log")
    url = proc.start(0)
    try:
        yield url
    finally:
        proc.stop()


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium is not installed (make system-deps)")
async def test_front_page_and_acta_page_render_without_console_errors(site):
    from playwright.async_api import async_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    errors: list[str] = []
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            for name, viewport in (("telefono", {"width": 390, "height": 844}),
                                   ("escritorio", {"width": 1366, "height": 900})):
                context = await browser.new_context(viewport=viewport, locale="es-MX",
                                                    java_script_enabled=name == "escritorio")
                page = await context.new_page()
                page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
                page.on("pageerror", lambda e: errors.append(str(e)))
                page.on("response", lambda r: r.status >= 400 and errors.append(f"{r.status} {r.url}"))
                response = await page.goto(f"{site}/")
                assert response is not None and response.status == 200
                assert await page.title() == "Resultados · PREP JEFATURA DE GOBIERNO (PRUEBA)"
                assert await page.locator("h1").inner_text() == "Resultados preliminares"
                assert await page.locator("svg.grafica").count() == 2
                assert await page.locator("script").count() == 0
                assert "02/06/2024 20:00 (UTC-6)" in await page.locator(".corte").inner_text()
                await page.screenshot(path=ARTIFACTS / f"sitio-1-portada-{name}.png", full_page=True)
                await page.click("text=Por distrito")
                await page.click("text=Distrito 01")
                await page.click(f"text={ck.A1}")
                await page.wait_for_selector(f".clave:has-text('Acta {ck.A1}')")
                assert await page.locator("h1").inner_text() == "Sección 0001 · Básica 01 · Distrito 01"
                await page.wait_for_function("document.querySelector('.imagen img').naturalWidth > 0")
                code = await page.locator(".imagen code").inner_text()
                assert len(code) == 64
                assert "Contabilizada" in await page.locator(".estado").inner_text()
                await page.screenshot(path=ARTIFACTS / f"sitio-2-acta-{name}.png", full_page=True)
                await context.close()
        finally:
            await browser.close()
    assert errors == []
