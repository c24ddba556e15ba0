"""Connection-level defences shared by the clerks' web app and the HQ receiver.

* Request bodies are never inflated: aiohttp's parser would decompress a `Content-Encoding`
  body on the event loop as the bytes arrive (a 4 MB deflate bomb is ~4 GB, seconds of CPU,
  every other clerk or node stalled), even when the handler answers 403 without reading it.
  No client of ours compresses bodies, so the parser is told not to (`auto_decompress=False`
  in `Limits.runner_options`), and `refuse_encoded` answers 415 (RFC 7694: with
  `Accept-Encoding: identity`) before anything reads the body.
* Every connection is counted per client address (`Guard`, `GuardedSite`); a client already
  holding `per_client` open connections has its next ones closed at once, and the process
  never holds more than `total`, kept under its descriptor limit (which `raise_fd_limit` lifts
  to the hard limit): ~1,100 idle connections from one LAN device no longer lock clerks out.
* A connection must send a whole request head within `head_timeout_s` of connecting or of its
  last answer (aiohttp's keep-alive timer, armed at connect, closes a connection still waiting
  for a head), and `body_deadline` gives a form body as long again: a half-open or slow-loris
  connection is closed instead of held for aiohttp's default hour.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler, Middleware

log = logging.getLogger("catd.netguard")
ENCODED_BODY = "request bodies must not be compressed: send it without Content-Encoding"
FD_RESERVE = 256  # descriptors kept for SQLite, blobs, images and the executor (or a quarter)
WARN_EVERY_S = 10.0


@web.middleware
async def refuse_encoded(request: web.Request, handler: Handler) -> web.StreamResponse:
    """415 for any request that declares a compressed body; the body is never read."""
    encoding = request.headers.get(hdrs.CONTENT_ENCODING, "").strip().lower()
    if encoding and encoding != "identity":
        refusal = web.HTTPUnsupportedMediaType(
            text=ENCODED_BODY, headers={hdrs.ACCEPT_ENCODING: "identity"})
        refusal.force_close()  # do not linger reading a body nobody wants
        raise refusal
    return await handler(request)


def body_deadline(timeout_s: float) -> Middleware:
    """A middleware reading each non-multipart body within `timeout_s` (408 if it trickles);
    handlers then get it from memory. Multipart bodies stream under their handler's own
    deadline (phone uploads)."""
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.body_exists and not request.content_type.startswith("multipart/"):
            try:
                async with asyncio.timeout(timeout_s):
                    await request.read()
            except TimeoutError:
                late = web.HTTPRequestTimeout(text="the request body did not arrive in time")
                late.force_close()
                raise late from None
        return await handler(request)
    return middleware


@dataclass(frozen=True)
class Limits:
    """Connection limits; `exempt` addresses (a trusted reverse proxy) have no per-client cap."""

    per_client: int = 32
    total: int = 4096
    head_timeout_s: float = 30.0
    exempt: frozenset[str] = frozenset()

    def runner_options(self) -> dict[str, Any]:
        """Keyword arguments for web.AppRunner (passed on to each connection's handler)."""
        return {"auto_decompress": False, "keepalive_timeout": self.head_timeout_s}


def raise_fd_limit() -> int:
    """Lift the soft descriptor limit to the hard one (systemd's soft default is 1,024);
    return the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = max(soft, 65536)
    if soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError) as exc:
            log.warning("cannot raise the descriptor limit from %d: %s", soft, exc)
    return soft


def fitted(limits: Limits, fd_limit: int) -> Limits:
    """`limits` with `total` lowered to leave FD_RESERVE descriptors free under `fd_limit`."""
    room = max(16, fd_limit - min(FD_RESERVE, fd_limit // 4))
    if limits.total <= room:
        return limits
    log.warning("descriptor limit %d: serving at most %d connections (not %d)", fd_limit, room,
                limits.total)
    return Limits(limits.per_client, room, limits.head_timeout_s, limits.exempt)


@dataclass
class Guard:
    """Counts open connections per peer address and refuses those over the limits."""

    limits: Limits
    clock: Callable[[], float] = time.monotonic
    open: Counter[str] = field(default_factory=Counter)
    refused: int = 0
    _warned_at: float = float("-inf")

    @property
    def total(self) -> int:
        return sum(self.open.values())

    def admit(self, peer: str) -> bool:
        over_client = peer not in self.limits.exempt and self.open[peer] >= self.limits.per_client
        if over_client or self.total >= self.limits.total:
            self.refused += 1
            at = self.clock()
            if at - self._warned_at >= WARN_EVERY_S:  # one line per burst, not one per socket
                self._warned_at = at
                log.warning("connection refused peer=%s open_from_peer=%d open=%d refused=%d",
                            peer, self.open[peer], self.total, self.refused)
            return False
        self.open[peer] += 1
        return True

    def release(self, peer: str) -> None:
        self.open[peer] -= 1
        if self.open[peer] <= 0:
            del self.open[peer]

    def factory(self, inner: Callable[[], asyncio.Protocol]) -> Callable[[], asyncio.Protocol]:
        return lambda: _Guarded(self, inner())


class _Guarded(asyncio.Protocol):
    """Wraps one connection's aiohttp protocol: admitted connections pass every event on;
    a refused one is aborted before aiohttp ever sees it (no task, no timer, no buffer)."""

    def __init__(self, guard: Guard, inner: asyncio.Protocol) -> None:
        self._guard = guard
        self._inner = inner
        self._peer: str | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        peername = transport.get_extra_info("peername")
        peer = str(peername[0]) if isinstance(peername, tuple) and peername else "-"
        if not self._guard.admit(peer):
            assert isinstance(transport, asyncio.Transport)  # a TCP connection
            transport.abort()
            return
        self._peer = peer
        self._inner.connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._peer is None:
            return
        self._guard.release(self._peer)
        self._peer = None
        self._inner.connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._peer is not None:
            self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received() if self._peer is not None else None

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()


class GuardedSite(web.BaseSite):
    """A TCP site whose connections go through `guard` (aiohttp's TCPSite, plus the guard)."""

    def __init__(self, runner: web.BaseRunner, host: str, port: int, guard: Guard,
                 backlog: int = 512) -> None:
        super().__init__(runner, backlog=backlog)
        self._host = host
        self._port = port
        self._guard = guard

    @property
    def name(self) -> str:
        return f"http://{self._host}:{self._port}"

    async def start(self) -> None:
        await super().start()
        server = self._runner.server
        assert server is not None
        self._server = await asyncio.get_running_loop().create_server(
            self._guard.factory(server), self._host, self._port, backlog=self._backlog,
            reuse_address=True)


async def start_site(runner: web.AppRunner, host: str, port: int, limits: Limits) -> Guard:
    """Start a guarded site for `runner` (already set up) and return its guard."""
    guard = Guard(limits)
    await GuardedSite(runner, host, port, guard).start()
    return guard
