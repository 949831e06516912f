"""Routes of the embedded web server besides Telegram's: the TradingView webhook
and the health checks. The webhook answers once the alert is received (its batch
committed, see `handlers.tradingview_intake`); its signal and outbox rows are
written right after, and sending happens later, through the outbox."""

from __future__ import annotations

import hmac
import json
import uuid

import structlog
from aiohttp import web
from sqlalchemy import text

from handlers.context import Services
from handlers.group_commit import WriterClosed
from handlers.tradingview import AlertError, check, parse_body, to_alert
from handlers.tradingview_intake import Intake, Unconfirmed

log = structlog.get_logger(__name__)

TRADINGVIEW_PATH = "/webhook/tradingview"
# TradingView gives up on a webhook after 3 s; an alert not confirmed by then is
# answered 503 (never 200 before its commit).
CONFIRM_TIMEOUT = 2.5
# The two answers of an accepted alert, encoded once (a burst answers thousands).
_ACCEPTED = {
    True: json.dumps({"ok": True, "duplicate": False}).encode(),
    False: json.dumps({"ok": True, "duplicate": True}).encode(),
}


def add_tradingview_route(
    app: web.Application,
    services: Services,
    secret: str,
    *,
    timeout: float = CONFIRM_TIMEOUT,
    **intake_options: float,
) -> Intake:
    """`POST /webhook/tradingview`: 400 unreadable or incomplete, 401 wrong or
    missing secret (`passphrase` in the body or `?token=`), 422 unknown market,
    all answered at once without the database; 200 once the alert is received
    (its batch committed: it will be processed, even after a crash), with
    ``"duplicate": true`` for a repeat, which changes nothing; 500 when storing
    it failed (with an error id that is in the log); 503 when the commit was not
    confirmed within `timeout` seconds or the server is stopping (the alert may
    still be stored: repeating it is safe, a repeat is never stored twice).

    Alerts are received by the returned `Intake`'s single writer (group commit)
    and processed by its processor (`intake_options`: the `Intake`'s), which
    starts with `app` (processing first what an earlier run left) and is drained
    and stopped when `app` cleans up (after the requests being answered have
    finished), so an accepted alert is never lost at shutdown."""
    intake = Intake(services, timeout=timeout, **intake_options)

    async def start_intake(_: web.Application) -> None:
        intake.start()

    async def close_intake(_: web.Application) -> None:
        await intake.close()

    app.on_startup.append(start_intake)
    app.on_cleanup.append(close_intake)

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
            checked = await check(services, alert)  # the market, no database
            new = await intake.receive(checked)  # once its batch committed
        except AlertError as error:
            return _json(error.status, str(error))
        except Unconfirmed as error:
            log.warning("tradingview_unconfirmed", key=checked.key, timeout=timeout)
            message = f"{error}; it may still be stored: sending the alert again is safe"
            return _json(503, message, retry=True)
        except WriterClosed:
            return _json(503, "the server is stopping: sending the alert again is safe", retry=True)
        except Exception:
            error_id = uuid.uuid4().hex[:12]
            log.exception("tradingview_alert_failed", error_id=error_id)
            return _json(500, f"internal error {error_id}")
        return web.Response(body=_ACCEPTED[new], content_type="application/json")

    app.router.add_post(TRADINGVIEW_PATH, tradingview)
    return intake


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


def _json(status: int, message: str, *, retry: bool = False) -> web.Response:
    headers = {"Retry-After": "1"} if retry else None
    return web.json_response({"ok": False, "error": message}, status=status, headers=headers)
