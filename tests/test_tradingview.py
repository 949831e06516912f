"""TradingView webhooks through a real HTTP client against the real route, on
both databases: authentication, validation, once-only processing, fan-out."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from sqlalchemy import func, select

from bot.app import App
from bot.webhooks import TRADINGVIEW_PATH, add_health_routes, add_tradingview_route
from handlers.session import PlatformChat, PlatformUser, open_context
from storage import follows
from storage.models import OutboxMessage, SignalRecord
from tests.conftest import make_settings

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


@pytest.fixture
async def web_app(tmp_path: Path, database_url: str, database) -> AsyncIterator[tuple]:
    application = await App.create(make_settings(tmp_path, database_url=database_url))
    routes = web.Application()
    add_tradingview_route(routes, application.services, SECRET)
    add_health_routes(routes, application.services)
    server = TestServer(routes, host="127.0.0.1")
    await server.start_server()
    async with aiohttp.ClientSession(base_url=str(server.make_url(""))) as client:
        yield application.services, client
    await server.close()
    await application.close()


async def follow(services, chat: str, *args: str) -> int:
    ctx = await open_context(services, PlatformUser("test", chat), PlatformChat(chat))
    async with services.db.session() as session:
        await follows.add_follow(session, ctx.chat.id, *args)
    return ctx.chat.id


async def count(services, model) -> int:
    async with services.db.session() as session:
        return (await session.execute(select(func.count()).select_from(model))).scalar_one()


async def post(client, body, **params):
    data = json.dumps(body) if isinstance(body, dict) else body
    async with client.post(TRADINGVIEW_PATH, data=data, params=params) as response:
        return response.status, await response.json()


async def test_an_alert_becomes_a_signal_for_its_followers_once(web_app):
    services, client = web_app
    all_tf = await follow(services, "a", "BTC/USDT", "*", "tradingview")
    same_tf = await follow(services, "b", "BTC/USDT", "1h", "all")
    await follow(services, "c", "BTC/USDT", "4h", "tradingview")  # another timeframe
    await follow(services, "d", "ETH/USDT", "*", "all")  # another market
    await follow(services, "e", "BTC/USDT", "*", "pulsewave")  # another strategy
    status, answer = await post(client, ALERT)
    assert (status, answer["duplicate"], answer["recipients"]) == (200, False, 2)
    status, again = await post(client, ALERT)  # TradingView retrying the delivery
    assert (status, again["duplicate"]) == (200, True)
    async with services.db.session() as session:
        signal = (await session.execute(select(SignalRecord))).scalar_one()
        rows = list((await session.execute(select(OutboxMessage))).scalars())
    assert (signal.strategy, signal.side, signal.entry, signal.stop, signal.target) == (
        "tv:my-rsi", "buy", 84000.0, 82000.0, 90000.0
    )  # fmt: skip
    assert signal.candle_open_ms == 1740776400000  # the 1h candle containing 21:15
    assert (signal.source, signal.status) == ("tradingview", "open")
    assert sorted(r.chat_id for r in rows) == sorted([all_tf, same_tf])


async def test_concurrent_repeats_are_processed_once(web_app):
    services, client = web_app
    await follow(services, "a", "BTC/USDT", "*", "all")
    results = await asyncio.gather(*(post(client, ALERT) for _ in range(20)))
    assert all(status == 200 for status, _ in results)
    assert sum(not answer["duplicate"] for _, answer in results) == 1
    assert await count(services, SignalRecord) == 1
    assert await count(services, OutboxMessage) == 1


@pytest.mark.parametrize(
    ("body", "params", "status"),
    [
        ({**ALERT, "passphrase": "wrong"}, {}, 401),
        ({k: v for k, v in ALERT.items() if k != "passphrase"}, {}, 401),
        ({k: v for k, v in ALERT.items() if k != "passphrase"}, {"token": "nope"}, 401),
        ("{not json", {}, 400),
        ("", {}, 400),
        ("[1, 2]", {}, 400),
        ({"symbol": "BTCUSDT", "passphrase": SECRET}, {}, 400),
        ({**ALERT, "action": "hold"}, {}, 400),
        ({**ALERT, "price": "-5"}, {}, 400),
        ({**ALERT, "timestamp": "yesterday"}, {}, 400),
        ({**ALERT, "parameters": {"stop": 91000, "target": 95000}}, {}, 400),
        ({**ALERT, "symbol": "NOPE"}, {}, 422),
        ({**ALERT, "timeframe": "7"}, {}, 422),
    ],
)
async def test_bad_alerts_are_refused_and_change_nothing(web_app, body, params, status):
    services, client = web_app
    await follow(services, "a", "BTC/USDT", "*", "all")
    got, answer = await post(client, body, **params)
    assert got == status and answer["ok"] is False and answer["error"]
    assert await count(services, SignalRecord) == 0
    assert await count(services, OutboxMessage) == 0


async def test_text_bodies_and_the_token_in_the_url(web_app):
    services, client = web_app
    await follow(services, "a", "ETH/USDT", "*", "tradingview")
    status, answer = await post(client, "sell ETHUSDT 4h 2300", token=SECRET)
    assert status == 200 and answer["recipients"] == 1
    status, answer = await post(
        client, f"symbol=BTCUSDT timeframe=1h action=buy price=84000 passphrase={SECRET}"
    )
    assert status == 200 and not answer["duplicate"]
    async with services.db.session() as session:
        stored = list((await session.execute(select(SignalRecord))).scalars())
    assert {(s.symbol, s.timeframe, s.status) for s in stored} == {
        ("ETH/USDT", "4h", "untracked"),  # no stop/target: shown, not scored
        ("BTC/USDT", "1h", "untracked"),
    }


async def test_health(web_app):
    _, client = web_app
    async with client.get("/health/live") as response:
        assert response.status == 200
    async with client.get("/health/ready") as response:
        assert response.status == 200 and (await response.json())["problems"] == []
