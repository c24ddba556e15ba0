"""The staff of one CATD in a simulacro, working the node's web app over HTTP.

- acopio: a capturista types each acta's key as it arrives, with its transfer mechanism and
  document type when the form asks for them;
- the capturista takes the next acta the node offers, reads its key on the page and types
  the acta's printed cells (an unidentified image: reads the QR on it and assigns the key);
- the verificador, another person, types the same acta blind;
- the coordinator registers each sin acta with its reason and creates the phone's upload token.

Every value typed is the published cell of that acta (`plan.Acta.typed`); a field the form
asks for that the acta does not carry is left blank (SIN DATO) and noted.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from io import BytesIO

import aiohttp
import zxingcpp
from PIL import Image

from scanners.identify import QR_ONLY
from simulacro.browser import Browser, Page
from simulacro.plan import SIN_DATO, Acta

log = logging.getLogger("catd.simulacro.clerks")
FIELD_PREFIX = "v_"
_TOKEN = re.compile(r'<code class="token">([^<]+)</code>')
IDLE_MIN_S, IDLE_MAX_S = 0.05, 0.5
PASSWORDS = {"capturista": "captura-simulacro", "verificador": "verifica-simulacro",
             "coordinador": "coordina-simulacro"}


class ClerkError(Exception):
    """The web app answered something a clerk cannot go on from (named acta and page)."""


@dataclass
class Desk:
    """What one CATD's staff know and have done; shared by its clerks (one event loop)."""

    node: str
    web: str                                   # the node's web app base URL
    actas: dict[str, Acta]                     # key → acta this CATD receives
    delivered: int = 0                         # images dropped or uploaded
    to_capture: int = 0                        # actas this CATD captures (not sin acta)
    done: dict[str, set[str]] = field(default_factory=lambda: {"captura": set(), "verificacion": set()})
    notes: list[str] = field(default_factory=list)
    work: asyncio.Event = field(default_factory=asyncio.Event)
    on_event: Callable[[str, str], None] = lambda stage, key: None

    @property
    def captured(self) -> int:
        return len(self.done["captura"])

    @property
    def verified(self) -> int:
        return len(self.done["verificacion"])

    def record(self, stage: str, key: str) -> None:
        """`key` went through `stage` (once: a retried submit the node refuses as done counts once)."""
        seen = self.done.get(stage)
        if seen is not None:
            if key in seen:
                return
            seen.add(key)
        self.on_event(stage, key)
        self.work.set()

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)
            log.warning("%s: %s", self.node, text)


async def _idle(desk: Desk, delay: float) -> float:
    """Wait for new work (or `delay`), and return the next, longer, delay."""
    desk.work.clear()
    try:
        await asyncio.wait_for(desk.work.wait(), delay)
    except TimeoutError:
        pass
    return min(delay * 2, IDLE_MAX_S)


def typed_values(desk: Desk, acta: Acta | None, key: str, inputs: list[str]) -> dict[str, str]:
    """What the clerk types in each value input of the capture form."""
    values: dict[str, str] = {}
    for name in inputs:
        if not name.startswith(FIELD_PREFIX):
            continue
        fieldname = name[len(FIELD_PREFIX):]
        if acta is None or fieldname not in acta.typed:
            desk.note(f"the form asks for {fieldname} of {key}, which the acta does not carry: left blank")
            values[name] = SIN_DATO
        else:
            values[name] = acta.typed[fieldname]
    return values


def read_key(image: bytes) -> str | None:
    """The key a clerk reads off an image: its QR code."""
    with Image.open(BytesIO(image)) as img:
        found = zxingcpp.read_barcodes(img.convert("L"), formats=QR_ONLY)
    texts = [b.text.strip() for b in found if b.valid and b.text.strip()]
    return texts[0] if texts else None


async def _entry_loop(desk: Desk, browser: Browser, path: str, stage: str, target: Callable[[], int],
                      ready: Callable[[], bool]) -> None:
    """Take the next acta at `path` (/captura or /verificacion), type it, until `target()` are done."""
    page = await browser.get(path)
    delay = IDLE_MIN_S
    while target() > 0:
        form = page.form(path)
        key = form.fields.get("acta") if form else None
        if form is not None and key:
            acta = desk.actas.get(key)
            if acta is None:
                desk.note(f"{path} offered {key}, which this rehearsal did not send to {desk.node}")
            typed = typed_values(desk, acta, key, form.inputs)
            done = await browser.submit(form, typed)
            asked = done.form(path) if done.status == 422 else None
            if asked is not None and "confirmar" in asked.unchecked:
                # A value that looks impossible (the node asks before saving it): the published
                # cells are what the acta says, so the clerk confirms, as the procedure asks.
                log.info("%s %s %s: a value that looks impossible, confirmed", desk.node, path, key)
                done = await browser.submit(asked, {**typed, "confirmar": asked.unchecked["confirmar"]})
            if done.status == 422:
                raise ClerkError(f"{desk.node} {path} {key}: the form refused the published cells: "
                                 f"{done.text()[:300]}")
            # A submit retried after the node committed it (its answer lost when the web service
            # was killed) is refused as already done: it is done.
            if "hecho=" in done.url or f"{key}: esta acta ya" in done.html:
                desk.record(stage, key)
            if "no coinciden" in done.html:
                desk.note(f"{key}: the two captures differ ({done.text()[:200]})")
            page = done if done.status < 400 else await browser.get(path)
            delay = IDLE_MIN_S
            continue
        assign = page.form("/captura/asignar")
        if assign is not None and stage == "captura":
            sha = assign.fields.get("imagen", "")
            image = await browser.get_bytes(f"/imagenes/{sha}")
            key = read_key(image)
            if key is None:
                raise ClerkError(f"{desk.node}: image {sha[:12]} has no readable QR code")
            page = await browser.submit(assign, {"clave": key})
            if page.form("/captura/asignar") is not None and page.status >= 400:
                raise ClerkError(f"{desk.node}: assigning {key} to {sha[:12]} refused: {page.text()[:200]}")
            continue
        if page.status >= 400:
            raise ClerkError(f"{desk.node} {path}: HTTP {page.status}: {page.text()[:200]}")
        if ready():
            await asyncio.sleep(delay)  # the node has not taken the image in yet
            delay = min(delay * 2, IDLE_MAX_S)
        else:
            delay = await _idle(desk, delay)
        page = await browser.get(path)


async def capturista(desk: Desk, browser: Browser) -> None:
    await _entry_loop(desk, browser, "/captura", "captura",
                      target=lambda: desk.to_capture - desk.captured,
                      ready=lambda: desk.delivered > desk.captured)


async def verificador(desk: Desk, browser: Browser) -> None:
    await _entry_loop(desk, browser, "/verificacion", "verificacion",
                      target=lambda: desk.to_capture - desk.verified,
                      ready=lambda: desk.captured > desk.verified)


def _select(desk: Desk, page: Page, action: str, name: str, value: str | None) -> dict[str, str]:
    """The option to pick in a select of the form: what the acta says, else the blank one."""
    form = page.form(action)
    options = form.selects.get(name) if form is not None else None
    if value is None:
        # Nothing on the acta says: the blank choice (the form keeps the last paquete's pick).
        return {name: ""} if options is not None and "" in options else {}
    if options is None:
        desk.note(f"the {action} form has no {name}: {value!r} is not recorded")
        return {}
    if value not in options:
        offered = ", ".join(o for o in options if o)
        desk.note(f"the {action} form offers no {name} {value!r} (offers {offered})")
        return {}
    return {name: value}


async def acopio(desk: Desk, browser: Browser, acta: Acta, page: Page | None = None) -> Page:
    """Register the acta as received, with how it came and which document it is."""
    page = page if page is not None and page.form("/acopio") else await browser.get("/acopio")
    form = page.form("/acopio")
    if form is None:
        raise ClerkError(f"{desk.node}: no acopio form ({page.status}: {page.text()[:200]})")
    values = {"clave": acta.key}
    values.update(_select(desk, page, "/acopio", "mecanismo", acta.mecanismo))
    values.update(_select(desk, page, "/acopio", "tipo_documento", acta.tipo_documento))
    done = await browser.submit(form, values)
    if done.status >= 400:
        raise ClerkError(f"{desk.node}: acopio of {acta.key}: HTTP {done.status}: {done.text()[:200]}")
    desk.record("acopio", acta.key)
    return done


async def sin_acta(desk: Desk, coordinator: Browser, acta: Acta) -> None:
    """The coordinator registers an acta that never came, with its reason."""
    page = await coordinator.get("/coordinacion/sin-acta")
    form = page.form("/coordinacion/sin-acta")
    if form is None:
        raise ClerkError(f"{desk.node}: this node offers no sin acta registration "
                         f"({page.status}: {page.text()[:120]})")
    assert acta.reason is not None
    if acta.reason not in form.selects.get("motivo", []):
        raise ClerkError(f"{desk.node}: the sin acta form offers no reason {acta.reason}")
    done = await coordinator.submit(form, {"clave": acta.key, "motivo": acta.reason})
    if done.status >= 400 and f"{acta.key}: ya está registrada como sin acta" not in done.html:
        # (a submit retried after the node committed it finds it registered: done)
        raise ClerkError(f"{desk.node}: sin acta {acta.key}: HTTP {done.status}: {done.text()[:200]}")
    desk.record("sin_acta", acta.key)


async def device_token(desk: Desk, coordinator: Browser, device: str) -> str:
    """The coordinator creates the phone's upload device and copies its token."""
    page = await coordinator.get("/dispositivos")
    form = page.form("/dispositivos")
    if form is None:
        raise ClerkError(f"{desk.node}: no device form ({page.status})")
    done = await coordinator.submit(form, {"dispositivo": device})
    match = _TOKEN.search(done.html)
    if match is None:
        raise ClerkError(f"{desk.node}: creating device {device} gave no token: {done.text()[:200]}")
    return match.group(1).strip()


@dataclass
class Phone:
    """A phone with the PREP app: posts photos to the node's /uploads with its device token."""

    web: str
    token: str
    fields: tuple[str, ...] = ()      # other inputs the upload form offers (e.g. origen)
    session: aiohttp.ClientSession | None = None
    posts: int = 0

    async def send(self, desk: Desk, name: str, data: bytes, origen: str, retry_for: float = 60.0) -> None:
        if origen != "CATD" and "origen" not in self.fields:
            desk.note(f"the /uploads form has no origen: {origen} is not recorded")
        if self.session is None:
            self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))
        deadline = time.monotonic() + retry_for
        delay = 0.05
        while True:
            form = aiohttp.FormData()
            form.add_field("token", self.token)
            if "origen" in self.fields:
                form.add_field("origen", origen)
            form.add_field("file", data, filename=name, content_type="image/png")
            try:
                self.posts += 1
                async with self.session.post(self.web + "/uploads", data=form) as response:
                    body = await response.text()
                    if response.status == 201:
                        return
                    if response.status not in (502, 503, 504):
                        raise ClerkError(f"{self.web}/uploads {name}: HTTP {response.status}: {body[:200]}")
            except (aiohttp.ClientConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                raise ClerkError(f"{self.web}/uploads {name}: no answer for {retry_for:.0f} s")
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()
