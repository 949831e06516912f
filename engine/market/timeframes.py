"""Timeframes: names, durations and bucket alignment.

Candles are identified by their **open** time in milliseconds since the Unix
epoch (UTC), as ccxt and Binance give them. A candle that opened at `t` with
timeframe `tf` is *closed* once the market clock reaches `t + duration(tf)`.
"""

from __future__ import annotations

from typing import Final

MINUTE_MS: Final = 60_000
HOUR_MS: Final = 60 * MINUTE_MS
DAY_MS: Final = 24 * HOUR_MS
WEEK_MS: Final = 7 * DAY_MS

TIMEFRAME_MS: Final[dict[str, int]] = {
    "1m": MINUTE_MS,
    "5m": 5 * MINUTE_MS,
    "15m": 15 * MINUTE_MS,
    "30m": 30 * MINUTE_MS,
    "1h": HOUR_MS,
    "4h": 4 * HOUR_MS,
    "1d": DAY_MS,
    "1w": WEEK_MS,
}
TIMEFRAMES: Final = tuple(TIMEFRAME_MS)
DEFAULT_TIMEFRAME: Final = "1h"

# Weekly candles open on Monday 00:00 UTC (as on Binance); the epoch was a Thursday,
# so week buckets are offset by four days from multiples of a week.
_BUCKET_OFFSET_MS: Final[dict[str, int]] = {"1w": 4 * DAY_MS}

_ALIASES: Final[dict[str, str]] = {
    "1min": "1m",
    "5min": "5m",
    "15min": "15m",
    "30min": "30m",
    "60m": "1h",
    "60min": "1h",
    "1hr": "1h",
    "h1": "1h",
    "h4": "4h",
    "240m": "4h",
    "4hr": "4h",
    "24h": "1d",
    "d": "1d",
    "d1": "1d",
    "1day": "1d",
    "7d": "1w",
    "w": "1w",
    "1wk": "1w",
}


def normalize_timeframe(text: str) -> str | None:
    """Return the canonical timeframe for user text, or None.

    >>> normalize_timeframe("4H"), normalize_timeframe("60m"), normalize_timeframe("2h")
    ('4h', '1h', None)
    """
    key = text.strip().lower()
    if key in TIMEFRAME_MS:
        return key
    return _ALIASES.get(key)


def duration_ms(timeframe: str) -> int:
    """Length of one candle of `timeframe` in milliseconds."""
    return TIMEFRAME_MS[timeframe]


def bucket_start(open_time_ms: int, timeframe: str) -> int:
    """Open time of the `timeframe` candle that contains the instant `open_time_ms`."""
    size = TIMEFRAME_MS[timeframe]
    offset = _BUCKET_OFFSET_MS.get(timeframe, 0)
    return (open_time_ms - offset) // size * size + offset


def resample_source(timeframe: str, available: list[str] | tuple[str, ...]) -> str | None:
    """The coarsest available timeframe that evenly builds `timeframe`, or None.

    >>> resample_source("4h", ["5m", "1h", "1d"]), resample_source("1w", ["1h", "1d"])
    ('1h', '1d')
    """
    target = TIMEFRAME_MS[timeframe]
    candidates = [
        tf
        for tf in available
        if tf in TIMEFRAME_MS and TIMEFRAME_MS[tf] < target and target % TIMEFRAME_MS[tf] == 0
    ]
    return max(candidates, key=TIMEFRAME_MS.__getitem__, default=None)
