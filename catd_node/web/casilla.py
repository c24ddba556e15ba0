"""PREP Casilla enrolment at the CATD: the coordinator's `/casilla` page makes a one-time code
for a named phone and shows it as a QR code; the phone opens HQ's `/casilla/` page from it,
makes its Ed25519 key in the browser (WebCrypto, not extractable) and sends the public key
here with the code (`POST /casilla/alta`, cross-origin by design: the code is the proof).
The node records `device.added` with the key and the coordinator who made the code; HQ
learns the key through the chain. A revoked phone gets `device.revoked` (docs/casilla.md).

The code is 128 random bits, kept only as its SHA-256, valid once and for CODE_TTL_S."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import secrets
import sqlite3
import time

import segno
from aiohttp import web

from catd_node import packets
from catd_node.errors import BadInput
from catd_node.ledger import Transaction
from catd_node.web import uploads
from catd_node.web.state import DATADIR, DB, ELECTION, clerk, render, require

log = logging.getLogger("catd.web.casilla")
CODE_TTL_S = 30 * 60
CORS = {"Access-Control-Allow-Origin": "*", "Access-Control-Allow-Methods": "POST",
        "Access-Control-Allow-Headers": "Content-Type"}


def _devices(conn: sqlite3.Connection) -> list[tuple[str, str, str, bool, str]]:
    rows = conn.execute("SELECT id, created_by, created_at, active, pubkey FROM web_casilla_devices"
                        " ORDER BY id")
    return [(r[0], r[1], r[2], bool(r[3]), hashlib.sha256(base64.b64decode(r[4])).hexdigest()[:16])
            for r in rows]


def _new_code(tx: Transaction, device: str, code_sha256: str, by: str, now: float) -> None:
    if tx.conn.execute("SELECT 1 FROM web_casilla_devices WHERE id = ?", (device,)).fetchone() or \
            tx.conn.execute("SELECT 1 FROM web_devices WHERE id = ?", (device,)).fetchone():
        raise BadInput(f"dispositivo {device}", "ya existe")
    tx.conn.execute("INSERT INTO web_casilla_codes (code_sha256, device, created_by, expires_at)"
                    " VALUES (?, ?, ?, ?)", (code_sha256, device, by, now + CODE_TTL_S))


def enrol(tx: Transaction, code: str, pubkey: str, now: float) -> str:
    """Use the one-time `code`: the device row and its `device.added` packet; the device id."""
    try:
        raw = base64.b64decode(pubkey, validate=True)
    except binascii.Error:
        raw = b""
    if len(raw) != 32:
        raise BadInput("pubkey", "se esperaba una clave Ed25519 pública (32 bytes en base64)")
    row = tx.conn.execute("SELECT device, created_by, expires_at, used FROM web_casilla_codes"
                          " WHERE code_sha256 = ?", (hashlib.sha256(code.encode()).hexdigest(),)).fetchone()
    if row is None or row[3] or row[2] < now:
        raise BadInput("código", "no existe, ya se usó o venció; pida uno nuevo al coordinador")
    device, by = str(row[0]), str(row[1])
    if tx.conn.execute("SELECT 1 FROM web_casilla_devices WHERE id = ?", (device,)).fetchone():
        raise BadInput(f"dispositivo {device}", "ya existe")
    tx.conn.execute("UPDATE web_casilla_codes SET used = 1 WHERE code_sha256 = ?",
                    (hashlib.sha256(code.encode()).hexdigest(),))
    tx.conn.execute("INSERT INTO web_casilla_devices (id, pubkey, created_by, created_at)"
                    " VALUES (?, ?, ?, ?)", (device, pubkey, by, packets.now()))
    tx.append("device.added", {"device": device, "by": by, "pubkey": pubkey,
                               "token_sha256_prefix": hashlib.sha256(raw).hexdigest()[:16]})
    return device


def _revoke(tx: Transaction, device: str, by: str) -> bool:
    row = tx.conn.execute("SELECT active FROM web_casilla_devices WHERE id = ?", (device,)).fetchone()
    if row is None:
        raise BadInput(f"dispositivo {device}", "no existe")
    if not row[0]:
        return False
    tx.conn.execute("UPDATE web_casilla_devices SET active = 0 WHERE id = ?", (device,))
    tx.append("device.revoked", {"device": device, "by": by})
    return True


def phone_link(hq_url: str, node_url: str, node: str, device: str, code: str) -> str:
    """What the QR code holds: HQ's phone page with the enrolment in the fragment (never sent
    to HQ, never in its logs)."""
    payload = json.dumps({"nodo": node_url, "node": node, "device": device, "code": code},
                         separators=(",", ":"))
    return f"{hq_url.rstrip('/')}/casilla/#alta=" + base64.urlsafe_b64encode(payload.encode()).decode()


async def _page(request: web.Request, message: str | None = None, error: str | None = None,
                link: str | None = None, status: int = 200) -> web.Response:
    rows = await request.app[DB].read(_devices)
    qr = segno.make(link, error="m").svg_inline(scale=4) if link else None
    return render(request, "casilla.html", {"devices": rows, "message": message, "error": error,
                                            "link": link, "qr": qr}, status=status)


@require("coordinador")
async def casilla_page(request: web.Request) -> web.StreamResponse:
    return await _page(request)


def _who(request: web.Request) -> str:
    who = clerk(request)
    assert who is not None
    return who.name


@require("coordinador")
async def casilla_code(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    device = str(form.get("dispositivo", "")).strip().lower()
    if not uploads.DEVICE_ID.fullmatch(device):
        return await _page(request, error="Use de 1 a 32 letras minúsculas, dígitos o guiones.", status=400)
    urls = request.app[DATADIR].config.hq.urls
    if not urls:
        return await _page(request, error="Este nodo no tiene HQ configurado ([hq].urls en catd.toml).",
                           status=400)
    code = secrets.token_urlsafe(16)
    try:
        code_sha256 = hashlib.sha256(code.encode()).hexdigest()
        await request.app[DB].write(_new_code, device, code_sha256, _who(request), time.time())
    except BadInput as exc:
        return await _page(request, error=f"{exc.what}: {exc.why}", status=400)
    node_url = f"{request.scheme}://{request.host}"
    link = phone_link(urls[0], node_url, request.app[DATADIR].config.node_id, device, code)
    log.info("casilla enrolment code made device=%s", device)
    return await _page(request, link=link, message=f"Escanee este código con el teléfono {device} "
                       f"(vale una vez, {CODE_TTL_S // 60} minutos).")


@require("coordinador")
async def casilla_revoke(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    device = str(form.get("dispositivo", ""))
    try:
        revoked = await request.app[DB].write(_revoke, device, _who(request))
    except BadInput as exc:
        return await _page(request, error=f"{exc.what}: {exc.why}", status=400)
    return await _page(request, message=f"Teléfono {device} revocado." if revoked
                       else f"El teléfono {device} ya estaba revocado.")


async def enrol_options(request: web.Request) -> web.StreamResponse:
    return web.Response(status=204, headers=CORS)


async def enrol_post(request: web.Request) -> web.StreamResponse:
    """The phone's enrolment: {code, pubkey} → {node, device, actas} (the CATD's catalog keys)."""
    try:
        if (request.content_length or 0) > 4096:
            raise ValueError("más de 4096 bytes")
        doc = json.loads((await request.read()).decode("utf-8"))
        code, pubkey = str(doc["code"]), str(doc["pubkey"])
    except (ValueError, KeyError, TypeError) as exc:
        return web.json_response({"error": "bad_request", "detail": f"se esperaba {{code, pubkey}}: {exc}"},
                                 status=400, headers=CORS)
    try:
        device = await request.app[DB].write(enrol, code, pubkey, time.time())
    except BadInput as exc:
        return web.json_response({"error": "refused", "detail": f"{exc.what}: {exc.why}"}, status=403,
                                 headers=CORS)
    node = request.app[DATADIR].config.node_id
    log.info("casilla device enrolled device=%s", device)
    actas = list(request.app[ELECTION].actas_of(node))
    return web.json_response({"node": node, "device": device, "actas": actas}, headers=CORS)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/casilla", casilla_page)
    app.router.add_post("/casilla", casilla_code)
    app.router.add_post("/casilla/revocar", casilla_revoke)
    app.router.add_route("OPTIONS", "/casilla/alta", enrol_options)
    app.router.add_post("/casilla/alta", enrol_post)
