"""Coordinator pages: add and disable clerk accounts; create and revoke upload devices."""

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


def _insert_user(tx: Transaction, name: str, role: str, password_hash: str) -> None:
    users.insert(tx.conn, name, role, password_hash)


def _set_active(tx: Transaction, name: str, active: bool) -> None:
    users.set_active(tx.conn, name, active)


@require("coordinador")
async def users_add(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    name, role, password = (str(form.get(k, "")) for k in ("nombre", "rol", "contrasena"))
    try:
        name = users.check_new(name, role, password)
        password_hash = await request.app[HASHER].hash(password)
        await request.app[DB].write(_insert_user, name, role, password_hash)
    except BadInput as exc:
        return await _users_page(request, error=f"{exc.what}: {exc.why}", status=400)
    log.info("user added role=%s", role)
    return await _users_page(request, message=f"Cuenta {name} creada ({users.ROLE_LABELS[role]}).")


@require("coordinador")
async def users_state(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    name, active = str(form.get("nombre", "")), form.get("activo") == "1"
    who = clerk(request)
    if who and name == who.name and not active:
        return await _users_page(request, error="No puede desactivar su propia cuenta.", status=400)
    try:
        await request.app[DB].write(_set_active, name, active)
    except BadInput as exc:
        return await _users_page(request, error=f"{exc.what}: {exc.why}", status=400)
    return await _users_page(request, message=f"Cuenta {name} {'activada' if active else 'desactivada'}.")


def _devices(conn: sqlite3.Connection) -> list[tuple[str, str, str, bool]]:
    rows = conn.execute("SELECT id, created_by, created_at, active FROM web_devices ORDER BY id")
    return [(r[0], r[1], r[2], bool(r[3])) for r in rows]


def _add_device(tx: Transaction, device: str, token_sha256: str, by: str) -> None:
    if tx.conn.execute("SELECT 1 FROM web_devices WHERE id = ?", (device,)).fetchone():
        raise BadInput(f"dispositivo {device}", "ya existe")
    tx.conn.execute("INSERT INTO web_devices (id, token_sha256, created_by, created_at, active)"
                    " VALUES (?, ?, ?, ?, 1)", (device, token_sha256, by, packets.now()))


def _revoke_device(tx: Transaction, device: str) -> None:
    tx.conn.execute("UPDATE web_devices SET active = 0 WHERE id = ?", (device,))


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
    who = clerk(request)
    assert who is not None
    try:
        await request.app[DB].write(_add_device, device, token_sha256, who.name)
    except BadInput as exc:
        return await _devices_page(request, error=f"{exc.what}: {exc.why}", status=400)
    log.info("device added id=%s", device)
    return await _devices_page(request, message=f"Dispositivo {device} creado. Copie el token ahora:"
                               " no se volverá a mostrar.", token=token)


@require("coordinador")
async def devices_revoke(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    device = str(form.get("dispositivo", ""))
    await request.app[DB].write(_revoke_device, device)
    return await _devices_page(request, message=f"Dispositivo {device} revocado.")
