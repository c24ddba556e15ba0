"""What the phone page does, in Python: the same signed requests (tests, rehearsal, benchmark).

`send` asks HQ how much of the photo it holds (HEAD), then PUTs the rest in CHUNK_BYTES
pieces, each with the statement and its signature; it returns HQ's last JSON answer."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from typing import Any

import aiohttp
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from catd_node import packets
from sync import casilla_protocol as cp
from sync import protocol


def pubkey_b64(key: Ed25519PrivateKey) -> str:
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode("ascii")


@dataclass
class Signed:
    sha256: str
    statement: bytes
    sig: str

    def headers(self) -> dict[str, str]:
        return {cp.STATEMENT_HEADER: base64.b64encode(self.statement).decode("ascii"),
                cp.SIGNATURE_HEADER: self.sig}


def sign(key: Ed25519PrivateKey, device: str, node: str, acta: str, data: bytes,
         taken_at: str | None = None) -> Signed:
    sha = hashlib.sha256(data).hexdigest()
    statement = cp.make_statement(acta, sha, len(data), taken_at or packets.now(), device, node)
    return Signed(sha, statement, cp.sign_statement(key, statement))


async def send(session: aiohttp.ClientSession, url: str, signed: Signed, data: bytes,
               chunk: int = cp.CHUNK_BYTES) -> tuple[int, dict[str, Any]]:
    """(status, JSON) of the last request; a refusal is returned at once, not raised."""
    path = url + cp.PHOTO_PATH.format(sha256=signed.sha256)
    async with session.head(path, headers=signed.headers()) as resp:
        # a refused HEAD has no body: the PUT from 0 then names the refusal
        held = int(resp.headers.get(protocol.UPLOAD_OFFSET, "0")) if resp.status in (200, 404) else 0
    if held >= len(data):
        held = 0 if held > len(data) else held
    while True:
        piece = data[held:held + chunk]
        headers = {**signed.headers(), protocol.UPLOAD_OFFSET: str(held),
                   protocol.UPLOAD_LENGTH: str(len(data))}
        async with session.put(path, data=piece, headers=headers) as resp:
            answer = await resp.json()
            if resp.status != 202:
                return resp.status, answer
            held = int(answer["offset"])
