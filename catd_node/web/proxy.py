"""Behind a reverse proxy: the client's address and scheme, from a configured proxy only.

Every proxied request reaches the app from the proxy's address, so without this one login
bucket would cover the whole CATD. `X-Forwarded-For` and `X-Forwarded-Proto` are honoured
only when the connection comes from an address in [web] trusted_proxies; from anyone else
they are ignored (a clerk's browser could send any value). The client is the right-most
address in `X-Forwarded-For` that is not itself a trusted proxy.
"""

from __future__ import annotations

import ipaddress

from aiohttp import web

from catd_node.web.state import SETTINGS, Handler

FORWARDED_FOR = "X-Forwarded-For"
FORWARDED_PROTO = "X-Forwarded-Proto"


def client_address(peer: str, forwarded_for: str, trusted: tuple[str, ...]) -> str:
    """The client's address for a request from trusted proxy `peer`."""
    for hop in reversed(forwarded_for.split(",")):
        try:
            address = str(ipaddress.ip_address(hop.strip()))
        except ValueError:
            return peer  # garbage: trust nothing left of it
        if address not in trusted:
            return address
    return peer


@web.middleware
async def forwarded_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    trusted = request.app[SETTINGS].trusted_proxies
    peer = request.remote
    if peer is not None and peer in trusted:
        hops = request.headers.getall(FORWARDED_FOR, [])
        remote = client_address(peer, ",".join(hops), trusted) if hops else peer
        proto = request.headers.get(FORWARDED_PROTO, "").split(",")[0].strip().lower()
        scheme = proto if proto in ("http", "https") else request.scheme
        if remote != peer or scheme != request.scheme:
            request = request.clone(remote=remote, scheme=scheme)
    return await handler(request)


def secure_cookies(request: web.Request) -> bool:
    """Cookies carry `Secure` when catd.toml says so or the request came over HTTPS."""
    return request.app[SETTINGS].secure_cookies or request.secure
