"""What the browser tests share: the clerks' password, signing in, stopping a web process."""

from __future__ import annotations

import signal
import subprocess
from typing import Any

PASSWORD = "clave-de-prueba-larga"


def stop(proc: subprocess.Popen[Any]) -> None:
    """SIGTERM a service, as systemd would; SIGKILL it after 20 s."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


async def sign_in(browser: Any, url: str, name: str, password: str = PASSWORD) -> Any:
    """A clerk's desktop tab signed in as `name` (Spanish locale, 1366×900)."""
    context = await browser.new_context(viewport={"width": 1366, "height": 900}, locale="es-MX")
    page = await context.new_page()
    await page.goto(f"{url}/login")
    await page.fill("#usuario", name)
    await page.fill("#contrasena", password)
    await page.press("#contrasena", "Enter")
    await page.wait_for_selector("text=Hola, " + name)
    return page
