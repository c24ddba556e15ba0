"""A real TCP proxy on 127.0.0.1 between the node and HQ that injects the faults of a CATD link.

HTTP-aware just enough to act per request: it reads each request on a client connection
(head + Content-Length body), picks the first scripted `Fault` that matches it (method,
path), and then passes it, delays it, drops it mid-request or mid-response, resets the
connection (RST via SO_LINGER 0), answers 500, answers a truncated JSON body, or answers a
captive portal's HTML 200. Unmatched requests pass. `seen` records what happened.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import socket
import struct
from dataclasses import dataclass, field
from urllib.parse import urlsplit

PASS = "pass"
DELAY = "delay"                   # wait `delay` seconds, then pass
DROP_REQUEST = "drop_request"     # forward `after_bytes` of the request upstream, then close both
DROP_RESPONSE = "drop_response"   # forward the request, relay `after_bytes` of the answer, close
RESET = "reset"                   # RST the client connection; nothing reaches HQ
ANSWER_500 = "answer_500"         # answer 500 without forwarding
TRUNCATE = "truncate"             # forward; relay the answer with its body cut in half
PORTAL = "portal"                 # answer a captive portal's HTML 200 without forwarding
STALL = "stall"                   # forward `after_bytes` of the request, then hold until HQ goes away
ACTIONS = (PASS, DELAY, DROP_REQUEST, DROP_RESPONSE, RESET, ANSWER_500, TRUNCATE, PORTAL, STALL)

PORTAL_PAGE = (b"<!DOCTYPE html><html><head><title>Red de invitados</title></head><body>"
               b"<h1>Bienvenido</h1><p>Acepte los terminos para navegar.</p>"
               b"<form action='/login'><button>Aceptar</button></form></body></html>")


@dataclass
class Fault:
    action: str
    method: str | None = None       # match this HTTP method (None: any)
    path: str | None = None         # match paths containing this text (None: any)
    times: int = 1                  # fire this many times (then the rule is spent)
    after_bytes: int = 0            # for drops: bytes let through first
    delay: float = 0.0              # for DELAY

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ValueError(f"unknown fault action {self.action!r}")

    def matches(self, method: str, path: str) -> bool:
        return (self.times > 0 and (self.method is None or self.method == method)
                and (self.path is None or self.path in path))


@dataclass
class Seen:
    method: str
    path: str
    action: str
    headers: dict[str, str] = field(default_factory=dict)
    answered: bool = False  # HQ's whole answer was relayed to the node


class FaultProxy:
    """`async with FaultProxy(upstream_url) as proxy:` → `proxy.url`; `proxy.script(...)`."""

    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        self.upstream_host = parts.hostname or "127.0.0.1"
        self.upstream_port = parts.port or 80
        self.faults: list[Fault] = []
        self.seen: list[Seen] = []
        self.server: asyncio.Server | None = None
        self.url = ""
        self._tasks: set[asyncio.Task[None]] = set()

    def script(self, *faults: Fault) -> FaultProxy:
        """Add these rules (copies: a rule's count is spent here, not in the caller's list,
        which a test parametrised over both HQ stores uses twice)."""
        self.faults.extend(dataclasses.replace(f) for f in faults)
        return self

    def retarget(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        self.upstream_host, self.upstream_port = parts.hostname or "127.0.0.1", parts.port or 80

    def fired(self, action: str) -> int:
        return sum(1 for s in self.seen if s.action == action)

    async def __aenter__(self) -> FaultProxy:
        self.server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    def stop_listening(self) -> None:
        """New connections are refused, as by a receiver host that is down (requests already
        under way go on)."""
        assert self.server is not None
        self.server.close()

    async def listen_again(self) -> None:
        """Accept again, on the same port."""
        port = int(self.url.rsplit(":", 1)[1])
        self.server = await asyncio.start_server(self._client, "127.0.0.1", port)

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task
        await self.server.wait_closed()

    def _pick(self, method: str, path: str) -> Fault:
        for fault in self.faults:
            if fault.matches(method, path):
                fault.times -= 1
                return fault
        return Fault(PASS)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            while await self._one_request(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
            pass
        except asyncio.CancelledError:
            pass  # the proxy is closing; end quietly (asyncio would log a cancelled callback task)
        finally:
            self._tasks.discard(task)
            with contextlib.suppress(Exception):
                writer.close()

    async def _one_request(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Handle one request; False when the client connection is finished."""
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return False
        method, path, headers = _parse_head(head)
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        fault = self._pick(method, path)
        seen = Seen(method, path, fault.action, headers)
        self.seen.append(seen)
        if fault.action == RESET:
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
            return False
        if fault.action == ANSWER_500:
            text = b"Internal Server Error"
            writer.write(b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain\r\n"
                         b"Content-Length: %d\r\n\r\n%s" % (len(text), text))
            await writer.drain()
            return True
        if fault.action == PORTAL:
            page = b"" if method == "HEAD" else PORTAL_PAGE
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"
                         b"Content-Length: %d\r\n\r\n%s" % (len(PORTAL_PAGE), page))
            await writer.drain()
            return True
        if fault.action == DROP_REQUEST:
            _, up_writer = await self._upstream()
            up_writer.write((head + body)[: len(head) + fault.after_bytes])
            await up_writer.drain()
            await asyncio.sleep(0.05)  # let HQ read what arrived before the link dies
            up_writer.close()
            writer.transport.abort()
            return False
        if fault.action == STALL:
            # HQ is left holding part of the request (a receiver to kill mid-upload); when it
            # dies its socket closes, and the node sees the link drop.
            up_reader, up_writer = await self._upstream()
            up_writer.write((head + body)[: len(head) + fault.after_bytes])
            await up_writer.drain()
            with contextlib.suppress(ConnectionError, OSError):
                await up_reader.read()
            up_writer.close()
            writer.transport.abort()
            return False
        if fault.action == DELAY:
            await asyncio.sleep(fault.delay)
        answer = await self._forward(method, head, body)
        if answer is None:
            return False
        status_head, answer_body = answer
        if fault.action == DROP_RESPONSE:
            writer.write((status_head + answer_body)[: fault.after_bytes])
            await writer.drain()
            writer.transport.abort()
            return False
        if fault.action == TRUNCATE:
            cut = answer_body[: len(answer_body) // 2]
            writer.write(_with_length(status_head, len(cut)) + cut)
            await writer.drain()
            return True
        writer.write(status_head + answer_body)
        await writer.drain()
        seen.answered = True
        return True

    async def _upstream(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection(self.upstream_host, self.upstream_port)

    async def _forward(self, method: str, head: bytes, body: bytes) -> tuple[bytes, bytes] | None:
        """Send the request to HQ on a fresh connection; (answer head, body) or None if HQ is gone."""
        try:
            up_reader, up_writer = await self._upstream()
        except OSError:
            return None
        try:
            up_writer.write(head + body)
            await up_writer.drain()
            status_head = await up_reader.readuntil(b"\r\n\r\n")
            _, status, headers = _parse_head(status_head)
            if method == "HEAD" or status.startswith(("1", "204", "304")):
                return status_head, b""
            if headers.get("transfer-encoding", "").lower() == "chunked":
                data = await _read_chunked(up_reader)
                return _with_length(_drop_header(status_head, b"transfer-encoding"), len(data)), data
            if "content-length" in headers:
                return status_head, await up_reader.readexactly(int(headers["content-length"]))
            return status_head, await up_reader.read()
        except (ConnectionError, asyncio.IncompleteReadError, OSError):
            return None
        finally:
            up_writer.close()


def _parse_head(head: bytes) -> tuple[str, str, dict[str, str]]:
    """(method or HTTP version, path or status code, lower-cased headers)."""
    lines = head.decode("latin-1").split("\r\n")
    first = lines[0].split(" ", 2)
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    return first[0], first[1] if len(first) > 1 else "", headers


def _drop_header(head: bytes, name: bytes) -> bytes:
    lines = head.split(b"\r\n")
    return b"\r\n".join(line for line in lines if not line.lower().startswith(name + b":"))


def _with_length(head: bytes, length: int) -> bytes:
    """The answer head with its Content-Length set to `length`."""
    head = _drop_header(head, b"content-length").rstrip(b"\r\n")
    return head + b"\r\nContent-Length: %d\r\n\r\n" % length


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    data = b""
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0].strip(), 16)
        if size == 0:
            await reader.readuntil(b"\r\n")
            return data
        data += await reader.readexactly(size)
        await reader.readexactly(2)
