"""Passwords anyone would guess are refused, in the web app and the CLI (issue 14)."""

from __future__ import annotations

import io
import sys

import pytest

from catd_node import cli
from catd_node.errors import BadInput
from catd_node.web import users

WEAK = ["12345678", "password", "Password123", "contraseña", "CONTRASENA", "contraseña1",
        "Contraseña2024!", "qwertyuiop", "aaaaaaaa", "12121212", "mexico2024", "tequiero123",
        "prep2024!", "capturista"]


@pytest.mark.parametrize("password", WEAK)
def test_common_passwords_are_refused(password):
    with pytest.raises(BadInput, match="contraseña"):
        users.check_new("lupita", "capturista", password)


@pytest.mark.parametrize("password", ["lupita2024", "LUPITA!!", "atipul123", "lupitalupita", "Lupita.Pérez1"])
def test_the_users_own_name_is_refused(password):
    name = "Lupita.Perez" if "." in password else "lupita"
    with pytest.raises(BadInput, match="nombre"):
        users.check_new(name, "capturista", password)


@pytest.mark.parametrize("password", ["una-clave-muy-larga", "verde caballo pila", "lupita-y-su-perro-7",
                                      "Tq8#mZ2!vL", "contraseña-segura"])
def test_reasonable_passwords_pass(password):
    assert users.check_new("lupita", "capturista", password) == "lupita"


async def test_the_coordinator_cannot_give_a_common_password(clerks, signed_in):
    coco = await signed_in("coco")
    form = {"nombre": "lupe", "rol": "capturista"}
    status, page = await coco.post("/usuarios", {**form, "contrasena": "12345678"})
    assert status == 400 and "más comunes" in page
    status, page = await coco.post("/usuarios", {**form, "contrasena": "lupe1234"})
    assert status == 400 and "nombre" in page
    assert users.get(clerks.reader(), "lupe") is None


def test_the_cli_refuses_a_common_password(node_dir, monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.StringIO("contraseña123\n"))
    assert cli.main(["user", "add", "-d", str(node_dir.root), "lupita", "--role", "verificador"]) == 2
    assert "más comunes" in capsys.readouterr().err
    assert users.get(node_dir.reader(), "lupita") is None
