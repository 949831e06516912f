"""The replayed market: closed-candle semantics, timeframe choice, 24h figures,
and resampling checked against the bundled data itself."""

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from engine.market.clock import ReplayClock, to_ms
from engine.market.replay import ReplayFeed
from engine.market.series import read_candle_file, resample
from engine.market.timeframes import DAY_MS, HOUR_MS, MINUTE_MS
from engine.market.types import NoData, UnknownSymbol, UnsupportedTimeframe
from tests.helpers import DATA_DIR, raw_rows

START = datetime(2025, 3, 1, tzinfo=UTC)


def feed_at(moment) -> tuple[ReplayFeed, ReplayClock]:
    clock = ReplayClock(START, speed=0)
    clock.set(moment)
    return ReplayFeed(DATA_DIR, clock), clock


def row_at(name: str, open_ms: int):
    return next(r for r in raw_rows(name) if r[0] == open_ms)


async def test_price_is_close_of_latest_closed_finest_candle():
    feed, _ = feed_at(START)
    ticker = await feed.ticker("BTC/USDT")
    assert ticker.timeframe == "5m"  # finest file covering March 2025
    last_open = to_ms(START) - 5 * MINUTE_MS
    assert ticker.last == row_at("BTC_USDT-5m.csv.gz", last_open)[4]
    assert ticker.as_of_ms == to_ms(START)
    assert ticker.age_ms == 0


async def test_candle_boundaries():
    t = to_ms(START) + 10 * MINUTE_MS  # 00:10: the 00:05 candle has just closed
    feed, clock = feed_at(t - 1)
    before = await feed.ticker("BTC/USDT")
    clock.set(t)
    at = await feed.ticker("BTC/USDT")
    assert before.last == row_at("BTC_USDT-5m.csv.gz", t - 10 * MINUTE_MS)[4]
    assert before.age_ms == 5 * MINUTE_MS - 1
    assert at.last == row_at("BTC_USDT-5m.csv.gz", t - 5 * MINUTE_MS)[4]
    assert at.age_ms == 0


async def test_24h_figures_from_closed_candles():
    feed, _ = feed_at(START)
    ticker = await feed.ticker("ETH/USDT")
    now = to_ms(START)
    rows = [r for r in raw_rows("ETH_USDT-5m.csv.gz") if now - DAY_MS <= r[0] < now]
    assert len(rows) == 288
    reference = row_at("ETH_USDT-5m.csv.gz", now - DAY_MS - 5 * MINUTE_MS)
    assert ticker.high == max(r[2] for r in rows)
    assert ticker.low == min(r[3] for r in rows)
    assert ticker.volume == pytest.approx(sum(r[5] for r in rows), rel=1e-12)
    assert ticker.change_pct == pytest.approx((rows[-1][4] / reference[4] - 1) * 100)


async def test_one_minute_data_is_used_where_it_exists():
    moment = datetime(2024, 4, 3, 12, 0, 30, tzinfo=UTC)
    feed, _ = feed_at(moment)
    ticker = await feed.ticker("BTC/USDT")
    assert ticker.timeframe == "1m"
    assert ticker.last == row_at("BTC_USDT-1m.csv.gz", to_ms(moment) - 30_000 - MINUTE_MS)[4]
    # ETH has no 1m file; in 2024 its finest data is hourly.
    assert (await feed.ticker("ETH/USDT")).timeframe == "1h"


async def test_inside_a_real_outage_the_age_shows_it():
    # 2021-08-13: Binance published no 1h candle from 02:00 to 05:00.
    moment = datetime(2021, 8, 13, 4, 30, tzinfo=UTC)
    feed, _ = feed_at(moment)
    ticker = await feed.ticker("BTC/USDT")
    assert ticker.timeframe == "1h"
    assert ticker.as_of_ms == to_ms(datetime(2021, 8, 13, 2, tzinfo=UTC))
    assert ticker.age_ms == int(2.5 * HOUR_MS)


async def test_after_the_data_ends_the_last_close_ages():
    moment = datetime(2025, 6, 3, tzinfo=UTC)
    feed, _ = feed_at(moment)
    ticker = await feed.ticker("BTC/USDT")
    assert ticker.last == 104591.88  # the last close of the bundled data
    assert ticker.age_ms == 2 * DAY_MS


async def test_before_the_data_begins_there_is_nothing():
    feed, _ = feed_at(datetime(2017, 1, 1, tzinfo=UTC))
    with pytest.raises(NoData):
        await feed.ticker("BTC/USDT")
    with pytest.raises(NoData):
        await feed.candles("BTC/USDT", "1d", 10)


async def test_unknown_symbol_and_timeframe():
    feed, _ = feed_at(START)
    with pytest.raises(UnknownSymbol) as error:
        await feed.ticker("BTX/USDT")
    assert error.value.matches == ["BTC/USDT"]
    assert await feed.has_symbol("BTC/USDT") and not await feed.has_symbol("BTX/USDT")
    ethonly = ReplayFeed(DATA_DIR, ReplayClock(START, 0), timeframes=["1h", "4h"])
    with pytest.raises(UnsupportedTimeframe):
        await ethonly.candles("ETH/USDT", "1d", 10)


async def test_candles_never_include_the_open_candle():
    moment = to_ms(START) + 3 * HOUR_MS + 1
    feed, _ = feed_at(moment)
    candles = await feed.candles("BTC/USDT", "4h", 5)
    assert candles.frame.index[-1] == pd.Timestamp("2025-02-28 20:00", tz="UTC")
    candles = await feed.candles("BTC/USDT", "1h", 5)
    assert candles.frame.index[-1] == pd.Timestamp("2025-03-01 02:00", tz="UTC")
    assert len(candles) == 5


def test_resampling_5m_reproduces_the_exchange_1h_candles():
    five = read_candle_file(DATA_DIR / "BTC_USDT-5m.csv.gz", "5m")
    hourly = resample(five, "1h")
    exchange = read_candle_file(DATA_DIR / "BTC_USDT-1h.csv.gz", "1h")
    start = np.searchsorted(exchange.open_time, hourly.open_time[0])
    stop = start + len(hourly)
    assert len(hourly) == 24 * 151  # Jan 1 to May 31 2025, whole hours
    np.testing.assert_array_equal(hourly.open_time, exchange.open_time[start:stop])
    for column in ("open", "high", "low", "close"):
        np.testing.assert_array_equal(
            getattr(hourly, column), getattr(exchange, column)[start:stop]
        )
    np.testing.assert_allclose(hourly.volume, exchange.volume[start:stop], rtol=1e-9)


def test_resampling_4h_and_1w_match_pandas():
    hourly = read_candle_file(DATA_DIR / "ETH_USDT-1h.csv.gz", "1h")
    frame = hourly.frame(0, len(hourly))
    ours = resample(hourly, "4h").frame(0, None)
    agg = {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}
    theirs = frame.resample("4h").agg(agg).dropna()
    # The source starts and ends on 4h boundaries, so every bucket is complete.
    pd.testing.assert_frame_equal(ours, theirs, check_freq=False, check_names=False)

    daily = read_candle_file(DATA_DIR / "ETH_USDT-1d.csv.gz", "1d")
    weekly = resample(daily, "1w").frame(0, None)
    assert (weekly.index.day_of_week == 0).all()  # Monday opens
    expected = daily.frame(0, None).resample("W-MON", label="left", closed="left").agg(agg)
    expected = expected.loc[weekly.index]
    pd.testing.assert_frame_equal(weekly, expected, check_freq=False, check_names=False)


def test_resampling_drops_buckets_the_source_does_not_span():
    daily = read_candle_file(DATA_DIR / "BTC_USDT-1d.csv.gz", "1d")
    weekly = resample(daily, "1w")
    # Data starts Thursday 2017-08-17 and ends Saturday 2025-05-31: both partial weeks go.
    assert weekly.open_time[0] == to_ms(datetime(2017, 8, 21, tzinfo=UTC))
    assert weekly.open_time[-1] == to_ms(datetime(2025, 5, 19, tzinfo=UTC))
    first_week = [
        r
        for r in raw_rows("BTC_USDT-1d.csv.gz")
        if weekly.open_time[0] <= r[0] < weekly.open_time[0] + 7 * DAY_MS
    ]
    assert weekly.high[0] == max(r[2] for r in first_week)
    assert weekly.close[0] == first_week[-1][4]
