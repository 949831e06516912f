"""A market's recent price path rebuilt from its closed candles, for what needs
prices from before the process started (change alarms' windows after a restart).

Each candle gives its two extremes in the order they most likely came: a candle
that closed up went to its low first and then to its high, one that closed down
the other way round (the usual assumption of backtesters); then its close.
"""

from __future__ import annotations

import math

import pandas as pd

from engine.market.timeframes import duration_ms
from engine.market.types import STALE_CANDLES, MarketError, MarketFeed

PATH_TIMEFRAMES = ("1m", "5m", "15m", "1h")  # finest first
MIN_CANDLES_PER_WINDOW = 6  # coarser candles would blur the window too much


async def recent_price_path(
    market: MarketFeed, symbol: str, window_ms: int
) -> list[tuple[int, float]]:
    """`(ts_ms, price)` points, oldest first, covering the last `window_ms` (as far
    as closed candles go), from a timeframe at most a sixth of the window that has
    fresh data: the finest the market already keeps fresh, else the coarsest (a
    live market backfills a timeframe it is first asked for: 30 days of 1m
    candles would be ~44 requests per symbol, of 1h one); empty when none has.
    `MarketError` when the market does not know `symbol`."""
    if window_ms <= 0:
        return []
    available = set(await market.timeframes(symbol))
    fitting = [
        tf
        for tf in PATH_TIMEFRAMES
        if tf in available and duration_ms(tf) * MIN_CANDLES_PER_WINDOW <= window_ms
    ]
    kept = [tf for tf in fitting if not market.is_stale(symbol, tf)]
    for timeframe in kept + [tf for tf in reversed(fitting) if tf not in kept]:
        step = duration_ms(timeframe)
        try:
            candles = await market.candles(symbol, timeframe, math.ceil(window_ms / step) + 1)
        except MarketError:
            continue  # e.g. no candles of this timeframe at this time: try the next
        if candles.behind(STALE_CANDLES):
            continue
        return _path(candles.frame, step, candles.as_of_ms - window_ms)
    return []


def _path(frame: pd.DataFrame, step: int, since_ms: int) -> list[tuple[int, float]]:
    points: list[tuple[int, float]] = []
    opens = frame.index.as_unit("ms").asi8  # UTC open times in ms
    columns = (frame[c].to_numpy(float) for c in ("open", "high", "low", "close"))
    for start, open_, high, low, close in zip(opens, *columns, strict=True):
        start = int(start)
        if start + step <= since_ms:
            continue  # wholly before the window
        first, second = (low, high) if close >= open_ else (high, low)
        points += [
            (start, float(first)),
            (start + step // 2, float(second)),
            (start + step - 1, float(close)),
        ]
    return points
