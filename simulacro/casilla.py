"""The rehearsal's PREP Casilla phone: enrolled from the coordinator's `/casilla` page (the QR's
link, then `POST /casilla/alta` with a fresh Ed25519 key), it reduces each acta photo as the
phone page does (≤ 1400 px, WebP ≤ 150 KB), signs the statement and sends it to HQ with the
same resumable, device-signed requests (hq/casilla/phone.py)."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import re
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hq.casilla import phone
from simulacro.browser import Browser
from sync import casilla_protocol as cp

MAX_SIDE = 1400
TARGET_BYTES = 150 * 1024
_LINK = re.compile(r'href="([^"]+)" id="enlace-alta"')
RETRY_S = 120.0


def reduce(data: bytes) -> bytes:
    """The phone page's reduction (camera.js), with Pillow: long side ≤ MAX_SIDE, WebP at
    falling quality until ≤ TARGET_BYTES."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as src:
        img = src.convert("RGB")
        scale = min(1.0, MAX_SIDE / max(img.size))
        if scale < 1.0:
            img = img.resize((round(img.width * scale), round(img.height * scale)), Image.Resampling.LANCZOS)
        out = b""
        for quality in (80, 70, 60, 50, 40, 30):
            buffer = io.BytesIO()
            img.save(buffer, "WEBP", quality=quality, method=4)
            out = buffer.getvalue()
            if len(out) <= TARGET_BYTES:
                break
        return out


@dataclass
class CasillaPhone:
    hq_url: str
    node: str
    device: str
    key: Ed25519PrivateKey
    actas: frozenset[str]
    session: aiohttp.ClientSession = field(default_factory=aiohttp.ClientSession)
    sent: int = 0
    bytes_sent: int = 0
    receipts: list[dict[str, Any]] = field(default_factory=list)

    async def send(self, acta: str, photo: bytes) -> dict[str, Any]:
        """Reduce, sign and send one photo; HQ's receipt. Retries while HQ does not know the
        device yet (its node's chain is still on the way) or the link is down."""
        data = await asyncio.to_thread(reduce, photo)
        signed = phone.sign(self.key, self.device, self.node, acta, data)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + RETRY_S
        while True:
            try:
                status, answer = await phone.send(self.session, self.hq_url, signed, data)
            except (aiohttp.ClientError, TimeoutError, ValueError):
                status, answer = 0, {"error": "unreachable"}
            if status in (200, 201):
                self.sent += 1
                self.bytes_sent += len(data)
                self.receipts.append(answer["receipt"])
                return answer["receipt"]
            if loop.time() > deadline or answer.get("error") not in (cp.UNKNOWN_DEVICE, "unreachable", None):
                raise RuntimeError(f"casilla photo of {acta} refused: {status} {answer}")
            await asyncio.sleep(0.5)

    async def close(self) -> None:
        await self.session.close()


async def enrol(coordinator: Browser, device: str) -> CasillaPhone:
    """The coordinator makes the QR; the phone follows its link and enrols its key."""
    page = await coordinator.get("/casilla")
    form = page.form("/casilla")
    if form is None:
        raise RuntimeError(f"{coordinator.base}: no /casilla form ({page.status})")
    done = await coordinator.submit(form, {"dispositivo": device})
    match = _LINK.search(done.html)
    if match is None:
        raise RuntimeError(f"{coordinator.base}: no enrolment link: {done.text()[:200]}")
    link = match.group(1)
    hq_url = link.split("/casilla/#alta=")[0]
    payload = json.loads(base64.urlsafe_b64decode(link.split("#alta=")[1]))
    key = Ed25519PrivateKey.generate()
    session = aiohttp.ClientSession()
    body = json.dumps({"code": payload["code"], "pubkey": phone.pubkey_b64(key)})
    async with session.post(payload["nodo"] + "/casilla/alta", data=body) as resp:
        answer = await resp.json()
        if resp.status != 200:
            await session.close()
            raise RuntimeError(f"enrolment of {device} refused: {answer}")
    return CasillaPhone(hq_url, answer["node"], answer["device"], key, frozenset(answer["actas"]), session)
