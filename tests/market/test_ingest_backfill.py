"""Backfill through the real ccxt client against the local exchange server."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from engine.market.ccxt_client import ExchangeUnavailable
from engine.market.clock import to_ms
from engine.market.closes import CandleClose
from engine.market.series import CandleSeries
from engine.market.timeframes import HOUR_MS
from storage.candles import count_candles, load_candles
from storage.gaps import load_gaps
from tests.exchange_server import ExchangeServer
from tests.market.conftest import NOW, MakeRig

START = to_ms(datetime(2025, 2, 27, 0, 30, tzinfo=UTC))


def served(
    server: ExchangeServer, symbol: str, timeframe: str, start: int, end: int
) -> CandleSeries:
    series = server.series(symbol.replace("/", ""), timeframe)
    assert series is not None
    keep = (series.open_time >= start) & (series.open_time <= end)
    return CandleSeries(
        timeframe,
        series.open_time[keep],
        series.open[keep],
        series.high[keep],
        series.low[keep],
        series.close[keep],
        series.volume[keep],
    )


async def stored(rig, symbol: str, timeframe: str) -> CandleSeries:
    async with rig.market.db.session() as session:
        return await load_candles(session, rig.client.name, symbol, timeframe)


def assert_same(a: CandleSeries, b: CandleSeries) -> None:
    assert a.open_time.tolist() == b.open_time.tolist()
    for column in ("open", "high", "low", "close", "volume"):
        assert np.array_equal(getattr(a, column), getattr(b, column)), column  # exact, not approx


async def test_backfill_pages_and_stores_exactly_what_was_served(make_rig: MakeRig) -> None:
    rig = await make_rig()
    rig.ingestor.page_limit = 10
    result = await rig.ingestor.sync(rig.client, "BTC/USDT", "1h", START)
    last_closed = to_ms(NOW) - 30 * 60_000 - HOUR_MS  # 23:00, the 00:00 candle is still open
    assert result.expected == result.written == 47
    assert result.requests == 5 == rig.server.count("/klines")
    candles = await stored(rig, "BTC/USDT", "1h")
    assert int(candles.open_time[-1]) == last_closed  # the open candle is not stored
    assert_same(candles, served(rig.server, "BTC/USDT", "1h", START, last_closed))
    # Pages asked with since/limit, each starting where the previous one ended.
    starts = [int(q["startTime"]) for p, q in rig.server.requests if p.endswith("/klines")]
    assert starts == [int(candles.open_time[i]) for i in range(0, 47, 10)]
    again = await rig.ingestor.sync(rig.client, "BTC/USDT", "1h", START)
    assert again.requests == 0 and again.missing == 0


async def test_interrupted_backfill_resumes_without_duplicates(make_rig: MakeRig) -> None:
    rig = await make_rig()
    rig.ingestor.page_limit = 10
    seen = 0

    def progress(n: int) -> None:
        nonlocal seen
        seen += n
        if seen >= 20:  # the exchange goes away after two pages
            rig.server.down = True

    with pytest.raises(ExchangeUnavailable):
        await rig.ingestor.sync(rig.client, "BTC/USDT", "1h", START, progress=progress)
    async with rig.market.db.session() as session:
        assert await count_candles(session, rig.client.name, "BTC/USDT", "1h") == 20
    rig.server.down = False
    rig.client.breaker.success()
    before = rig.server.count("/klines")
    result = await rig.ingestor.sync(rig.client, "BTC/USDT", "1h", START)
    assert result.missing == result.written == 27
    assert rig.server.count("/klines") - before == 3  # only the missing pages
    candles = await stored(rig, "BTC/USDT", "1h")
    assert len(candles) == 47 == len(set(candles.open_time.tolist()))
    assert_same(candles, served(rig.server, "BTC/USDT", "1h", START, int(candles.open_time[-1])))


async def test_real_exchange_gap_is_recorded_and_not_requested_again(make_rig: MakeRig) -> None:
    # Binance halted spot trading on 2023-03-24: no 13:00 candle exists.
    rig = await make_rig(now=datetime(2023, 3, 25, 0, 10, tzinfo=UTC))
    start = to_ms(datetime(2023, 3, 24, 0, 0, tzinfo=UTC))
    result = await rig.ingestor.sync(rig.client, "ETH/USDT", "1h", start)
    gap = to_ms(datetime(2023, 3, 24, 13, 0, tzinfo=UTC))
    assert result.gaps == [(gap, gap)]
    assert result.written == 23 and result.still_missing == 0
    candles = await stored(rig, "ETH/USDT", "1h")
    assert gap not in candles.open_time.tolist()
    assert_same(candles, served(rig.server, "ETH/USDT", "1h", start, int(candles.open_time[-1])))
    async with rig.market.db.session() as session:
        assert await load_gaps(session, rig.client.name, "ETH/USDT", "1h") == [(gap, gap)]
    again = await rig.ingestor.sync(rig.client, "ETH/USDT", "1h", start)
    assert again.requests == 0 and again.missing == 0


async def test_period_before_listing_is_a_known_gap(make_rig: MakeRig) -> None:
    rig = await make_rig(now=datetime(2020, 9, 20, 5, 0, tzinfo=UTC))
    start = to_ms(datetime(2020, 9, 19, 20, 0, tzinfo=UTC))  # the 1h data starts 09-20 00:00
    result = await rig.ingestor.sync(rig.client, "BTC/USDT", "1h", start)
    first = to_ms(datetime(2020, 9, 20, tzinfo=UTC))
    assert result.gaps == [(start, first - HOUR_MS)]
    assert result.written == 5
    assert (await rig.ingestor.sync(rig.client, "BTC/USDT", "1h", start)).requests == 0


async def test_stored_candles_missing_in_the_middle_are_refetched(make_rig: MakeRig) -> None:
    rig = await make_rig()
    await rig.ingestor.sync(rig.client, "BTC/USDT", "1h", START)
    hole = START + 30 * 60_000 + 10 * HOUR_MS
    async with rig.market.db.session() as session:
        from sqlalchemy import delete

        from storage.models import Candle

        await session.execute(
            delete(Candle).where(Candle.open_time.between(hole, hole + 2 * HOUR_MS))
        )
    result = await rig.ingestor.sync(rig.client, "BTC/USDT", "1h", START)
    assert result.missing == result.written == 3 and result.requests == 1
    assert len(await stored(rig, "BTC/USDT", "1h")) == 47


async def test_new_candle_is_picked_up_after_the_clock_advances(make_rig: MakeRig) -> None:
    rig = await make_rig()
    await rig.ingestor.ensure(rig.client, "BTC/USDT", "1h")
    before = await stored(rig, "BTC/USDT", "1h")
    rig.advance(HOUR_MS)  # 01:30: the 00:00 candle has closed
    await rig.market.on_candle_close(CandleClose("1h", to_ms(NOW) - 30 * 60_000), wait=True)
    after = await stored(rig, "BTC/USDT", "1h")
    assert len(after) == len(before) + 1
    assert int(after.open_time[-1]) == to_ms(NOW) - 30 * 60_000
    assert_same(
        after,
        served(rig.server, "BTC/USDT", "1h", int(after.open_time[0]), int(after.open_time[-1])),
    )
    assert not rig.market.is_stale("BTC/USDT", "1h")


async def test_bulk_upsert_is_idempotent_and_newer_values_win(database) -> None:
    """Large batches take PostgreSQL's COPY path: twice in one transaction, then changed."""
    from storage.candles import upsert_candles

    rows = [(i * HOUR_MS, 1.0 + i, 2.0 + i, 0.5, 1.5, 10.0) for i in range(1200)]
    async with database.session() as session:
        assert await upsert_candles(session, "x", "A/B", "1h", rows) == 1200
        assert await upsert_candles(session, "x", "A/B", "1h", rows) == 1200
    changed = [(t, o, h, lo, 99.0, v) for t, o, h, lo, _, v in rows[:700]]
    async with database.session() as session:
        await upsert_candles(session, "x", "A/B", "1h", changed)
    async with database.session() as session:
        assert await count_candles(session, "x", "A/B", "1h") == 1200
        series = await load_candles(session, "x", "A/B", "1h")
    assert (
        series.close[:700].tolist() == [99.0] * 700 and series.close[700:].tolist() == [1.5] * 500
    )
