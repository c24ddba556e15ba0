"""Every administrative act is a signed packet naming who did it: a coordinator cannot mint
accounts or phone devices, change roles or switch accounts on and off unseen."""

from __future__ import annotations

import getpass
import hashlib
import io
import json
import re
import sys

from catd_node import cli, store
from catd_node.datadir import DataDir
from tests.web.conftest import PASSWORD


def packets_after(datadir: DataDir, seq: int) -> list[tuple[int, str, dict]]:
    """(seq, kind, body) of every packet after `seq`."""
    conn = store.connect(datadir.db_path)
    try:
        rows = conn.execute("SELECT seq, kind, canonical FROM packets WHERE seq > ? ORDER BY seq", (seq,))
        return [(s, kind, json.loads(bytes(data))["body"]) for s, kind, data in rows]
    finally:
        conn.close()


def head(datadir: DataDir) -> int:
    conn = store.connect(datadir.db_path)
    try:
        return int(conn.execute("SELECT COALESCE(MAX(seq), 0) FROM packets").fetchone()[0])
    finally:
        conn.close()


def all_packet_bytes(datadir: DataDir) -> bytes:
    conn = store.connect(datadir.db_path)
    try:
        return b"\n".join(bytes(row[0]) for row in conn.execute("SELECT canonical FROM packets"))
    finally:
        conn.close()


async def act(datadir: DataDir, browser, path: str, form: dict[str, str]) -> tuple[str, dict, str]:
    """POST one admin form; exactly one packet must follow. Returns (kind, body, page)."""
    before = head(datadir)
    status, page = await browser.post(path, form)
    assert status == 200, page
    new = packets_after(datadir, before)
    assert len(new) == 1, new
    _, kind, body = new[0]
    return kind, body, page


async def test_a_coordinator_minting_two_accounts_is_in_the_ledger(clerks, signed_in):
    """The attack: coco creates two accounts to capture and verify alone. Before, nothing in the
    ledger showed it; now each account is a packet naming coco, the account and its role."""
    coco = await signed_in("coco")
    before = head(clerks)
    for name, role in (("fantasma1", "capturista"), ("fantasma2", "verificador")):
        form = {"nombre": name, "rol": role, "contrasena": "clave-fantasma"}
        status, page = await coco.post("/usuarios", form)
        assert status == 200 and f"Cuenta {name} creada" in page
    assert [(kind, body) for _, kind, body in packets_after(clerks, before)] == [
        ("user.added", {"user": "fantasma1", "role": "capturista", "by": "coco"}),
        ("user.added", {"user": "fantasma2", "role": "verificador", "by": "coco"}),
    ]
    stored = all_packet_bytes(clerks)
    assert b"clave-fantasma" not in stored and b"argon2" not in stored  # no password, no hash


async def test_each_admin_act_is_one_packet_naming_the_coordinator(clerks, signed_in):
    coco = await signed_in("coco")
    kind, body, _ = await act(clerks, coco, "/usuarios", {"nombre": "lupe", "rol": "capturista",
                                                          "contrasena": "clave-de-lupe"})
    assert (kind, body) == ("user.added", {"user": "lupe", "role": "capturista", "by": "coco"})
    kind, body, _ = await act(clerks, coco, "/usuarios/estado", {"nombre": "ana", "activo": "0"})
    assert (kind, body) == ("user.disabled", {"user": "ana", "by": "coco"})
    kind, body, _ = await act(clerks, coco, "/usuarios/estado", {"nombre": "ana", "activo": "1"})
    assert (kind, body) == ("user.enabled", {"user": "ana", "by": "coco"})
    kind, body, page = await act(clerks, coco, "/usuarios/rol", {"nombre": "ana", "rol": "verificador"})
    assert (kind, body) == ("user.role_changed", {"user": "ana", "role": "verificador", "from": "capturista",
                                                  "by": "coco"})
    assert "Cuenta ana: ahora Verificador(a)." in page
    kind, body, page = await act(clerks, coco, "/dispositivos", {"dispositivo": "telefono-1"})
    token = re.search(r'<code class="token">([^<]+)</code>', page)
    assert token
    assert (kind, body) == ("device.added", {
        "device": "telefono-1", "by": "coco",
        "token_sha256_prefix": hashlib.sha256(token.group(1).encode()).hexdigest()[:16]})
    kind, body, _ = await act(clerks, coco, "/dispositivos/revocar", {"dispositivo": "telefono-1"})
    assert (kind, body) == ("device.revoked", {"device": "telefono-1", "by": "coco"})
    secret = token.group(1).encode()
    stored = all_packet_bytes(clerks)  # a fingerprint prefix only, never the token or its full hash
    assert secret not in stored and hashlib.sha256(secret).hexdigest().encode() not in stored


async def test_the_new_role_takes_effect_at_once(clerks, signed_in):
    ana = await signed_in("ana")
    status, _ = await ana.get("/verificacion")
    assert status == 403
    coco = await signed_in("coco")
    await act(clerks, coco, "/usuarios/rol", {"nombre": "ana", "rol": "verificador"})
    status, _ = await ana.get("/verificacion")
    assert status == 200


async def test_refused_or_empty_admin_acts_leave_no_packet(clerks, signed_in):
    coco = await signed_in("coco")
    before = head(clerks)
    for path, form, status_wanted in [
        ("/usuarios", {"nombre": "ana", "rol": "capturista", "contrasena": "otra-clave-larga"}, 400),
        ("/usuarios/estado", {"nombre": "coco", "activo": "0"}, 400),
        ("/usuarios/estado", {"nombre": "nadie", "activo": "0"}, 400),
        ("/usuarios/estado", {"nombre": "ana", "activo": "1"}, 200),  # already active: no change
        ("/usuarios/rol", {"nombre": "coco", "rol": "capturista"}, 400),
        ("/usuarios/rol", {"nombre": "ana", "rol": "jefe"}, 400),
        ("/usuarios/rol", {"nombre": "ana", "rol": "capturista"}, 200),  # same role: no change
        ("/dispositivos/revocar", {"dispositivo": "telefono-9"}, 400),
    ]:
        status, page = await coco.post(path, form)
        assert status == status_wanted, (path, form, page)
    assert packets_after(clerks, before) == []
    ana = await signed_in("ana")  # ana was never switched off
    status, _ = await ana.post("/usuarios/rol", {"nombre": "ana", "rol": "coordinador"})
    assert status == 403


def test_cli_user_add_is_a_packet_naming_the_os_user(node_dir, monkeypatch, capsys):
    before = head(node_dir)
    monkeypatch.setattr(sys, "stdin", io.StringIO(PASSWORD + "\n"))
    assert cli.main(["user", "add", "-d", str(node_dir.root), "lupita", "--role", "verificador"]) == 0
    assert [(kind, body) for _, kind, body in packets_after(node_dir, before)] == [
        ("user.added", {"user": "lupita", "role": "verificador", "by": f"cli:{getpass.getuser()}"})]
    monkeypatch.setattr(sys, "stdin", io.StringIO(PASSWORD + "\n"))
    assert cli.main(["user", "add", "-d", str(node_dir.root), "lupita", "--role", "capturista"]) == 2
    assert "ya existe" in capsys.readouterr().err
    assert len(packets_after(node_dir, before)) == 1  # the refused add left nothing
