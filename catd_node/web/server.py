"""`catd-node web`: serve the clerks' web app until SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import logging
import signal

from aiohttp import web

from catd_node import netguard
from catd_node.config import WebConfig
from catd_node.datadir import DataDir
from catd_node.errors import EXIT_OK
from catd_node.web.app import create_app

log = logging.getLogger("catd.web")


def limits(cfg: WebConfig) -> netguard.Limits:
    """Connection limits from [web], fitted under this process's descriptor limit (raised first)."""
    wanted = netguard.Limits(per_client=cfg.max_connections_per_client,
                             head_timeout_s=cfg.request_timeout_s, exempt=frozenset(cfg.trusted_proxies))
    return netguard.fitted(wanted, netguard.raise_fd_limit())


async def serve(datadir: DataDir, host: str, port: int) -> None:
    app = create_app(datadir)
    guarded = limits(datadir.config.web)
    runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=10,
                           **guarded.runner_options())
    await runner.setup()
    try:
        await netguard.start_site(runner, host, port, guarded)
        bound = runner.addresses[0][1] if runner.addresses else port
        shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
        # The real port (port 0 picks a free one): tests and the supervisor read this line.
        print(f"catd-node web: http://{shown}:{bound}/", flush=True)
        log.info("listening host=%s port=%d per_client=%d max=%d", host, bound, guarded.per_client,
                 guarded.total)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        log.info("stopping")
    finally:
        await runner.cleanup()


def main(datadir: DataDir, host: str | None = None, port: int | None = None) -> int:
    """Serve; defaults from [web] in catd.toml (0.0.0.0:8080)."""
    cfg = datadir.config.web
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    asyncio.run(serve(datadir, host or cfg.host, cfg.port if port is None else port))
    return EXIT_OK
