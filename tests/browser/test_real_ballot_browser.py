"""A real Chromium against a real `catd-node web` on a second-form catalog: a capturista types a
30-field acta from its image with the keyboard only (the combination not on its ballot is not
offered: it publishes as `-`), a verificador agrees blind, and the coordinator registers another
expected acta as sin acta and undoes it. Screenshots go to test-artifacts/."""

from __future__ import annotations

import io
import json
import random
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from catd_node import store
from catd_node.web import passwords, users
from simulacro import specimen
from tests import catalog_v2
from tests.browser.kit import PASSWORD, sign_in, stop
from tests.catalog_v2 import NOT_ON_THIRTY, SHORT, THIRTY

pytestmark = [pytest.mark.browser, pytest.mark.slow]
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]


def bodies(root: Path, kind: str) -> list[dict]:
    conn = store.connect(root / "catd.db")
    try:
        rows = conn.execute("SELECT canonical FROM packets WHERE kind = ? ORDER BY seq", (kind,))
        return [json.loads(bytes(data))["body"] for (data,) in rows]
    finally:
        conn.close()


@pytest.fixture
def web_process(node_v2_dir, monkeypatch):
    monkeypatch.setattr(passwords, "PARAMS", passwords.Params(memory_kib=1024, iterations=1, lanes=1))
    for name, role in (("ana", "capturista"), ("beto", "verificador"), ("coco", "coordinador")):
        users.add_user(node_v2_dir, name, role, PASSWORD)
    election = node_v2_dir.election
    ballot = election.ballot(THIRTY)
    values = specimen.random_values(election.contest_of(THIRTY), 600, random.Random(30), ballot=ballot)
    page = specimen.render(THIRTY, values, seed=30, contest=election.contest_of(THIRTY), ballot=ballot,
                           election_name=election.name).resize((1275, 1650))
    out = io.BytesIO()
    page.save(out, "JPEG", quality=85)
    data = out.getvalue()
    sha = node_v2_dir.blobs().put(data)
    ledger = node_v2_dir.ledger()
    try:
        ledger.append("acta.digitized", {
            "image": {"sha256": sha, "bytes": len(data), "format": "jpeg", "width": 1275, "height": 1650,
                      "dpi": 150},
            "original": {"sha256": sha, "bytes": len(data), "name": f"{THIRTY}.jpg"},
            "source": {"kind": "scanner", "id": "scanner-1"}, "acta": THIRTY, "identified_by": "qr",
            "page": 1, "origen": "CATD", "digitalizacion": "ESCANER"})
    finally:
        ledger.close()
    proc = subprocess.Popen([sys.executable, "-m", "catd_node.cli", "web", "-d", str(node_v2_dir.root),
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
        yield url, node_v2_dir.root, {f: str(v) for f, v in values.items()}
    finally:
        stop(proc)


async def type_ballot(page, fields: list[str], values: dict[str, str]) -> None:
    """Keyboard only, in the order the form offers: Enter moves on, and saves on the last field."""
    for field in fields:
        assert await page.evaluate("document.activeElement.id") == f"v_{field}"
        await page.keyboard.type(values[field])
        await page.keyboard.press("Enter")


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium is not installed (make system-deps)")
async def test_a_30_field_ballot_by_keyboard_and_a_sin_acta(web_process):
    from playwright.async_api import async_playwright

    url, root, values = web_process
    fields = [f for f in catalog_v2.VOTES if f != NOT_ON_THIRTY] + list(catalog_v2.CONTROLS)
    assert len(fields) == 35 and set(values) == set(fields)
    ARTIFACTS.mkdir(exist_ok=True)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            ana = await sign_in(browser, url, "ana")
            await ana.keyboard.press("Alt+2")
            await ana.wait_for_selector(f"text=Captura: {THIRTY}")
            await ana.wait_for_function("document.getElementById('acta-img').naturalWidth > 0")
            offered = await ana.eval_on_selector_all("input.value", "els => els.map(e => e.id.slice(2))")
            assert offered == fields                         # its ballot, in ballot order, controls last
            assert await ana.locator(f"#v_{NOT_ON_THIRTY}").count() == 0   # not on this ballot: `-`
            # named as the acta prints it: `MC – PANAL`, not the field code
            assert "MC – PANAL" in await ana.inner_text("#not-on-ballot") and NOT_ON_THIRTY == "MC_PANAL"
            groups = await ana.eval_on_selector_all("th.group", "els => els.map(e => e.textContent)")
            assert groups == ["Partidos políticos", "Combinaciones de coalición",
                              "Candidaturas independientes, no registradas y votos nulos",
                              "Controles (no deciden la clasificación)"]
            await ana.screenshot(path=ARTIFACTS / "ballot-1-captura-30-campos.png", full_page=True)
            started = time.monotonic()
            await type_ballot(ana, fields, values)
            await ana.wait_for_selector(f"text=Acta {THIRTY} capturada")
            typing_s = time.monotonic() - started
            assert typing_s < 20, f"35 fields took {typing_s:.1f} s to type and save"
            [captured] = bodies(root, "acta.captured")
            assert set(captured["values"]) == set(fields) and NOT_ON_THIRTY not in captured["values"]

            beto = await sign_in(browser, url, "beto")
            await beto.goto(f"{url}/verificacion")
            await beto.wait_for_selector(f"text=Verificación: {THIRTY}")
            await type_ballot(beto, fields, values)
            await beto.wait_for_selector(f"text=Acta {THIRTY} verificada: Contabilizada")

            coco = await sign_in(browser, url, "coco")
            await coco.goto(f"{url}/coordinacion/sin-acta")
            await coco.fill("#clave", SHORT)
            await coco.select_option("#motivo", "paquete_no_entregado")
            await coco.click("text=Registrar sin acta")
            await coco.wait_for_selector(f"text=Acta {SHORT} registrada como sin acta (paquete no entregado)")
            row = coco.locator("#sin-actas tr", has_text=SHORT)
            assert "Paquete no entregado" in await row.inner_text()
            await coco.screenshot(path=ARTIFACTS / "ballot-2-sin-acta.png", full_page=True)
            await coco.goto(f"{url}/tablero")
            assert "Paquete no entregado" in await coco.locator("#sin-acta").inner_text()
            await coco.goto(f"{url}/coordinacion/sin-acta")
            await coco.locator("#sin-actas tr", has_text=SHORT).locator("button").click()
            await coco.wait_for_selector(f"text=Registro sin acta de {SHORT} deshecho")
            [registered] = bodies(root, "acta.sin_acta")
            [undone] = bodies(root, "acta.sin_acta_undone")
            assert registered == {"acta": SHORT, "reason": "paquete_no_entregado", "by": "coco"}
            assert undone["acta"] == SHORT and undone["by"] == "coco"
        finally:
            await browser.close()
