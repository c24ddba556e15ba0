"""`make run`: the demo CATD reaches the point where a simulated scan is held by the local HQ."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import urllib.request

import pytest

from tests.e2e.conftest import REPO, child_env, free_port, hq_status, wait_for

pytestmark = pytest.mark.slow


def test_make_run_delivers_a_simulated_scan_to_the_local_hq(tmp_path):
    web_port, hq_port = free_port(), free_port()
    env = child_env(
        CATD_DEMO_DIR=str(tmp_path / "demo"),
        CATD_DEMO_WEB_PORT=str(web_port),
        CATD_DEMO_HQ_PORT=str(hq_port),
        CATD_DEMO_INTERVAL="1",
    )
    demo = subprocess.Popen(
        ["make", "--no-print-directory", "run"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    hq_dir = tmp_path / "demo" / "hq"
    try:

        def delivered() -> bool:
            node = hq_status(hq_dir)["nodes"].get("CATD-14-01", {})
            return bool(node.get("seq", 0) > 1 and node.get("blobs_stored", 0) >= 1)

        wait_for(lambda: hq_dir.joinpath("hq.db").exists(), 120, "the demo HQ to be created")
        wait_for(delivered, 120, "a simulated scan to reach the local HQ", every=0.5)
        with urllib.request.urlopen(f"http://127.0.0.1:{web_port}/login", timeout=5) as page:
            assert page.status == 200
            assert "Contraseña" in page.read().decode()
        with urllib.request.urlopen(f"http://127.0.0.1:{hq_port}/v1/results", timeout=5) as answer:
            assert "contests" in json.loads(answer.read())
        # the demo publishes a cut every minute, the first at start: the site is at HQ's `/`
        def front_page() -> str:
            with urllib.request.urlopen(f"http://127.0.0.1:{hq_port}/", timeout=5) as page:
                return str(page.read().decode())

        wait_for(lambda: "Aún no se ha publicado" not in front_page(), 120,
                 "the demo's first cut on the site")
        assert any(hq_dir.joinpath("publicacion").glob("*_PREP_*.zip"))
        assert "Programa de Resultados Electorales Preliminares" in front_page()
    finally:
        os.killpg(demo.pid, signal.SIGINT)  # what Ctrl-C in the terminal does
        out, _ = demo.communicate(timeout=60)
    # make re-raises the SIGINT it got (exit -2, as in a terminal); the demo itself stops cleanly.
    assert demo.returncode in (0, -signal.SIGINT), out[-3000:]
    assert "all services stopped" in out and "demo stopped" in out, out[-3000:]
    assert "Traceback" not in out, out[-3000:]
    assert "http://127.0.0.1:" in out and "capturista1" in out
