"""A real `catd-hq serve` with a [publish] schedule: it writes the first cut at `start` by
itself and serves the site read-only at `/`, beside the /v1 API."""

from __future__ import annotations

import urllib.error
import urllib.request
from datetime import UTC, datetime

import pytest

from tests.hq import countkit as ck
from tests.hqkit import HQProcess
from tests.polling import wait_for

pytestmark = pytest.mark.slow


def get(url: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def test_serve_publishes_on_schedule_and_serves_the_site(tmp_path):
    hq, a, _ = ck.hq_two_catd(tmp_path)
    ck.acopio(a, ck.A1)
    ck.report(a, ck.A1, ck.values(ck.A1, PAN=30))
    ck.deliver(hq, a)
    start = datetime.now(UTC).isoformat()
    (hq.root / "hq.toml").write_text(f'[publish]\nstart = "{start}"\nevery_min = 20\n', encoding="utf-8")
    proc = HQProcess(hq, tmp_path / "serve.log")
    url = proc.start(0)
    try:
        status, _, placeholder = get(url + "/")
        assert status == 200
        folder = hq.root / "publicacion"
        zips = wait_for(lambda: list(folder.glob("*.zip")), 120, "the scheduled cut")
        wait_for(lambda: b"Resultados preliminares" in get(url + "/")[2], 120, "the front page, written last")
        assert zips[0].name.encode() in get(url + "/descargas.html")[2]
        status, headers, body = get(url + "/")
        assert status == 200 and headers["Content-Type"].startswith("text/html")
        assert "script-src" not in headers["Content-Security-Policy"] and "default-src 'none'" in \
            headers["Content-Security-Policy"]
        assert b"Resultados preliminares" in body and body != placeholder
        status, _, page = get(url + f"/acta/001/{ck.A1}.html")
        assert status == 200 and ck.A1.encode() in page
        status, _, data = get(url + f"/descargas/{zips[0].name}")
        assert status == 200 and data == zips[0].read_bytes()
        assert get(url + "/.actas.json")[0] == 404, "hidden files are not served"
        assert get(url + "/%2e%2e/hq.key")[0] == 404, "nothing outside the site folder"
        assert get(url + "/", method="POST")[0] == 405, "read-only"
        status, headers, _ = get(url + "/v1/nada")
        assert status == 404 and headers["Content-Type"].startswith("application/json")
        assert get(url + f"/v1/nodes/{ck.NODE_A}/head")[0] == 200
    finally:
        assert proc.stop() == 0, "serve stops cleanly while the schedule waits for its next slot"
