"""Chart images are real PNGs of the promised size, drawn from closed candles."""

from datetime import UTC, datetime

import pytest

from engine.charts import HEIGHT_PX, WIDTH_PX, ChartSpec, render_candles
from engine.market.clock import ReplayClock
from engine.market.replay import ReplayFeed
from tests.helpers import DATA_DIR, png_size


@pytest.fixture
def feed():
    return ReplayFeed(DATA_DIR, ReplayClock(datetime(2025, 3, 1, tzinfo=UTC), speed=0))


async def test_chart_png_has_the_expected_size(feed):
    candles = await feed.candles("ETH/USDT", "4h", 180)
    png = render_candles(candles.frame, ChartSpec("ETH/USDT · 4h", "DEMO", (2200.0,), "DEMO"))
    assert png_size(png) == (WIDTH_PX, HEIGHT_PX)
    assert len(png) > 20_000  # a drawn chart, not an empty canvas


async def test_chart_with_fewer_candles_than_the_indicators_need(feed):
    candles = await feed.candles("BTC/USDT", "1w", 8)  # too short for EMA 50 and RSI 14
    png = render_candles(candles.frame, ChartSpec("BTC/USDT · 1w"))
    assert png_size(png) == (WIDTH_PX, HEIGHT_PX)


async def test_chart_over_a_flat_zero_volume_candle():
    clock = ReplayClock(datetime(2023, 3, 24, 16, tzinfo=UTC), speed=0)
    candles = await ReplayFeed(DATA_DIR, clock).candles("BTC/USDT", "1h", 30)
    assert (candles.frame["volume"] == 0).any()
    assert png_size(render_candles(candles.frame, ChartSpec("gap"))) == (WIDTH_PX, HEIGHT_PX)


def test_no_candles_is_an_error():
    import pandas as pd

    with pytest.raises(ValueError):
        render_candles(
            pd.DataFrame(columns=["open", "high", "low", "close", "volume"]), ChartSpec("x")
        )
