"""A real Chromium on a real `catd-node web`: the coordinator's dashboard counts an acta that
received a second, different image, lists it with both images, and a click on «Conservar la
imagen del acta» decides it (issue 22)."""

from __future__ import annotations

from pathlib import Path

import pytest

from catd_node.web import passwords, users
from tests.browser.kit import PASSWORD, stop
from tests.web.conftest import digitize, packets_of, start_web

pytestmark = [pytest.mark.browser, pytest.mark.slow]
CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
KEY = "DIP-14-01-0126-C01"


@pytest.fixture
def web_two_images(node_dir, monkeypatch):
    monkeypatch.setattr(passwords, "PARAMS", passwords.Params(memory_kib=1024, iterations=1, lanes=1))
    users.add_user(node_dir, "coco", "coordinador", PASSWORD)
    first, other = digitize(node_dir, KEY, seed=3), digitize(node_dir, KEY, seed=4)
    proc, url = start_web(node_dir)
    try:
        yield url, first, other
    finally:
        stop(proc)


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium is not installed (make system-deps)")
async def test_the_coordinator_sees_and_decides_a_second_image(web_two_images, node_dir):
    from playwright.async_api import async_playwright

    url, first, other = web_two_images
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = await (await browser.new_context(viewport={"width": 1366, "height": 900})).new_page()
            await page.goto(f"{url}/login")
            await page.fill("#usuario", "coco")
            await page.fill("#contrasena", PASSWORD)
            await page.press("#contrasena", "Enter")
            await page.wait_for_selector("text=Hola, coco")
            await page.goto(f"{url}/tablero")
            row = page.locator("table.progress tr", has_text="Con otra imagen sin resolver")
            assert (await row.locator("td.num").inner_text()).strip() == "1"
            section = page.locator("#otra-imagen")
            assert KEY in await section.inner_text()
            assert await section.locator(f"a[href='/imagenes/{other}']").count() == 1
            assert await section.locator(f"a[href='/imagenes/{first}']").count() == 1
            # the image the coordinator compares is really served
            answer = await page.request.get(f"{url}/imagenes/{other}")
            assert answer.status == 200 and (await answer.body())[:2] == b"\xff\xd8"
            await section.get_by_role("button", name="Conservar la imagen del acta").click()
            await page.wait_for_selector("text=Se conservó la imagen del acta")
            assert await page.locator("#otra-imagen").count() == 0
            assert (await row.locator("td.num").inner_text()).strip() == "0"
        finally:
            await browser.close()
    [kept] = packets_of(node_dir, "acta.image_kept")
    assert (kept["acta"], kept["image_sha256"], kept["other_sha256"]) == (KEY, first, other)
