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
    as closed candles go), from the finest timeframe that has fresh data and is
    at most a sixth of the window; empty when none does. `MarketError` when the
    market does not know `symbol`."""
    if window_ms <= 0:
        return []
    available = set(await market.timeframes(symbol))
    for timeframe in PATH_TIMEFRAMES:
        step = duration_ms(timeframe)
        if timeframe not in available or step * MIN_CANDLES_PER_WINDOW > window_ms:
            continue
        try:
            candles = await market.candles(symbol, timeframe, math.ceil(window_ms / step) + 1)
        except MarketError:
            continue  # e.g. no candles of this timeframe at this time: try coarser
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
