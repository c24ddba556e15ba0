"""Raw-socket HTTP helpers for the attack tests: deflate bombs, half-open connections, probes.

Requests are written by hand on asyncio streams so the test controls every byte (a body the
client library would refuse to send, a head that never ends, a source address)."""

from __future__ import annotations

import asyncio
import functools
import time
import zlib
from dataclasses import dataclass
from urllib.parse import urlsplit


@functools.cache
def deflate_bomb(inflated_mib: int) -> bytes:
    """A zlib (`Content-Encoding: deflate`) body of zeros inflating to `inflated_mib` MiB.

    Built in milliseconds: after a full flush a deflate block does not refer back, so the
    block for 1 MiB of zeros is repeated; the Adler-32 of n zeros is (n mod 65521) << 16 | 1."""
    mib = 1 << 20
    packer = zlib.compressobj(9)
    first = packer.compress(b"\0" * mib) + packer.flush(zlib.Z_FULL_FLUSH)  # with the zlib header
    block = packer.compress(b"\0" * mib) + packer.flush(zlib.Z_FULL_FLUSH)
    final = b"\x03\x00"  # an empty final block (fixed Huffman)
    adler = ((inflated_mib * mib) % 65521) << 16 | 1
    return first + block * (inflated_mib - 1) + final + adler.to_bytes(4, "big")


def host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    assert parts.hostname and parts.port
    return parts.hostname, parts.port


@dataclass
class Answer:
    status: int
    seconds: float
    head: str


async def request(url: str, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None,
                  *, source: str | None = None, timeout: float = 10.0) -> Answer:
    """One request on a fresh connection (`Connection: close`); its status line and timing.
    A server that closes mid-upload still has its answer read."""
    host, port = host_port(url)
    started = time.monotonic()
    async with asyncio.timeout(timeout):
        reader, writer = await asyncio.open_connection(
            host, port, local_addr=(source, 0) if source else None)
        try:
            lines = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}", "Connection: close",
                     f"Content-Length: {len(body)}"]
            lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
            writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
            sending = asyncio.create_task(_send(writer, body))
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
            sending.cancel()
        finally:
            writer.close()
    return Answer(int(head.split(" ", 2)[1]), time.monotonic() - started, head)


async def _send(writer: asyncio.StreamWriter, body: bytes) -> None:
    try:
        for i in range(0, len(body), 256 * 1024):
            writer.write(body[i:i + 256 * 1024])
            await writer.drain()
    except (ConnectionError, OSError):
        pass  # the server answered and closed before reading it all: that is the point


async def half_open(url: str, count: int, source: str) -> list[asyncio.StreamWriter]:
    """`count` connections from `source`, each with a request head that never ends.
    Connections the server refuses (closed at once) are still returned; close them all."""
    host, port = host_port(url)
    held: list[asyncio.StreamWriter] = []
    for _ in range(count):
        try:
            async with asyncio.timeout(1):
                _, writer = await asyncio.open_connection(host, port, local_addr=(source, 0))
        except (OSError, TimeoutError):
            break  # the listen backlog is full (the server no longer accepts): enough
        writer.write(f"GET /login HTTP/1.1\r\nHost: {host}\r\nX-Slow: ".encode())
        held.append(writer)
    return held


def close_all(writers: list[asyncio.StreamWriter]) -> None:
    for w in writers:
        w.close()
