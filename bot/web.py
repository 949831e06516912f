"""The embedded aiohttp web server on `WEB_HOST:WEB_PORT`: the Telegram and
TradingView webhooks and the health checks (`bot/webhooks.py`), Stripe's later.

Features add their routes to `WebServer.app` before `start()`:

    server = WebServer(settings.web_host, settings.web_port)
    server.app.router.add_post("/tradingview", handler)   # or a sub-app: add_subapp
    await server.start()

It runs whenever a chat platform does (the health checks are always there); the
console chat starts none.
"""

from __future__ import annotations

import structlog
from aiohttp import web

log = structlog.get_logger(__name__)

# aiohttp waits this long for requests being answered when the server stops.
SHUTDOWN_TIMEOUT = 10.0


class WebServer:
    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.app = web.Application(client_max_size=4 * 1024 * 1024)  # ready for routes
        self._runner: web.AppRunner | None = None

    @property
    def running(self) -> bool:
        return self._runner is not None

    async def start(self) -> str:
        """Listen; returns the base URL (the real port when WEB_PORT is 0)."""
        runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        try:
            await site.start()
        except OSError:
            await runner.cleanup()
            raise
        self._runner = runner
        sockets = site._server.sockets if site._server else ()  # type: ignore[union-attr]
        if sockets:
            self.port = sockets[0].getsockname()[1]
        log.info("web_server_started", host=self.host, port=self.port)
        return f"http://{self.host}:{self.port}"

    async def stop(self) -> None:
        """Stop listening; requests being answered finish first (up to the timeout)."""
        if self._runner is None:
            return
        runner, self._runner = self._runner, None
        await runner.cleanup()
        log.info("web_server_stopped")
