"""Helpers of the TradingView tests (`test_tradingview.py`, `test_tradingview_intake.py`):
the secret and an alert, the webhook served on a real server, posting to it, alerts
checked as the route checks them, and waiting for a condition."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.webhooks import TRADINGVIEW_PATH, add_health_routes, add_tradingview_route
from handlers import tradingview
from handlers.context import Services
from handlers.tradingview_store import Checked
from tests.helpers import eventually

SECRET = "s3cret-passphrase"
ALERT = {
    "symbol": "BINANCE:BTCUSDT",
    "timeframe": "60",
    "action": "buy",
    "price": 84000,
    "timestamp": "2025-02-28T21:15:00Z",
    "strategy": "my-rsi",
    "parameters": {"stop": 82000, "target": 90000},
    "passphrase": SECRET,
}


@asynccontextmanager
async def serve(services: Services, **options) -> AsyncIterator[tuple]:
    """The webhook and health routes on a real server: (client, intake, server).
    Processing starts 10 ms after the last alert (`quiet`), unless `options` say
    otherwise."""
    options.setdefault("quiet", 0.01)
    routes = web.Application()
    intake = add_tradingview_route(routes, services, SECRET, **options)
    add_health_routes(routes, services)
    server = TestServer(routes, host="127.0.0.1")
    await server.start_server()
    connector = aiohttp.TCPConnector(limit=0)  # every request at once, none queued here
    try:
        async with aiohttp.ClientSession(str(server.make_url("")), connector=connector) as client:
            yield client, intake, server
    finally:
        await server.close()


async def post(client, body, **params):
    data = json.dumps(body) if isinstance(body, dict) else body
    async with client.post(TRADINGVIEW_PATH, data=data, params=params) as response:
        return response.status, await response.json()


def alert_n(n: int, **changes) -> dict:
    """Distinct alerts: one per hour going back from ALERT's candle."""
    return {
        **ALERT,
        "timestamp": 1740777300 - 3600 * n,  # epoch seconds
        "price": 84000 + n,
        "parameters": {},
        **changes,
    }


async def checked(services: Services, alert: int | dict) -> Checked:
    """An alert checked as the route checks it: `alert_n(alert)` for a number, else
    the body `alert` itself."""
    body = alert_n(alert) if isinstance(alert, int) else alert
    return await tradingview.check(services, tradingview.to_alert(body, 0))


async def until(condition: Callable[[], bool]) -> None:
    """Wait (up to 5 s) until `condition()` holds."""
    await eventually(condition, 5, "the condition", interval=0.01)
