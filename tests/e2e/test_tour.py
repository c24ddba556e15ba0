"""The README's 5-minute tour as a test, on real processes: a scanner drops an acta, a
capturista captures it from its image, a verificador verifies it blind, and HQ counts it."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import urllib.request

import pytest

from catd_node.datadir import DataDir
from simulacro import specimen
from tests.e2e.conftest import NODE, hq_cli, hq_status, make_node, node_cli, start_hq, wait_for
from tests.web.conftest import Browser, hidden, values_form

pytestmark = pytest.mark.slow
KEY = "DIP-14-01-0125-B01"
ON_THE_ACTA: dict[str, int | str] = {
    "PAN": 101, "PRI": 87, "PRD": "ILEGIBLE", "PVEM": 9, "PT": 6, "MC": 44, "MORENA": 160, "CNR": 1,
    "NULOS": 11, "TOTAL_ASENTADO": 419, "PERSONAS_VOTARON": 419, "REPRESENTANTES_VOTARON": 0,
    "BOLETAS_SOBRANTES": 311,
}
TYPED = {field: "I" if value == "ILEGIBLE" else str(value) for field, value in ON_THE_ACTA.items()}


def add_clerk(node: DataDir, name: str, role: str) -> None:
    done = node_cli("user", "add", name, "--role", role, "-d", str(node.root), input=f"{name}-clave-larga\n")
    assert done.returncode == 0, done.stderr


def digitized_image(node: DataDir, key: str) -> str | None:
    conn = node.reader()
    try:
        row = conn.execute(
            "SELECT json_extract(CAST(canonical AS TEXT), '$.body.image.sha256'),"
            " json_extract(CAST(canonical AS TEXT), '$.body.identified_by')"
            " FROM packets WHERE kind = 'acta.digitized' AND acta = ?", (key,)).fetchone()
    finally:
        conn.close()
    return f"{row[0]}:{row[1]}" if row else None


def results(hq_port: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{hq_port}/v1/results", timeout=5) as answer:
        return json.loads(answer.read())


async def test_scan_capture_verify_and_hq_counts_it(tmp_path, election_file):
    hq_dir, hq_port, hq = start_hq(tmp_path, election_file)
    node, web_port = make_node(tmp_path, election_file, hq_dir, hq_port)
    add_clerk(node, "ana", "capturista")
    add_clerk(node, "beto", "verificador")
    run = subprocess.Popen([sys.executable, "-m", "catd_node.cli", "run", "-d", str(node.root)])
    ana, beto = Browser(f"http://127.0.0.1:{web_port}"), Browser(f"http://127.0.0.1:{web_port}")
    try:
        # Digitalización: the scanner writes a temp file and renames it; the QR names the acta.
        folder = node.scanner_folders()["scanner-1"]
        specimen.write(folder / ".escaneo-0001.jpg.part", KEY, ON_THE_ACTA, seed=7)
        os.replace(folder / ".escaneo-0001.jpg.part", folder / "escaneo-0001.jpg")
        sha, identified_by = wait_for(lambda: digitized_image(node, KEY), 60, "the scan ingested").split(":")
        assert identified_by == "qr"

        # Captura, from the image.
        wait_for(lambda: urllib.request.urlopen(f"http://127.0.0.1:{web_port}/login", timeout=2),
                 30, "the web app")
        status, _ = await ana.login("ana", "ana-clave-larga")
        assert status == 200
        status, page = await ana.get("/captura")
        assert status == 200 and hidden(page, "acta") == KEY and f"/imagenes/{sha}" in page
        status, page = await ana.post("/captura", {"csrf": hidden(page, "csrf"), "acta": KEY,
                                                   "imagen": sha, **values_form(TYPED)})
        assert status == 200 and f"Acta {KEY} capturada" in page

        # Verificación: a different clerk types it blind; the entries match.
        status, _ = await beto.login("beto", "beto-clave-larga")
        assert status == 200
        status, page = await beto.get("/verificacion")
        assert status == 200 and hidden(page, "acta") == KEY
        status, page = await beto.post("/verificacion", {"csrf": hidden(page, "csrf"), "acta": KEY,
                                                         "imagen": sha, **values_form(TYPED)})
        assert status == 200 and f"Acta {KEY} verificada" in page

        # Transmisión: HQ counts it (PRD illegible counts as 0), and holds its image.
        def counted() -> dict | None:
            doc = results(hq_port)
            return doc if doc["classes"].get("counted") == 1 else None

        doc = wait_for(counted, 60, "HQ to count the verified acta", every=0.5)
        totals = doc["contests"]["DIP"]["totals"]
        assert totals["PAN"] == 101 and totals["MORENA"] == 160 and totals["PRD"] == 0
        assert doc["contests"]["DIP"]["actas_counted"] == 1
        wait_for(lambda: hq_status(hq_dir)["nodes"][NODE]["blobs_missing"] == 0, 60, "the image at HQ")
        assert hq_status(hq_dir)["nodes"][NODE]["blobs_stored"] == 1
    finally:
        await ana.close()
        await beto.close()
        run.send_signal(signal.SIGTERM)
        assert run.wait(timeout=30) == 0
        hq.send_signal(signal.SIGTERM)
        hq.wait(timeout=30)

    exported = hq_cli("export", "-d", str(hq_dir), "--csv", str(tmp_path / "resultados.csv"))
    assert exported.returncode == 0, exported.stderr
    with (tmp_path / "resultados.csv").open(encoding="utf-8") as rows:
        [row] = [r for r in csv.DictReader(rows) if r.get("acta") == KEY]
    assert sha in row.values()  # the código de integridad beside the acta
    assert node_cli("verify", "-d", str(node.root)).returncode == 0
    assert hq_cli("verify", "-d", str(hq_dir)).returncode == 0
