"""Phone uploads on the LAN: a per-device token, streamed to inbox/uploads/<device>/ with a limit.

The file is written as `.upload-*.part` (the scanner service ignores such names) and renamed to
its final name only when complete and synced, so the scanner never ingests half a file.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import re
import secrets
import sqlite3
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import BinaryIO

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from catd_node import keys_format
from catd_node.blobs import fsync_dir
from catd_node.web.state import DATADIR, DB, render

ORIGENES = ("CATD", "CASILLA")
log = logging.getLogger("catd.web.uploads")
MAX_BYTES = 30 * 1024 * 1024
READ_TIMEOUT_S = 120
EXTENSIONS = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
DEVICE_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,31}")


def new_token() -> tuple[str, str]:
    token = secrets.token_urlsafe(32)
    return token, hashlib.sha256(token.encode()).hexdigest()


def device_for(conn: sqlite3.Connection, token: str) -> str | None:
    if not token or len(token) > 128:
        return None
    row = conn.execute("SELECT id FROM web_devices WHERE token_sha256 = ? AND active = 1",
                       (hashlib.sha256(token.encode()).hexdigest(),)).fetchone()
    return row[0] if row else None


def safe_name(raw: str | None) -> str | None:
    """A final file name from what the phone sent: base name, safe characters, a known image type."""
    base = (raw or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = _UNSAFE.sub("_", base).lstrip("._-")[:100]
    if not name or not name.lower().endswith(EXTENSIONS):
        return None
    return name


async def upload_form(request: web.Request) -> web.StreamResponse:
    return render(request, "uploads.html", {"message": None, "error": None})


def _error(request: web.Request, text: str, status: int) -> web.Response:
    return render(request, "uploads.html", {"message": None, "error": text}, status=status)


async def upload(request: web.Request) -> web.StreamResponse:
    """POST multipart: `token` first, then `file`; nothing is written before the token checks out."""
    token = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    if request.content_type != "multipart/form-data":
        return _error(request, "Envíe la imagen en un formulario multipart/form-data.", 415)
    try:
        async with asyncio.timeout(READ_TIMEOUT_S):
            reader = await request.multipart()
            part = await reader.next()
            if isinstance(part, BodyPartReader) and part.name == "token":
                # decode=False: a part's own Content-Encoding is never inflated (netguard.py)
                token = (await part.read(decode=False))[:200].decode("utf-8", "replace").strip()
                part = await reader.next()
            device = await request.app[DB].read(device_for, token)
            if device is None:
                log.warning("upload refused: bad device token ip=%s", request.remote)
                return _error(request, "Token de dispositivo no válido.", 403)
            origen = None
            if isinstance(part, BodyPartReader) and part.name == "origen":
                # Where the acta was photographed: CATD (a phone at this CATD) or CASILLA (the
                # PREP app at the polling station); the release publishes it as ORIGEN.
                said = (await part.read(decode=False))[:20].decode("utf-8", "replace").strip().upper()
                if said not in ORIGENES:
                    return _error(request, f"Origen «{said[:20]}» no válido: CATD o CASILLA.", 400)
                origen = said
                part = await reader.next()
            if not isinstance(part, BodyPartReader) or part.name != "file":
                return _error(request, "Falta el archivo.", 400)
            name = safe_name(part.filename)
            if name is None:
                return _error(request, "Tipo de archivo no admitido (JPEG, PNG, TIFF o WebP).", 400)
            folder = request.app[DATADIR].inbox / "uploads" / device

            async def still_allowed() -> bool:  # revoked while the image streamed: not stored
                return await request.app[DB].read(device_for, token) == device

            final = await _store(part, folder, name, origen, still_allowed)
    except TimeoutError:
        return _error(request, "La carga tardó demasiado.", 408)
    except (_Truncated, ValueError, LookupError, HttpProcessingError) as exc:  # aiohttp's parser's errors
        log.warning("upload refused: malformed multipart ip=%s: %s", request.remote, str(exc)[:120])
        return _error(request, "El envío llegó dañado o incompleto; vuelva a enviar la imagen.", 400)
    except _Empty:
        return _error(request, "El archivo está vacío.", 400)
    except _Revoked:
        log.warning("upload refused: device %s revoked during the upload ip=%s", device, request.remote)
        return _error(request, "Token de dispositivo no válido.", 403)
    except _TooLarge:
        return _error(request, f"El archivo excede {MAX_BYTES // (1024 * 1024)} MB.", 413)
    log.info("upload stored device=%s file=%s", device, final.name)
    return render(request, "uploads.html", {"message": received_message(name, final.name), "error": None},
                  status=201)


def received_message(name: str, stored: str) -> str:
    """What the phone is told. The image is always kept (lose nothing); a file name that is not
    an acta key is only never taken as one (issue 12), so the image waits for a clerk."""
    stem = name.rpartition(".")[0]
    text = f"Imagen recibida: {stored}."
    if not keys_format.looks_like_acta_key(stem):
        text += (f" «{stem}» no es una clave de acta: si la imagen no tiene un código QR legible,"
                 " un capturista la identificará.")
    return text


class _TooLarge(Exception):
    pass


class _Empty(Exception):
    pass


class _Revoked(Exception):
    """The device was revoked while its upload streamed."""


class _Truncated(Exception):
    """The body ended inside the file part (no closing boundary): never store half an image."""


async def _store(part: BodyPartReader, folder: Path, name: str, origen: str | None,
                 still_allowed: Callable[[], Awaitable[bool]]) -> Path:
    """The part streamed to a temp file, then given its final name — only if the device is
    still allowed then (the token was checked before the first byte; a coordinator may have
    revoked it since, and the scanner takes whatever gets a final name)."""
    loop = asyncio.get_running_loop()
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".upload-", suffix=".part", dir=folder)
    tmp = Path(tmp_name)
    size = 0
    try:
        with os.fdopen(fd, "wb") as out:
            while chunk := await part.read_chunk(256 * 1024):
                size += len(chunk)
                if size > MAX_BYTES:
                    raise _TooLarge
                await loop.run_in_executor(None, out.write, chunk)
            if not part.at_eof():
                raise _Truncated("no closing boundary after the file")
            await loop.run_in_executor(None, _sync, out)
        if size == 0:
            raise _Empty
        if not await still_allowed():
            raise _Revoked
        return await loop.run_in_executor(None, _publish, tmp, folder, name, origen)
    finally:
        tmp.unlink(missing_ok=True)


def _sync(out: BinaryIO) -> None:
    out.flush()
    os.fsync(out.fileno())


def _publish(tmp: Path, folder: Path, name: str, origen: str | None = None) -> Path:
    """Link the finished temp file to a free final name (never overwriting), then drop the temp.
    A phone's origen goes first into the sidecar `NAME.json` (scanners read it when the image is
    taken: a rename into the folder is taken at once, so the sidecar must already be there)."""
    stem, dot, ext = name.rpartition(".")
    for n in range(1000):
        final = folder / (name if n == 0 else f"{stem}-{n}{dot}{ext}")
        sidecar = final.with_name(final.name + ".json")
        if origen is not None:
            if final.exists() or sidecar.exists():
                continue
            _write_sidecar(sidecar, origen)
        try:
            os.link(tmp, final)
        except FileExistsError:
            if origen is not None:
                sidecar.unlink(missing_ok=True)
            continue
        fsync_dir(folder)
        return final
    raise FileExistsError(name)


def _write_sidecar(path: Path, origen: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")   # a dot name: the scanner waits for its rename
    try:
        with tmp.open("w", encoding="utf-8") as out:
            out.write(json.dumps({"origen": origen}))
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
