"""Phone uploads: a device token from the coordinator, streamed into inbox/uploads/<device>/."""

from __future__ import annotations

import re
from pathlib import PurePosixPath

import aiohttp

from catd_node.web import uploads
from tests.web.conftest import jpeg


async def make_device(coco, device: str = "telefono-1") -> str:
    status, page = await coco.post("/dispositivos", {"dispositivo": device})
    assert status == 200
    m = re.search(r'<code class="token">([^<]+)</code>', page)
    assert m
    return m.group(1)


async def send(client, token: str, name: str, data: bytes) -> tuple[int, str]:
    form = aiohttp.FormData()
    form.add_field("token", token)
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


async def send_from(client, token: str, name: str, data: bytes, origen: str) -> tuple[int, str]:
    form = aiohttp.FormData()
    form.add_field("token", token)
    form.add_field("origen", origen)
    form.add_field("file", data, filename=name, content_type="image/jpeg")
    async with client.session.post(f"{client.base}/uploads", data=form) as r:
        return r.status, await r.text()


async def test_a_phone_at_the_casilla_says_so_and_the_scanner_reads_it(clerks, signed_in, browser):
    """ORIGEN CASILLA (LEEME_G field 44: the PREP Casilla app): the upload says where the photo
    was taken, and the image's sidecar carries it to the scan service, whole before the image."""
    from scanners.claim import Claimed, Source
    from scanners.ingest import origin

    coco = await signed_in("coco")
    token = await make_device(coco)
    phone = browser()
    _, form = await phone.get("/uploads")
    assert 'name="origen"' in form and 'value="CASILLA"' in form
    status, _ = await send_from(phone, token, "foto.jpg", jpeg(40), "CASILLA")
    assert status == 201
    status, _ = await send_from(phone, token, "foto.jpg", jpeg(41), "CATD")
    assert status == 201
    status, page = await send_from(phone, token, "otra.jpg", jpeg(42), "LA LUNA")
    assert status == 400 and "origen" in page.lower()
    folder = clerks.inbox / "uploads" / "telefono-1"
    assert files_under(folder) == ["foto-1.jpg", "foto-1.jpg.json", "foto.jpg", "foto.jpg.json"]
    for name, said in (("foto.jpg", "CASILLA"), ("foto-1.jpg", "CATD")):
        claimed = Claimed(folder, Source("upload", "telefono-1"), "t", PurePosixPath(name), f"{name}.json")
        sidecar = (folder / f"{name}.json").read_text(encoding="utf-8")
        assert origin(claimed, sidecar) == (said, "MOVIL")
