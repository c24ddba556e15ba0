"""The demo tells the truth (issue 22): its site publishes every casilla as its image shows it,
and a second run on the same demo dir reuses what is there instead of dropping every acta again.

The slow test runs the real demo (`python -m simulacro.demo`: HQ, node, simulated scanner), has
two clerks capture and verify what it dropped over HTTP, waits for the demo HQ's own cut, and
holds each published row to its image: the QR read off the published image file, and the
identity boxes the scanner printed on it (`DIR/escaneos.jsonl`, written as it drops)."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import signal
import subprocess
import sys
import time
import urllib.request
import zipfile
from datetime import datetime
from pathlib import Path

import pytest
import zxingcpp
from PIL import Image

from catd_node import catalog, store
from hq.release import cut, write
from simulacro import demo, specimen
from tests.e2e.conftest import child_env, free_port, wait_for
from tests.web.conftest import Browser, hidden, values_form

ACTAS = 4   # dropped by the demo: two secciones, básica and contigua


def unwrap(cell: str) -> str:
    return cell[2:-1] if cell.startswith('="') and cell.endswith('"') else cell


def printed_parts(printed: dict[str, str]) -> dict[str, str]:
    """The published identity columns a reader expects from the boxes printed on an image."""
    casilla = printed["CASILLA"]
    tipo, ident = casilla[0], casilla[1:3]
    ext = casilla.split(" EXT ")[1] if " EXT " in casilla else "0"
    clave = f"{printed['ENTIDAD']}{printed['SECCIÓN']}{tipo}{ident}{int(ext):02d}"
    return {"CLAVE_CASILLA": clave, "CLAVE_ACTA": clave + printed["TIPO DE ACTA"],
            "ID_ENTIDAD": printed["ENTIDAD"], "ID_DISTRITO_LOCAL": f"{int(printed['DISTRITO']):03d}",
            "SECCION": printed["SECCIÓN"], "TIPO_CASILLA": tipo, "ID_CASILLA": ident,
            "EXT_CONTIGUA": f"{int(ext):02d}", "TIPO_ACTA": printed["TIPO DE ACTA"]}


def test_every_demo_acta_prints_the_casilla_the_release_publishes():
    """All 20 actas of the demo election, the especial included: the boxes printed on its
    image and the identity cells the cut writes for it are the same casilla."""
    election = catalog.load(demo.ELECTION)
    assert election.form == 2 and election.entidad_id == 14 and election.release == "DIP_JAL"
    assert demo.node_id_for(demo.ELECTION) == "CATD-14-01"
    assert set(election.actas_of("CATD-14-01")) == set(election.actas) and len(election.actas) == 20
    for key, spec in election.actas.items():
        cells = dict(zip(write.HEAD, (unwrap(c) for c in write._parts(election, spec)), strict=True))
        expected = printed_parts(dict(specimen.key_fields(key, spec.distrito)))
        assert {k: cells[k] for k in expected} == expected, key
        assert cells["ENTIDAD"] == "JALISCO"
    assert cut.file_names(election, datetime(2027, 6, 6, 20))[0] \
        == "20270606_2000_PREP_DIP_JAL.zip"


def plausible(election: catalog.Election, key: str) -> dict[str, str]:
    """What the clerks type (the same both times): 10 votes per field, controls that agree."""
    ballot = election.ballot(key)
    total = 10 * len(ballot)
    spec = election.actas[key]
    ceiling = election.max_boletas_especial if spec.especial else spec.lista_nominal
    typed = dict.fromkeys(ballot, "10")
    typed.update({"TOTAL_BOLETAS_SOBRANTES": str(ceiling - total), "TOTAL_PERSONAS_VOTARON": str(total),
                  "TOTAL_REP_PARTIDO_CI_VOTARON": "0", "TOTAL_VOTOS_SACADOS": str(total),
                  "TOTAL_VOTOS_ASENTADO": str(total)})
    return typed


async def work(web: str, election: catalog.Election, count: int) -> set[str]:
    """capturista1 captures and verificador1 verifies `count` actas, as the demo's accounts."""
    clerk, checker = Browser(web), Browser(web)
    done: set[str] = set()
    try:
        name, _, password = demo.DEMO_USERS[0]
        assert (await clerk.login(name, password))[0] == 200
        name, _, password = demo.DEMO_USERS[2]
        assert (await checker.login(name, password))[0] == 200
        for _ in range(count):
            status, page = await clerk.get("/captura")
            assert status == 200, page
            key = hidden(page, "acta")
            form = {"csrf": hidden(page, "csrf"), "acta": key, "imagen": hidden(page, "imagen"),
                    **values_form(plausible(election, key))}
            status, page = await clerk.post("/captura", form)
            assert status == 200 and f"Acta {key} capturada" in page, page[-2000:]
            status, page = await checker.get("/verificacion")
            assert status == 200 and hidden(page, "acta") == key
            form["csrf"] = hidden(page, "csrf")
            status, page = await checker.post("/verificacion", form)
            assert status == 200 and f"Acta {key} verificada" in page, page[-2000:]
            done.add(key)
    finally:
        await clerk.close()
        await checker.close()
    return done


def digitized(node_db: Path) -> int:
    conn = store.connect(node_db, readonly=True)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM packets WHERE kind = 'acta.digitized'").fetchone()[0])
    finally:
        conn.close()


def published_rows(hq_dir: Path) -> tuple[str, list[dict[str, str]]] | None:
    """(zip name, result rows) of the demo HQ's latest cut, once it holds every acta captured."""
    cuts = sorted((hq_dir / "publicacion").glob("*_PREP_*.zip"))
    if not cuts:
        return None
    with zipfile.ZipFile(cuts[-1]) as archive:
        [name] = [n for n in archive.namelist() if n.endswith(".csv") and "CANDIDATURAS" not in n]
        text = archive.read(name).decode("utf-8-sig")
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("CLAVE_CASILLA|"))
    rows = list(csv.DictReader(io.StringIO("\n".join(lines[start:])), delimiter="|"))
    return (cuts[-1].name, rows) if len(rows) >= ACTAS else None


def qr_text(path: Path) -> str:
    with Image.open(path) as image:
        found = zxingcpp.read_barcodes(image.convert("L"), formats=zxingcpp.BarcodeFormat.QRCode)
    assert len(found) == 1, f"{path.name}: {len(found)} QR codes"
    return str(found[0].text)


def start(root: Path, web_port: int, hq_port: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "simulacro.demo", "--interval", "0.3", "--settle-ms", "300"],
        env=child_env(CATD_DEMO_DIR=str(root), CATD_DEMO_WEB_PORT=str(web_port),
                      CATD_DEMO_HQ_PORT=str(hq_port), CATD_DEMO_ACTAS=str(ACTAS)),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)


def stop(proc: subprocess.Popen[str]) -> str:
    os.killpg(proc.pid, signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out[-3000:]
    assert "Traceback" not in out, out[-3000:]
    return out


@pytest.mark.slow
def test_the_demo_site_agrees_with_its_images_and_a_restart_does_not_drop_again(tmp_path):
    root, web_port, hq_port = tmp_path / "demo", free_port(), free_port()
    hq_dir, node_db = root / "hq", root / "catd" / "catd.db"
    election = catalog.load(demo.ELECTION)
    proc = start(root, web_port, hq_port)
    try:
        wait_for(lambda: node_db.exists() and digitized(node_db) == ACTAS, 180, "the demo's scans ingested",
                 every=0.5)
        done = asyncio.run(work(f"http://127.0.0.1:{web_port}", election, ACTAS))
        # the demo HQ publishes a cut every minute: wait for one holding the verified actas
        name, rows = wait_for(lambda: published_rows(hq_dir), 150, "a demo cut with the verified actas",
                              every=1)
    finally:
        first = stop(proc)

    # Listening on this machine only, and saying where: banner, LEEME.txt, the minute's reminder.
    assert "listening host=127.0.0.1" in first and f"catd-hq serving http://127.0.0.1:{hq_port}" in first
    leeme = (root / demo.LEEME).read_text(encoding="utf-8")
    assert f"http://127.0.0.1:{web_port}/" in leeme and f"http://127.0.0.1:{hq_port}/" in leeme
    assert all(f"{user}" in leeme and password in leeme for user, _, password in demo.DEMO_USERS)
    reminders = [line for line in first.splitlines() if line.startswith("demo: captura ")]
    assert reminders, "no reminder in the first minute"
    assert f"http://127.0.0.1:{web_port}/" in reminders[0] and f"http://127.0.0.1:{hq_port}/" in reminders[0]
    assert all(f"{user} / {password}" in reminders[0] for user, _, password in demo.DEMO_USERS)

    assert name.endswith("_PREP_DIP_JAL.zip"), name
    drops = demo.dropped(root / demo.DROPS)
    assert set(drops) == done and len(done) == ACTAS
    site = hq_dir / "publicacion" / "sitio"
    for row in rows:
        key = unwrap(row["CLAVE_ACTA"])
        images = list((site / "imagenes").glob(f"{row['CODIGO_INTEGRIDAD'].lower()}.*"))
        assert len(images) == 1, f"{key}: the published image of {row['CODIGO_INTEGRIDAD']}"
        assert qr_text(images[0]) == key                       # the key on the image itself
        expected = printed_parts(drops[key]["printed"])        # the boxes printed beside it
        assert {k: unwrap(row[k]) for k in expected} == expected, key
        assert row["ENTIDAD"] == "JALISCO"
        page = (site / "acta" / "001" / f"{key}.html").read_text(encoding="utf-8")
        assert key in page and "Sin distrito" not in page and "B00" not in page

    # The whole site: one district, the real one; no page says the casilla has none.
    assert sorted(p.name for p in (site / "distrito").glob("*.html")) == ["001.html"]
    pages = list(site.rglob("*.html"))
    assert pages and not [p.name for p in pages if "Sin distrito" in p.read_text(encoding="utf-8")]

    # A second run on the same dir: same node, nothing dropped again.
    files_before = sorted(p.name for p in (root / "catd" / "inbox" / "scanner-1").iterdir())
    proc = start(root, web_port, hq_port)
    try:
        login = f"http://127.0.0.1:{web_port}/login"
        wait_for(lambda: urllib.request.urlopen(login, timeout=2).status == 200, 120,
                 "the restarted demo's web app")
        time.sleep(3)   # ten intervals of the simulated scanner
    finally:
        again = stop(proc)
    assert "demo reuses" in again, again[-3000:]
    assert f"{ACTAS} actas dropped by an earlier run, 0 left" in again, again[-3000:]
    assert "simulated scanner dropped" not in again
    assert len(demo.dropped(root / demo.DROPS)) == ACTAS
    assert (root / demo.DROPS).read_text(encoding="utf-8").count("\n") == ACTAS
    assert digitized(node_db) == ACTAS
    assert sorted(p.name for p in (root / "catd" / "inbox" / "scanner-1").iterdir()) == files_before
