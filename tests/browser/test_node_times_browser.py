"""Every time on the node's screens in the election's official zone and the publication's
format, `DD/MM/AAAA HH:MM (UTC-7)`, never the stored `…Z` (issue 22): a real `catd-node web`
process on a second-form election of zone UTC-7, driven by a real Chromium through acopio,
sin acta, the dashboard and the assignment of an unidentified image."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from catd_node import datadir, store
from catd_node.web import passwords, users
from tests import catalog_v2
from tests.browser.kit import PASSWORD, sign_in, stop
from tests.web.conftest import digitize, start_web

pytestmark = [pytest.mark.browser, pytest.mark.slow]
CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d")


def official(at: str) -> str:
    """What the screen must show for a packet time `at`, worked out here on its own."""
    moment = datetime.strptime(at[:19], "%Y-%m-%dT%H:%M:%S") - timedelta(hours=7)
    return moment.strftime("%d/%m/%Y %H:%M") + " (UTC-7)"


def packet_at(node: datadir.DataDir, kind: str, acta: str | None = None) -> str:
    conn = store.connect(node.db_path)
    try:
        for canonical, in conn.execute("SELECT canonical FROM packets WHERE kind = ? ORDER BY seq", (kind,)):
            doc = json.loads(bytes(canonical))
            if acta is None or doc["body"].get("acta") == acta:
                return str(doc["at"])
    finally:
        conn.close()
    raise AssertionError(f"no {kind} packet for {acta}")


@pytest.fixture
def web_utc7(tmp_path, monkeypatch):
    monkeypatch.setattr(passwords, "PARAMS", passwords.Params(memory_kib=1024, iterations=1, lanes=1))
    doc = catalog_v2.build()
    doc["timezone"] = "UTC-7"
    election = tmp_path / "election.json"
    election.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    node = datadir.init(tmp_path / "catd", catalog_v2.OWN, election)
    for name, role in (("ana", "capturista"), ("coco", "coordinador")):
        users.add_user(node, name, role, PASSWORD)
    digitize(node, None, seed=5)   # an image no key was read from: the assignment screen shows it
    proc, url = start_web(node)
    try:
        yield node, url
    finally:
        stop(proc)


async def shown(page) -> str:
    text = await page.inner_text("main")
    assert not ISO.search(text), f"{page.url}: a stored time shown as is: {ISO.search(text)}"
    return str(text)


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium is not installed (make system-deps)")
async def test_node_screens_show_times_in_the_elections_official_zone(web_utc7):
    from playwright.async_api import async_playwright

    node, url = web_utc7
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            coco = await sign_in(browser, url, "coco")
            for key in (catalog_v2.THIRTY, catalog_v2.FOREIGN):   # FOREIGN: another CATD's acta
                await coco.goto(f"{url}/acopio")
                await coco.fill("#clave", key)
                await coco.press("#clave", "Enter")
                await coco.wait_for_selector(f"td:text-is('{key}')")
            text = await shown(coco)
            received = official(packet_at(node, "acta.acopio", catalog_v2.THIRTY))
            assert received in text, text

            await coco.goto(f"{url}/coordinacion/sin-acta")
            await coco.fill("#clave", catalog_v2.SHORT)
            await coco.select_option("#motivo", "casilla_no_instalada")
            await coco.click("button[type=submit].primary")
            await coco.wait_for_selector(f"#sin-actas td:text-is('{catalog_v2.SHORT}')")
            assert official(packet_at(node, "acta.sin_acta", catalog_v2.SHORT)) in await shown(coco)

            await coco.goto(f"{url}/tablero")
            text = await shown(coco)
            assert official(packet_at(node, "acta.acopio", catalog_v2.FOREIGN)) in text, text
            assert "Último acuse: nunca" in text   # no receipt yet: no time, not an empty cell

            await coco.goto(f"{url}/dispositivos")
            await coco.fill("#dispositivo", "telefono-1")
            await coco.click("button[type=submit].primary")
            await coco.wait_for_selector("code.token")
            text = await shown(coco)
            assert re.search(r"telefono-1\s+coco\s+\d\d/\d\d/\d{4} \d\d:\d\d \(UTC-7\)", text), text

            ana = await sign_in(browser, url, "ana")
            await ana.goto(f"{url}/captura")
            text = await shown(ana)
            assert official(packet_at(node, "acta.digitized")) in text, text
        finally:
            await browser.close()


def test_the_time_filter_of_the_node_pages():
    """The one helper behind `| hora`: the election's zone, the publication's format."""
    from catd_node import catalog
    from catd_node.web.app import official_time, templates
    from tests.conftest import ELECTION

    first_form = catalog.load(ELECTION)          # no zone in the file: CDMX's UTC-6
    assert official_time("2026-06-07T01:05:30.123Z", first_form) == "06/06/2026 19:05 (UTC-6)"
    assert official_time("2026-06-07T01:05:30Z") == "06/06/2026 19:05 (UTC-6)"
    assert official_time(None) == "" and official_time("") == ""
    assert official_time("no es una hora") == "no es una hora"   # shown as is, never hidden
    doc = catalog_v2.build()
    doc["timezone"] = "UTC-5"
    quintana_roo = catalog.parse(doc)
    env = templates(quintana_roo)
    rendered = env.from_string("{{ at | hora }}").render(at="2026-06-02T23:59:00.000Z")
    assert rendered == "02/06/2026 18:59 (UTC-5)"
