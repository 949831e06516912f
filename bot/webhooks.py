"""Routes of the embedded web server besides Telegram's: the TradingView webhook
and the health checks. Each handler answers at once; sending happens later,
through the outbox."""

from __future__ import annotations

import hmac

import structlog
from aiohttp import web
from sqlalchemy import text

from handlers.context import Services
from handlers.tradingview import AlertError, accept, parse_body, to_alert

log = structlog.get_logger(__name__)

TRADINGVIEW_PATH = "/webhook/tradingview"


def add_tradingview_route(app: web.Application, services: Services, secret: str) -> None:
    """`POST /webhook/tradingview`: 400 unreadable or incomplete, 401 wrong or
    missing secret (`passphrase` in the body or `?token=`), 422 unknown market,
    200 accepted (also for a repeat, which changes nothing)."""

    async def tradingview(request: web.Request) -> web.Response:
        try:
            fields = parse_body(await request.read())
        except AlertError as error:
            return _json(error.status, str(error))
        offered = request.query.get("token") or str(fields.get("passphrase") or "")
        if not hmac.compare_digest(offered.encode(), secret.encode()):
            log.warning("tradingview_unauthorised", remote=request.remote)
            return _json(401, "wrong or missing secret")
        try:
            alert = to_alert(fields, services.clock.now_ms())
        except AlertError as error:
            return _json(error.status, str(error))
        try:
            accepted = await accept(services, alert)
        except AlertError as error:
            return _json(error.status, str(error))
        log.info(
            "tradingview_alert",
            symbol=alert.symbol,
            timeframe=alert.timeframe,
            side=alert.side,
            duplicate=accepted.signal_id is None,
            recipients=accepted.recipients,
        )
        return web.json_response(
            {
                "ok": True,
                "duplicate": accepted.signal_id is None,
                "signal_id": accepted.signal_id,
                "recipients": accepted.recipients,
            }
        )

    app.router.add_post(TRADINGVIEW_PATH, tradingview)


def add_health_routes(app: web.Application, services: Services) -> None:
    """`/health/live`: the process answers. `/health/ready`: the database answers
    and the watchlist's market data is fresh (503 with the reasons otherwise)."""

    async def live(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def ready(_: web.Request) -> web.Response:
        problems: list[str] = []
        try:
            async with services.db.session() as session:
                await session.execute(text("SELECT 1"))
        except Exception as error:  # any failure means not ready
            problems.append(f"database: {type(error).__name__}")
        for symbol in services.config.watchlist:
            if services.market.is_stale(symbol):
                problems.append(f"market data stale: {symbol}")
        status = 503 if problems else 200
        return web.json_response(
            {"status": "ready" if not problems else "not ready", "problems": problems},
            status=status,
        )

    app.router.add_get("/health/live", live)
    app.router.add_get("/health/ready", ready)


def _json(status: int, message: str) -> web.Response:
    return web.json_response({"ok": False, "error": message}, status=status)
