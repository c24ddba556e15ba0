"""Coordinator pages: add, disable, re-enable clerk accounts and change their roles; create and
revoke upload devices. Each act is one packet naming the coordinator, committed with its row
(users.add/switch/change_role, _add_device, _revoke_device)."""

from __future__ import annotations

import logging
import sqlite3

from aiohttp import web

from catd_node import packets
from catd_node.errors import BadInput
from catd_node.ledger import Transaction
from catd_node.web import uploads, users
from catd_node.web.state import DB, HASHER, clerk, render, require

log = logging.getLogger("catd.web.admin")


async def _users_page(request: web.Request, message: str | None = None, error: str | None = None,
                      status: int = 200) -> web.Response:
    rows = await request.app[DB].read(users.all_users)
    return render(request, "users.html", {"users": rows, "roles": users.ROLE_LABELS, "message": message,
                                          "error": error}, status=status)


@require("coordinador")
async def users_page(request: web.Request) -> web.StreamResponse:
    return await _users_page(request)


def _coordinator(request: web.Request) -> str:
    who = clerk(request)
    assert who is not None  # @require put a coordinator here
    return who.name


@require("coordinador")
async def users_add(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    name, role, password = (str(form.get(k, "")) for k in ("nombre", "rol", "contrasena"))
    try:
        name = users.check_new(name, role, password)
        password_hash = await request.app[HASHER].hash(password)
        await request.app[DB].write(users.add, name, role, password_hash, _coordinator(request))
    except BadInput as exc:
        return await _users_page(request, error=f"{exc.what}: {exc.why}", status=400)
    log.info("user added role=%s", role)
    return await _users_page(request, message=f"Cuenta {name} creada ({users.ROLE_LABELS[role]}).")


@require("coordinador")
async def users_state(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    name, active = str(form.get("nombre", "")), form.get("activo") == "1"
    by = _coordinator(request)
    if name == by and not active:
        return await _users_page(request, error="No puede desactivar su propia cuenta.", status=400)
    try:
        changed = await request.app[DB].write(users.switch, name, active, by)
    except BadInput as exc:
        return await _users_page(request, error=f"{exc.what}: {exc.why}", status=400)
    state = "activada" if active else "desactivada"
    return await _users_page(request, message=f"Cuenta {name} {state}." if changed
                             else f"La cuenta {name} ya estaba {state}.")


@require("coordinador")
async def users_role(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    name, role = str(form.get("nombre", "")), str(form.get("rol", ""))
    by = _coordinator(request)
    if name == by:  # a coordinator cannot step down and leave the CATD without one
        return await _users_page(request, error="No puede cambiar el rol de su propia cuenta.", status=400)
    try:
        old = await request.app[DB].write(users.change_role, name, role, by)
    except BadInput as exc:
        return await _users_page(request, error=f"{exc.what}: {exc.why}", status=400)
    label = users.ROLE_LABELS[role]
    log.info("user role changed role=%s", role)
    return await _users_page(request, message=f"Cuenta {name}: ahora {label}." if old
                             else f"La cuenta {name} ya era {label}.")


def _devices(conn: sqlite3.Connection) -> list[tuple[str, str, str, bool]]:
    rows = conn.execute("SELECT id, created_by, created_at, active FROM web_devices ORDER BY id")
    return [(r[0], r[1], r[2], bool(r[3])) for r in rows]


def _add_device(tx: Transaction, device: str, token_sha256: str, by: str) -> None:
    """The device row and its `device.added` packet: a prefix of the token's SHA-256 lets an
    auditor tell devices apart; the token (the phone's credential) never enters the ledger."""
    if tx.conn.execute("SELECT 1 FROM web_devices WHERE id = ?", (device,)).fetchone():
        raise BadInput(f"dispositivo {device}", "ya existe")
    tx.conn.execute("INSERT INTO web_devices (id, token_sha256, created_by, created_at, active)"
                    " VALUES (?, ?, ?, ?, 1)", (device, token_sha256, by, packets.now()))
    tx.append("device.added", {"device": device, "token_sha256_prefix": token_sha256[:16], "by": by})


def _revoke_device(tx: Transaction, device: str, by: str) -> bool:
    """Revoke with a `device.revoked` packet; False, and no packet, when already revoked."""
    row = tx.conn.execute("SELECT active FROM web_devices WHERE id = ?", (device,)).fetchone()
    if row is None:
        raise BadInput(f"dispositivo {device}", "no existe")
    if not row[0]:
        return False
    tx.conn.execute("UPDATE web_devices SET active = 0 WHERE id = ?", (device,))
    tx.append("device.revoked", {"device": device, "by": by})
    return True


async def _devices_page(request: web.Request, message: str | None = None, token: str | None = None,
                        error: str | None = None, status: int = 200) -> web.Response:
    rows = await request.app[DB].read(_devices)
    return render(request, "devices.html", {"devices": rows, "message": message, "token": token,
                                            "error": error}, status=status)


@require("coordinador")
async def devices_page(request: web.Request) -> web.StreamResponse:
    return await _devices_page(request)


@require("coordinador")
async def devices_add(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    device = str(form.get("dispositivo", "")).strip().lower()
    if not uploads.DEVICE_ID.fullmatch(device):
        return await _devices_page(request, error="Use de 1 a 32 letras minúsculas, dígitos o guiones.",
                                   status=400)
    token, token_sha256 = uploads.new_token()
    try:
        await request.app[DB].write(_add_device, device, token_sha256, _coordinator(request))
    except BadInput as exc:
        return await _devices_page(request, error=f"{exc.what}: {exc.why}", status=400)
    log.info("device added id=%s", device)
    return await _devices_page(request, message=f"Dispositivo {device} creado. Copie el token ahora:"
                               " no se volverá a mostrar.", token=token)


@require("coordinador")
async def devices_revoke(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    device = str(form.get("dispositivo", ""))
    try:
        revoked = await request.app[DB].write(_revoke_device, device, _coordinator(request))
    except BadInput as exc:
        return await _devices_page(request, error=f"{exc.what}: {exc.why}", status=400)
    return await _devices_page(request, message=f"Dispositivo {device} revocado." if revoked
                               else f"El dispositivo {device} ya estaba revocado.")
