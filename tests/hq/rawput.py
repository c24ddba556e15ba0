"""A blob PUT written by hand over a socket, so a test decides when each byte reaches HQ, and
the checks the upload attack tests share (what is on disk, what HEAD says)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp

from catd_node.datadir import DataDir
from hq.store import HQDir
from sync import protocol
from tests.hqkit import blob_headers


class RawPut:
    """PUT /v1/blobs/{sha} with `headers` and a body of `content_length` bytes, sent piecewise."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.answer: asyncio.Task[tuple[int, dict[str, str], dict[str, Any]]] = (
            asyncio.ensure_future(self._read_answer()))

    @classmethod
    async def open(cls, url: str, sha: str, headers: dict[str, str], content_length: int) -> RawPut:
        host, port = url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        lines = [f"PUT {protocol.blob_path(sha)} HTTP/1.1", "Host: hq", f"Content-Length: {content_length}",
                 *(f"{k}: {v}" for k, v in headers.items())]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        await writer.drain()
        return cls(reader, writer)

    async def send(self, data: bytes) -> bool:
        """Send body bytes; False when HQ has already closed the connection."""
        try:
            self.writer.write(data)
            await self.writer.drain()
        except (ConnectionError, OSError):
            return False
        return True

    async def _read_answer(self) -> tuple[int, dict[str, str], dict[str, Any]]:
        head = await self.reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        headers = dict(line.split(": ", 1) for line in header_lines if ": " in line)
        body = await self.reader.readexactly(int(headers.get("Content-Length", "0")))
        status = int(status_line.split()[1])
        if headers.get("Content-Type", "").startswith("application/json"):
            return status, headers, json.loads(body)
        return status, headers, {"text": body.decode("utf-8", "replace")}

    def close(self) -> None:
        self.answer.cancel()
        self.writer.transport.abort()


async def open_put(url: str, node: DataDir, sha: str, offset: int, total: int, body_bytes: int) -> RawPut:
    """A PUT signed by `node` promising `body_bytes` bytes from `offset` of a `total`-byte blob."""
    return await RawPut.open(url, sha, blob_headers(node, "PUT", sha, offset, total), body_bytes)


async def signed_head(url: str, node: DataDir, sha: str) -> tuple[int, str | None]:
    """(status, Upload-Offset) of `node`'s signed HEAD of blob `sha`."""
    async with aiohttp.ClientSession() as session:
        headers = blob_headers(node, "HEAD", sha)
        async with session.head(url + protocol.blob_path(sha), headers=headers) as resp:
            return resp.status, resp.headers.get(protocol.UPLOAD_OFFSET)


async def signed_put(url: str, node: DataDir, sha: str, data: bytes, total: int,
                     offset: int = 0) -> tuple[int, dict[str, Any], dict[str, str]]:
    """`node`'s signed PUT of `data` from `offset`: (status, JSON body, headers)."""
    async with aiohttp.ClientSession() as session:
        async with session.put(url + protocol.blob_path(sha), data=data,
                               headers=blob_headers(node, "PUT", sha, offset, total)) as resp:
            body = await resp.json() if resp.content_type == "application/json" else {}
            return resp.status, body, dict(resp.headers)


def files_of_size(hq: HQDir, size: int) -> list[Path]:
    """Files under HQ's uploads directory holding exactly `size` bytes (what a writer flushed)."""
    found = []
    for path in hq.uploads_dir.rglob("*"):
        try:
            if path.is_file() and path.stat().st_size == size:
                found.append(path)
        except FileNotFoundError:  # renamed or removed while we looked
            pass
    return found


async def head_is_truthful(url: str, node: DataDir, hq: HQDir, sha: str) -> int:
    """HEAD's status; when it says 200 (stored), the stored file must hash to its name."""
    status, _ = await signed_head(url, node, sha)
    if status == 200:
        problem = hq.blobs().problem(sha)
        assert problem is None, f"HEAD says 200 but the stored file is bad: {problem}"
    return status
