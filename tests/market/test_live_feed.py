"""The live feed: /price and /chart on live data, staleness, suppression, failover."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.app import App
from engine.market.ccxt_client import ExchangeUnavailable
from engine.market.clock import ReplayClock
from engine.market.live import Tick
from engine.market.path import recent_price_path
from engine.market.timeframes import HOUR_MS, MINUTE_MS
from handlers.dispatch import dispatch
from handlers.session import PlatformChat, PlatformUser, open_context
from storage.db import Database
from tests.exchange_server import ExchangeServer
from tests.market.conftest import NOW, MakeRig, live_settings

pytestmark = pytest.mark.timeout(60)


async def test_ticker_shows_the_live_price_and_24h_from_stored_candles(make_rig: MakeRig) -> None:
    rig = await make_rig()
    ticker = await rig.market.ticker("BTC/USDT")
    live = rig.server.live_price("BTCUSDT")
    assert ticker.last == live and ticker.source == rig.client.name and not ticker.stale
    assert ticker.age_ms == 0 and ticker.timeframe == "1h"
    assert ticker.change_pct is not None and ticker.low <= live <= ticker.high
    rig.advance(10 * MINUTE_MS)
    assert await rig.market.stream.poll_once() == 1
    assert (await rig.market.ticker("BTC/USDT")).last == rig.server.live_price("BTCUSDT")


async def test_stale_data_is_flagged_shown_and_suppressed(make_rig: MakeRig) -> None:
    rig = await make_rig()
    fresh: list[Tick] = []
    rig.market.subscribe_fresh_ticks(fresh.append)
    await rig.market.ticker("BTC/USDT")
    assert fresh and not rig.market.is_stale("BTC/USDT")
    # The exchange freezes (its clock stops: no new candles, the same old ticker)
    # while the market clock runs on for three hours.
    rig.advance(3 * HOUR_MS, servers=False)
    await rig.market.refresh("1h")
    fresh.clear()
    assert await rig.market.stream.poll_once() == 1
    assert not fresh  # a tick of stale data reaches no alarm
    assert rig.market.is_stale("BTC/USDT") and rig.market.is_stale("BTC/USDT", "1h")
    ticker = await rig.market.ticker("BTC/USDT")
    # (the exchange's last, still open, candle looked closed by our clock: 2.5 h old)
    assert ticker.stale and ticker.age_ms >= 2 * HOUR_MS
    candles = await rig.market.candles("BTC/USDT", "1h", 10)
    assert candles.stale
    # Fresh data returns: the exchange catches up, the next close fetches it.
    for server in rig.servers:
        server.now_ms = rig.clock.now_ms()
    await rig.market.refresh("1h")
    await rig.market.stream.poll_once()
    assert fresh and not rig.market.is_stale("BTC/USDT", "1h")
    assert not (await rig.market.ticker("BTC/USDT")).stale


async def test_backup_exchange_takes_over_prices(make_rig: MakeRig) -> None:
    rig = await make_rig(exchanges=2)
    primary, backup = rig.servers
    await rig.market.ticker("BTC/USDT")
    assert rig.market.stream.latest["BTC/USDT"].exchange == "primary"
    primary.down = True
    rig.advance(MINUTE_MS)
    await rig.market.stream.poll_once()
    tick = rig.market.stream.latest["BTC/USDT"]
    assert tick.exchange == "backup" and tick.price == backup.live_price("BTCUSDT")
    assert tick.price != primary.live_price("BTCUSDT")  # (the backup's prices differ by 1%)
    ticker = await rig.market.ticker("BTC/USDT")  # candles: stored ones; price: the backup's
    assert ticker.source == "backup" and ticker.last == tick.price and not ticker.stale
    # The primary recovers: after its breaker's reset time prices return to it.
    primary.down = False
    rig.breaker_time[0] += 31
    rig.advance(MINUTE_MS)
    await rig.market.stream.poll_once()
    assert rig.market.stream.latest["BTC/USDT"].exchange == "primary"


async def test_websocket_failure_falls_back_to_polling(make_rig: MakeRig) -> None:
    rig = await make_rig(ticker_websockets=True, ticker_poll_seconds=0.05)
    rig.market.stream.ws_retry_s = 30
    await rig.market.start()  # the local server has no websocket route: 404 on upgrade
    import asyncio

    for _ in range(100):
        if "BTC/USDT" in rig.market.stream.latest:
            break
        await asyncio.sleep(0.05)
    tick = rig.market.stream.latest["BTC/USDT"]
    assert tick.source == "poll" and tick.price == rig.server.live_price("BTCUSDT")


async def _context(app: App, user: str = "7"):
    return await open_context(app.services, PlatformUser("test", user), PlatformChat(user))


async def test_price_and_chart_commands_on_the_live_feed(
    database: Database, tmp_path: Path
) -> None:
    server = ExchangeServer(now_ms=int(NOW.timestamp() * 1000))
    await server.start()
    clock = ReplayClock(NOW, speed=0)
    config = {**server.ccxt_config(), "rateLimit": 1}
    settings = live_settings(database, tmp_path, exchange_ccxt_config=config)
    app = await App.create(settings, clock=clock)
    try:
        ctx = await _context(app)
        reply = await dispatch(ctx, "/price BTC")
        assert reply is not None
        text = reply.plain_text()
        assert ctx.tr.price(server.live_price("BTCUSDT")) in text and "DEMO" not in text
        assert "Stale" not in text
        reply = await dispatch(ctx, "/price BTCC")
        assert reply is not None and "BTC/USDT" in reply.plain_text()
        reply = await dispatch(ctx, "/price DOGE")
        assert reply is not None and "I don't know the market DOGE/USDT" in reply.plain_text()
        reply = await dispatch(ctx, "/chart ETH 4h")
        assert reply is not None and reply.image is not None, reply.plain_text()
        clock.set(clock.now_ms() + 12 * HOUR_MS)  # the exchange's clock stays behind
        app.services.market.stream.latest.clear()
        reply = await dispatch(ctx, "/chart ETH 4h")
        assert reply is not None and "Stale data" in reply.plain_text()
        assert "Stale data: the last update is 12 hours old" in reply.plain_text()
        reply = await dispatch(ctx, "/price BTC")
        assert (
            reply is not None
            and "Stale data: the last update is 12 hours old" in reply.plain_text()
        )
    finally:
        await app.close()
        await server.stop()


def test_settings_for_several_exchanges() -> None:
    from settings import Settings

    settings = Settings(
        _env_file=None,
        exchanges="binance,backup:kraken",
        exchange_ccxt_config={"binance": {"timeout": 5}, "backup": {"proxy": "x"}},
    )  # type: ignore[call-arg]
    assert settings.exchange_list == [("binance", "binance"), ("backup", "kraken")]
    assert settings.ccxt_config_for("backup") == {"proxy": "x"}
    flat = Settings(_env_file=None, exchange_ccxt_config={"urls": {}})  # type: ignore[call-arg]
    assert flat.ccxt_config_for("binance") == {"urls": {}}


async def test_has_symbol_asks_every_reachable_exchange(make_rig: MakeRig) -> None:
    rig = await make_rig(exchanges=2)
    rig.servers[1].listed = ("SOL/USDT",)  # listed by the backup only
    market = rig.market
    assert await market.has_symbol("BTC/USDT") and await market.has_symbol("SOL/USDT")
    assert not await market.has_symbol("NOPE/USDT")
    assert set(await market.symbols()) >= {"BTC/USDT", "SOL/USDT"}
    listed = await rig.client.listed()
    assert "BTC/USDT" in listed and "SOL/USDT" not in listed
    down = await make_rig(exchanges=2)  # a market whose exchanges never answered
    for server in down.servers:
        server.down = True
    with pytest.raises(ExchangeUnavailable):
        await down.market.has_symbol("BTC/USDT")


async def test_a_restarts_price_path_asks_no_fine_backfill_it_does_not_keep(
    make_rig: MakeRig,
) -> None:
    """A change alarm's window after a restart: from the finest timeframe the market
    already keeps fresh, else from the coarsest that fits (one backfill of 1h
    candles here, not 1m's: a live market backfills what it is first asked for).
    (April 2024: the bundled data has 1m candles then.)"""
    moment = datetime(2024, 4, 5, 12, tzinfo=UTC)
    rig = await make_rig(now=moment, timeframes=["1m", "5m", "15m", "1h"])
    server = rig.server

    def intervals() -> set[str]:
        return {q["interval"] for path, q in server.requests if path.endswith("/klines")}

    points = await recent_price_path(rig.market, "BTC/USDT", 6 * HOUR_MS)
    assert intervals() == {"1h"} and points
    await rig.market.candles("BTC/USDT", "1m", 10)  # now 1m is kept fresh too
    server.requests.clear()
    fine = await recent_price_path(rig.market, "BTC/USDT", 6 * HOUR_MS)
    assert intervals() <= {"1m"}  # (at most its update)
    assert len(fine) > 10 * len(points)  # from the 1m candles
