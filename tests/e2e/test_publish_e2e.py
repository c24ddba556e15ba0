"""From two CATDs to a cut anyone can check, every step a real process: the nodes' ledgers
hold their reports, `catd-node sync --once` delivers packets and images to a running
`catd-hq serve`, `catd-hq publish` writes the cut, `catd-hq verify-release` and the standalone
tools/verify_release.py (isolated: nothing of ours importable) both accept it, and the site
shows each acta with its image."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import urllib.request
import zipfile
from pathlib import Path

import pytest

from tests.e2e.conftest import REPO, hq_cli, node_cli
from tests.hq import countkit as ck
from tests.hq.cutkit import report_everything
from tests.hqkit import HQProcess, with_hq_urls

pytestmark = pytest.mark.slow


def test_nodes_sync_hq_publishes_and_both_verifiers_accept(tmp_path):
    hq, a, b = ck.hq_two_catd(tmp_path)
    report_everything(hq, a, b, deliver=False)     # the sync client delivers them below
    server = HQProcess(hq, tmp_path / "serve.log")
    url = server.start(0)
    try:
        for node in (a, b):
            node = with_hq_urls(node, [url])
            done = node_cli("sync", "--once", "-d", str(node.root))
            assert done.returncode == 0, done.stderr
        published = hq_cli("publish", "-d", str(hq.root), "--at", "2024-06-02T20:00")
        assert published.returncode == 0, published.stderr
        path = Path(published.stdout.strip().splitlines()[-1])
        assert path.exists() and path.parent == hq.root / "publicacion"
        checked = hq_cli("verify-release", "-d", str(hq.root), str(path))
        assert checked.returncode == 0, checked.stderr
        tool = REPO / "tools" / "verify_release.py"
        standalone = subprocess.run([sys.executable, "-I", str(tool), str(path)], capture_output=True,
                                    text=True, cwd="/", timeout=120)
        assert standalone.returncode == 0, standalone.stderr
        assert "6 rows, 2 CATD chains" in checked.stdout and "6 rows, 2 CATD chains" in standalone.stdout
        with zipfile.ZipFile(path) as archive:
            rows = archive.read("CDMX_GUB_2024.csv").decode("utf-8-sig").split("\r\n")
        a1 = next(r for r in rows if f'="{ck.A1}"' in r)
        sha = a1.split("|")[rows[4].split("|").index("CODIGO_INTEGRIDAD")].lower()
        with urllib.request.urlopen(f"{url}/acta/001/{ck.A1}.html", timeout=10) as page:
            html = page.read().decode()
        assert f"imagenes/{sha}." in html, "the image synced to HQ is on the acta's page"
        image = html.split(f"imagenes/{sha}.")[1].split('"')[0]
        with urllib.request.urlopen(f"{url}/imagenes/{sha}.{image}", timeout=10) as got:
            assert hashlib.sha256(got.read()).hexdigest() == sha, "CODIGO_INTEGRIDAD is the image's SHA-256"
    finally:
        assert server.stop() == 0
