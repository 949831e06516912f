"""Domain types of the market layer (no I/O here)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import pandas as pd

from engine.market.timeframes import duration_ms

STALE_CANDLES = 2  # candles older than this many timeframes are not acted on


@dataclass(frozen=True, slots=True)
class Ticker:
    """What `/price` shows. Every figure comes from closed candles of `timeframe`.

    - `last`: close of the most recent closed candle.
    - `change_pct`: `last` against the close of the latest candle that closed at
      least 24 hours before it, in percent (None with less than 24h of data).
    - `high`, `low`, `volume`: over the closed candles of the last 24 hours
      (volume in the base asset).
    - `as_of_ms`: close time of that last candle; `age_ms`: market clock minus it.
      (Live, `last` is the latest live price when one is fresh and `as_of_ms` its time.)
    - `stale`: the data is older than the feed's threshold; say so, and act on nothing.
    """

    symbol: str
    last: float
    change_pct: float | None
    high: float
    low: float
    volume: float
    timeframe: str
    as_of_ms: int
    age_ms: int
    source: str
    stale: bool = False


@dataclass(frozen=True, slots=True)
class Candles:
    """Closed candles of one market, oldest first: a DataFrame indexed by UTC open
    time ("time") with float columns open, high, low, close, volume (the shape
    pandas-ta and mplfinance take)."""

    symbol: str
    timeframe: str
    frame: pd.DataFrame
    as_of_ms: int  # market clock when they were read
    source: str
    stale: bool = False  # older than the feed's staleness threshold for this timeframe

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def last_close_ms(self) -> int | None:
        """Close time of the newest candle (its open time + one timeframe)."""
        if self.frame.empty:
            return None
        return int(self.frame.index[-1].value // 1_000_000) + duration_ms(self.timeframe)

    def behind(self, candles: int) -> bool:
        """Too old to act on: the feed marks them stale, there are none, or the
        newest closed candle is more than `candles` candles old at the market clock
        (a replayed series that ended earlier, an exchange outage)."""
        last = self.last_close_ms
        too_old = candles * duration_ms(self.timeframe)
        return self.stale or last is None or self.as_of_ms - last > too_old


class MarketError(Exception):
    """Base of the market errors a handler turns into a user message."""


class UnknownSymbol(MarketError):
    def __init__(self, symbol: str, matches: list[str]) -> None:
        super().__init__(symbol)
        self.symbol = symbol
        self.matches = matches


class UnsupportedTimeframe(MarketError):
    def __init__(self, symbol: str, timeframe: str, available: list[str]) -> None:
        super().__init__(f"{symbol} {timeframe}")
        self.symbol = symbol
        self.timeframe = timeframe
        self.available = available


class NoData(MarketError):
    """No closed candle exists yet for this market at the market clock."""

    def __init__(self, symbol: str, timeframe: str | None = None) -> None:
        super().__init__(f"{symbol} {timeframe or ''}".strip())
        self.symbol = symbol
        self.timeframe = timeframe


class MarketFeed(Protocol):
    """Where prices and candles come from: the replayed history or a live exchange."""

    name: str
    is_demo: bool

    async def symbols(self) -> list[str]:
        """Every symbol this feed serves, as `BASE/QUOTE`."""
        ...

    async def has_symbol(self, symbol: str) -> bool:
        """Whether this feed serves `symbol` (a set lookup, unlike searching
        `symbols()`, which builds a sorted list of them all)."""
        ...

    async def timeframes(self, symbol: str) -> list[str]:
        """Timeframes available for `symbol` (native or built from finer candles)."""
        ...

    async def candles(self, symbol: str, timeframe: str, limit: int) -> Candles:
        """Up to `limit` most recent **closed** candles at the market clock."""
        ...

    async def ticker(self, symbol: str) -> Ticker:
        """Last price and 24h figures from the finest timeframe available."""
        ...

    def is_stale(self, symbol: str, timeframe: str | None = None) -> bool:
        """True when the data for `symbol` (its live price, or its `timeframe`
        candles) is too old to act on: alarms and analysis must skip it."""
        ...
