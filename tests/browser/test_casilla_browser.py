"""PREP Casilla in a real Chromium (Debian's, Playwright) on a phone viewport: the coordinator
makes an enrolment QR on a real `catd-node web`; the phone opens it, makes its key in the
browser and is enrolled; offline, it photographs three real acta images through the file
chooser; the page is closed and reopened offline (service worker); back online the queue goes
to HQ: HQ holds each photo once and the page shows each receipt and código de integridad."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from catd_node.web import passwords, users
from hq import store as hq_store
from simulacro import sheet as sheet_mod
from sync import client
from tests.browser.kit import PASSWORD, stop
from tests.casilla.casillakit import NODE_A, two_catd_election
from tests.hqkit import make_node, serve_hq, with_hq_urls

pytestmark = [pytest.mark.browser, pytest.mark.slow]
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]


def _web(node_root: Path) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([sys.executable, "-m", "catd_node.cli", "web", "-d", str(node_root),
                             "--host", "127.0.0.1", "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if m := re.search(r"(http://127\.0\.0\.1:\d+)/", line):
            return proc, m.group(1)
        if not line and proc.poll() is not None:
            break
    proc.kill()
    raise AssertionError("catd-node web did not start")


def _photos(tmp: Path, keys: list[str]) -> list[Path]:
    """Real acta sheets (the simulacro's renderer: printed form, QR, handwritten counts), as
    the phone's camera would hand them over (PNG, full size)."""
    out = []
    for i, key in enumerate(keys):
        typed = {"PAN": str(31 + i), "PRI": str(12 + i), "MORENA": str(45 + i), "NULOS": str(i)}
        sheet = sheet_mod.Sheet(key, "JEFATURA DE GOBIERNO", sheet_mod.rows_of(tuple(typed), typed))
        path = tmp / f"foto-{i}.png"
        path.write_bytes(sheet_mod.render(sheet))
        out.append(path)
    return out


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium is not installed (make system-deps)")
async def test_phone_enrols_queues_offline_and_delivers_each_photo_once(tmp_path, monkeypatch):
    from playwright.async_api import async_playwright, expect

    monkeypatch.setattr(passwords, "PARAMS", passwords.Params(memory_kib=1024, iterations=1, lanes=1))
    election, of_a, _ = two_catd_election(tmp_path)
    hq = hq_store.init(tmp_path / "hq", election, None)
    node = make_node(tmp_path / "a", hq, NODE_A, election)
    users.add_user(node, "coco", "coordinador", PASSWORD)
    actas = [of_a[0], of_a[1], of_a[0]]  # the third: a second photo of the first acta
    photos = _photos(tmp_path, actas)
    errors: list[str] = []
    ARTIFACTS.mkdir(exist_ok=True)
    async with serve_hq(hq) as hq_url:
        node = with_hq_urls(node, [hq_url])
        proc, node_url = _web(node.root)
        try:
            async with async_playwright() as pw:
                browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
                coord = await (await browser.new_context(locale="es-MX")).new_page()
                await coord.goto(f"{node_url}/login")
                await coord.fill("#usuario", "coco")
                await coord.fill("#contrasena", PASSWORD)
                await coord.press("#contrasena", "Enter")
                await coord.wait_for_selector("text=Hola, coco")
                await coord.goto(f"{node_url}/casilla")
                await coord.fill("#dispositivo", "cae-1")
                await coord.click("button.primary")
                assert await coord.locator(".qr svg").count() == 1
                link = await coord.get_attribute("#enlace-alta", "href")
                assert link and link.startswith(f"{hq_url}/casilla/#alta=")

                phone = await browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True,
                                                  has_touch=True, locale="es-MX")
                page = await phone.new_page()
                page.on("pageerror", lambda e: errors.append(str(e)))
                page.on("console", lambda m: m.type == "error" and errors.append(m.text))
                await page.goto(link)
                enrolled = "text=Teléfono cae-1 dado de alta en CATD-09-01"
                try:
                    await page.wait_for_selector(enrolled, timeout=10_000)
                except Exception:
                    raise AssertionError((errors, await page.inner_text("body"))) from None
                await page.wait_for_selector("body[data-listo='1']")
                await page.evaluate("navigator.serviceWorker.ready.then(() => true)")
                await coord.reload()
                assert "cae-1" in await coord.locator("table").inner_text()
                await client.once(node)  # the node's chain (device.added) reaches HQ

                await phone.set_offline(True)
                for i, (key, photo) in enumerate(zip(actas, photos, strict=True)):
                    await page.fill("#clave", key)
                    async with page.expect_file_chooser() as chooser:
                        await page.click("#foto")
                    await (await chooser.value).set_files(str(photo))
                    await expect(page.locator("#cola li")).to_have_count(i + 1)
                assert await page.locator("#cola li.pendiente").count() == 3
                # a key of another CATD is refused on the phone
                await page.fill("#clave", "090002B0100A01")
                await page.set_input_files("#foto", str(photos[0]))
                await page.wait_for_selector("text=no es de un acta de este CATD")
                await page.screenshot(path=str(ARTIFACTS / "casilla-pendiente.png"))
                await page.close()

                page = await phone.new_page()  # reopened, still offline: the service worker serves it
                page.on("pageerror", lambda e: errors.append(str(e)))
                await page.goto(f"{hq_url}/casilla/")
                await page.wait_for_selector("body[data-listo='1']")
                assert await page.locator("#cola li.pendiente").count() == 3
                await phone.set_offline(False)
                await expect(page.locator("#cola li.recibido")).to_have_count(3, timeout=20_000)
                codes = [c.strip() for c in await page.locator("#cola li .codigo").all_inner_texts()]
                await page.screenshot(path=str(ARTIFACTS / "casilla-recibido.png"))
                await browser.close()
        finally:
            stop(proc)
    assert errors == []
    conn = sqlite3.connect(hq.root / "casilla.db")
    rows = conn.execute("SELECT sha256, acta, device, flag FROM statements ORDER BY id").fetchall()
    conn.close()
    assert [(acta, device, flag) for _, acta, device, flag in rows] == [(a, "cae-1", None) for a in actas]
    shas = [sha for sha, *_ in rows]
    assert len(set(shas)) == 3 and [c.lower() for c in codes] == shas
    for sha in shas:
        data = hq.blobs().read(sha)
        assert len(data) <= 150 * 1024 and data[:4] == b"RIFF"  # reduced on the phone to WebP
    assert not list((hq.uploads_dir / "casilla").glob("*.partial"))
