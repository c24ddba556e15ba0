"""Phone uploads: a device token from the coordinator, streamed into inbox/uploads/<device>/."""

from __future__ import annotations

import re

import aiohttp

from catd_node.web import uploads
from tests.web.conftest import jpeg


async def make_device(coco, device: str = "telefono-1") -> str:
    status, page = await coco.post("/dispositivos", {"dispositivo": device})
    assert status == 200
    m = re.search(r'<code class="token">([^<]+)</code>', page)
    assert m
    return m.group(1)


async def send(client, token: str, name: str, data: bytes, origen: str | None = None) -> tuple[int, str]:
    form = aiohttp.FormData()
    form.add_field("token", token)
    if origen is not None:
        form.add_field("origen", origen)
    form.add_field("file", data, filename=name, content_type="image/jpeg")
    async with client.session.post(f"{client.base}/uploads", data=form) as r:
        return r.status, await r.text()


def files_under(root) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) if root.exists() else []


async def test_an_upload_with_a_good_token_lands_in_the_device_folder(clerks, signed_in, browser):
    coco = await signed_in("coco")
    token = await make_device(coco)
    phone = browser()  # not signed in: the device token is the credential
    data = jpeg(30)
    status, page = await send(phone, token, "DIP-14-01-0123-B01.jpg", data)
    assert status == 201 and "Imagen recibida" in page
    inbox = clerks.inbox / "uploads"
    assert files_under(inbox) == ["telefono-1/DIP-14-01-0123-B01.jpg"]
    assert (inbox / "telefono-1" / "DIP-14-01-0123-B01.jpg").read_bytes() == data
    status, _ = await send(phone, token, "../../../processed/DIP-14-01-0123-B01.jpg", data)
    assert status == 201
    stored = files_under(inbox)
    assert len(stored) == 2 and all(p.startswith("telefono-1/") and p.count("/") == 1 for p in stored)
    assert files_under(clerks.processed) == []
    status, _ = await send(phone, token, "DIP-14-01-0123-B01.jpg", data)
    assert "telefono-1/DIP-14-01-0123-B01-1.jpg" in files_under(inbox)  # never overwrites
    assert token.encode() not in clerks.db_path.read_bytes()  # only the token's hash is stored


async def test_a_bad_or_revoked_token_is_refused_and_nothing_is_written(clerks, signed_in, browser):
    coco = await signed_in("coco")
    token = await make_device(coco)
    phone = browser()
    for bad in ("", "x" * 43, token + "x"):
        status, page = await send(phone, bad, "a.jpg", jpeg(31))
        assert status == 403 and "no válido" in page
    await coco.post("/dispositivos/revocar", {"dispositivo": "telefono-1"})
    status, _ = await send(phone, token, "a.jpg", jpeg(31))
    assert status == 403
    assert files_under(clerks.inbox / "uploads") == []


async def test_too_large_or_wrong_type_leaves_nothing_behind(clerks, signed_in, browser, monkeypatch):
    coco = await signed_in("coco")
    token = await make_device(coco)
    phone = browser()
    monkeypatch.setattr(uploads, "MAX_BYTES", 10_000)
    status, _ = await send(phone, token, "big.jpg", b"\xff\xd8\xff" + b"0" * 20_000)
    assert status == 413
    status, _ = await send(phone, token, "notes.txt", b"hello")
    assert status == 400
    status, _ = await send(phone, token, "empty.jpg", b"")
    assert status == 400
    assert files_under(clerks.inbox / "uploads") == []  # no .upload-*.part left either


async def test_only_the_coordinator_manages_devices(clerks, signed_in):
    ana = await signed_in("ana")
    status, _ = await ana.post("/dispositivos", {"dispositivo": "telefono-9"})
    assert status == 403
    coco = await signed_in("coco")
    status, _ = await coco.post("/dispositivos", {"dispositivo": "../evil"})
    assert status == 400


def test_upload_names_are_sanitised():
    assert uploads.safe_name("../../etc/passwd.jpg") == "passwd.jpg"
    assert uploads.safe_name("..\\..\\boot.ini.png") == "boot.ini.png"
    assert uploads.safe_name(".hidden.jpg") == "hidden.jpg"
    assert uploads.safe_name("foto 1 (copia).JPG") == "foto_1_copia_.JPG"
    assert uploads.safe_name("x.part") is None and uploads.safe_name("") is None


async def test_a_photo_from_the_casilla_records_its_origin_beside_the_image(clerks, signed_in, browser):
    """ORIGEN in the release: the PREP app at the casilla (CASILLA) or a phone at the CATD."""
    coco = await signed_in("coco")
    token = await make_device(coco)
    phone = browser()
    status, page = await send(phone, token, "DIP-14-01-0123-B01.jpg", jpeg(32), origen="casilla")
    assert status == 201, page
    folder = clerks.inbox / "uploads" / "telefono-1"
    assert files_under(folder) == ["DIP-14-01-0123-B01.jpg", "DIP-14-01-0123-B01.jpg.json"]
    assert (folder / "DIP-14-01-0123-B01.jpg.json").read_text() == '{"origen": "CASILLA"}'
    status, page = await send(phone, token, "DIP-14-01-0123-C01.jpg", jpeg(33), origen="=1+1")
    assert status == 400 and "no válido" in page
    assert "DIP-14-01-0123-C01.jpg" not in files_under(folder)
