"""`catd-node user add` and `catd-node web` as real child processes."""

from __future__ import annotations

import signal
import subprocess
import sys

import aiohttp
import pytest

from tests.web.conftest import start_web

PY = [sys.executable, "-m", "catd_node.cli"]


@pytest.mark.slow
async def test_user_add_from_stdin_then_sign_in_to_a_real_web_process(node_dir):
    done = subprocess.run([*PY, "user", "add", "-d", str(node_dir.root), "lupita", "--role", "verificador"],
                          input="una-clave-muy-larga\n", capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    bad = subprocess.run([*PY, "user", "add", "-d", str(node_dir.root), "lupita", "--role", "verificador"],
                         input="una-clave-muy-larga\n", capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "ya existe" in bad.stderr
    proc, url = start_web(node_dir)
    try:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as s:
            async with s.post(f"{url}/login", data={"usuario": "lupita", "contrasena": "una-clave-muy-larga"},
                              headers={"Origin": url}) as r:
                page = await r.text()
                assert r.status == 200 and "Hola, lupita" in page
            async with s.get(f"{url}/status") as r:
                assert r.status == 403  # a verificadora; and 127.0.0.1 is no longer a pass
            token = node_dir.status_token_path.read_text().strip()
            async with s.get(f"{url}/status", headers={"Authorization": f"Bearer {token}"}) as r:
                assert (await r.json())["node_id"] == "CATD-14-01"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
