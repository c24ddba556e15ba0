"""`catd-node web`: serve the clerks' web app until SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import logging
import signal

from aiohttp import web

from catd_node.datadir import DataDir
from catd_node.errors import EXIT_OK
from catd_node.web.app import create_app

log = logging.getLogger("catd.web")


async def serve(datadir: DataDir, host: str, port: int) -> None:
    app = create_app(datadir)
    # auto_decompress=False: a Content-Encoding body is never inflated (see catd_node/netguard.py)
    runner = web.AppRunner(app, access_log=None, handler_cancellation=True, auto_decompress=False)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port, shutdown_timeout=10)
        await site.start()
        bound = runner.addresses[0][1] if runner.addresses else port
        shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
        # The real port (port 0 picks a free one): tests and the supervisor read this line.
        print(f"catd-node web: http://{shown}:{bound}/", flush=True)
        log.info("listening host=%s port=%d", host, bound)
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
