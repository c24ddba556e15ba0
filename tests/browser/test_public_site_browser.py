"""The public site as a voter reads it, in a real Chromium (Debian's, Playwright), served by a
real `catd-hq serve`, on a cut of the real CDMX 2024 Jefatura file with its candidacies file
(tests/sitekit.py): the candidates by name on the front page and in the cut's CSV, first on a
phone's first screen, and no chart text outside its SVG's viewBox. Screenshots go to
test-artifacts/."""

from __future__ import annotations

import io
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import sitekit
from tests.hqkit import HQProcess

pytestmark = [pytest.mark.browser, pytest.mark.slow,
              pytest.mark.skipif(not sitekit.CDMX.is_dir(), reason=f"{sitekit.CDMX} (domain data) is absent")]
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1366, "height": 900}
# Every <text> of every chart against its <svg>'s viewBox, in the chart's own units.
OUTSIDE = """() => {
  const out = [];
  for (const svg of document.querySelectorAll('svg.grafica')) {
    const vb = svg.viewBox.baseVal;
    for (const t of svg.querySelectorAll('text')) {
      const b = t.getBBox();
      if (b.x < vb.x - 0.5 || b.y < vb.y - 0.5 || b.x + b.width > vb.x + vb.width + 0.5
          || b.y + b.height > vb.y + vb.height + 0.5) {
        out.push(`${t.textContent}: ${b.x.toFixed(1)},${b.y.toFixed(1)}`
                 + ` ${b.width.toFixed(1)}x${b.height.toFixed(1)} in ${vb.width}x${vb.height}`);
      }
    }
  }
  return out;
}"""


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> sitekit.Published:
    return sitekit.build(tmp_path_factory.mktemp("cdmx-site"))


@pytest.fixture(scope="module")
def url(published: sitekit.Published, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    proc = HQProcess(published.hq, tmp_path_factory.mktemp("serve") / "serve.log")
    started = proc.start(0)
    try:
        yield started
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip("Debian chromium is not installed (make system-deps)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield launched
        finally:
            launched.close()


def open_page(browser: Any, url: str, viewport: dict[str, int], js: bool = False) -> Any:
    context = browser.new_context(viewport=viewport, locale="es-MX", java_script_enabled=js)
    page = context.new_page()
    response = page.goto(url)
    assert response is not None and response.status == 200, url
    return page


def test_the_candidates_are_named_on_the_front_page_and_in_the_cut(published, url, browser):
    csv = published.candidacies_csv()
    for name in sitekit.CANDIDATES:
        assert f"|{name}|" in csv, csv
    page = open_page(browser, url + "/", DESKTOP)
    cards = page.locator(".tarjetas li")
    assert cards.count() == 3
    text = page.locator(".tarjetas").inner_text()
    for name in sitekit.CANDIDATES:
        assert name in text
    assert "PAN – PRI – PRD" in text and "PVEM – PT – MORENA" in text
    assert "PAN_PRI_PRD" not in page.locator("main").inner_text(), "no column code where a reader looks"
    # the headline boxes, and a total row in every votes table
    boxes = page.locator(".cifras").inner_text()
    for words in ("Actas esperadas", "Actas capturadas", "Actas contabilizadas", "Lista nominal",
                  "Total de votos", "Participación ciudadana"):
        assert words in boxes
    tables = page.locator("table.votos")
    assert tables.count() == 2
    for i in range(tables.count()):
        total = tables.nth(i).locator("tfoot").inner_text()
        assert "Total de votos" in total and "100.0000 %" in total
    assert "Actas capturadas: 40 de 40 (100.0000 %)" in page.locator(".leyenda").first.inner_text()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "cdmx-portada-escritorio.png", full_page=True)
    page.context.close()


def test_a_phone_shows_the_candidates_in_its_first_screen(url, browser):
    page = open_page(browser, url + "/", PHONE)
    for name in sitekit.CANDIDATES:
        box = page.get_by_text(name, exact=True).first.bounding_box()
        assert box is not None and box["y"] + box["height"] <= PHONE["height"], (name, box)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page scrolls sideways on a phone ({width} px)"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "cdmx-portada-telefono.png")
    page.context.close()


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["telefono", "escritorio"])
def test_no_chart_text_leaves_its_viewbox(url, browser, viewport):
    page = open_page(browser, url + "/", viewport, js=True)   # getBBox needs a script
    assert page.locator("svg.grafica text").count() >= 10
    assert page.evaluate(OUTSIDE) == []
    page.context.close()


def test_an_acta_is_found_from_its_seccion_alone_without_javascript(url, browser):
    """A voter knows the sección on their credencial, not their district."""
    page = open_page(browser, url + "/", PHONE, js=False)
    page.click("text=Consulta tu casilla")
    page.click("text=Secciones 0001 a 0015")
    page.click("text=Sección 0010")
    assert page.locator("h1").inner_text() == "Sección 0010"
    assert "Distrito 05" in page.locator(".lugar").inner_text()
    rows = page.locator("table.actas tbody tr")
    assert rows.count() == 4      # Básica 01, Contigua 01, 02, 03
    page.click("text=Contigua 02")
    assert page.locator("h1").inner_text() == "Sección 0010 · Contigua 02 · Distrito 05"
    assert "Acta 090010C0200A02" in page.locator(".clave").inner_text()
    image = page.request.get(url + "/acta/005/" + page.locator(".imagen img").get_attribute("src"))
    assert image.status == 200 and image.headers["content-type"] == "image/webp"
    votes = page.locator(".acta table.votos")
    assert "PAN – PRI – PRD" in votes.inner_text() and "Total de votos (calculado)" in votes.inner_text()
    assert page.locator("details.base summary").inner_text().startswith("Datos de la base")
    # sección 0000 is named for what it holds, and so are its mesas
    page.goto(url + "/secciones.html")
    page.click("text=Sección 0000 · Voto desde el extranjero")
    assert page.locator("h1").inner_text() == "Sección 0000 · Voto desde el extranjero"
    page.click("text=Mesa 06")
    assert page.locator("h1").inner_text() == "Voto desde el extranjero · Mesa 06 · Distrito 34"
    # its two totals disagree on the acta: said in words
    assert "asentado en el acta 653, calculado 743" in page.locator(".aviso").inner_text()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "cdmx-acta-telefono.png", full_page=True)
    page.context.close()


def test_a_missing_page_is_a_spanish_page_with_a_way_back(url, browser):
    context = browser.new_context(viewport=PHONE, locale="es-MX", java_script_enabled=False)
    page = context.new_page()
    response = page.goto(url + "/acta/005/NO-EXISTE.html")
    assert response is not None and response.status == 404
    assert response.headers["content-type"].startswith("text/html")
    assert page.locator("html").get_attribute("lang") == "es"
    assert page.locator("h1").inner_text() == "No existe esa página"
    page.click("text=Volver a los resultados")
    assert page.locator("h1").inner_text() == "Resultados preliminares"
    context.close()


def test_the_downloads_page_offers_the_keys_a_verifier_checks_against(published, url, browser, tmp_path):
    page = open_page(browser, url + "/descargas.html", DESKTOP)
    said = page.locator("main").inner_text()
    assert "Qué debe contener LLAVES/" in said and "nodos/CATD-….pub" in said
    for node in published.plan.nodes:
        link = page.locator(f"a[href='llaves/nodos/{node}.pub']")
        assert link.count() == 1
        assert page.request.get(url + f"/llaves/nodos/{node}.pub").text().startswith("-----BEGIN PUBLIC KEY")
    # the whole folder in one file, unzipped it is the DIR the verifier takes
    bundle = page.request.get(url + "/llaves.zip")
    assert bundle.status == 200
    with zipfile.ZipFile(io.BytesIO(bundle.body())) as archive:
        names = set(archive.namelist())
        assert {f"llaves/{n}" for n in ("hq.pub", "llaves.json", "llaves.json.sig", "catalogo.json")} <= names
        assert {f"llaves/nodos/{node}.pub" for node in published.plan.nodes} <= names
        archive.extractall(tmp_path)
    tool = Path(__file__).resolve().parents[2] / "tools" / "verify_release.py"
    held = tmp_path / "llaves"
    checked = subprocess.run([sys.executable, str(tool), str(published.zip), "--keys", str(held)],
                             capture_output=True, text=True, timeout=120)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    for node in published.plan.nodes:   # each chain, and the key it was checked with
        assert f"key: {node}: from {held / 'nodos' / (node + '.pub')}" in checked.stdout
    page.context.close()


def test_the_search_finds_a_seccion_or_an_acta_by_its_key_without_javascript(url, browser):
    page = open_page(browser, url + "/secciones.html", PHONE, js=False)
    page.fill("#q", "10")
    page.click("text=Buscar")
    assert page.url.endswith("/seccion/0010.html") and page.locator("h1").inner_text() == "Sección 0010"
    page.goto(url + "/")
    page.fill("#q", " 090010c0200a02 ")
    page.click("text=Buscar")
    assert page.locator("h1").inner_text() == "Sección 0010 · Contigua 02 · Distrito 05"
    page.goto(url + "/")
    page.fill("#q", "090000M0600")          # a casilla's key: its sección
    page.click("text=Buscar")
    assert page.locator("h1").inner_text() == "Sección 0000 · Voto desde el extranjero"
    page.goto(url + "/secciones.html")
    page.fill("#q", "9999")
    with page.expect_response(lambda r: "/buscar" in r.url) as answer:
        page.click("text=Buscar")
    assert answer.value.status == 404
    assert page.locator("h1").inner_text() == "No existe esa página"
    assert "«9999»" in page.locator("main").inner_text()
    page.context.close()
