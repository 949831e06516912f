"""Candle-close events on the market clock.

Scheduled work (ingestion, scans, outcome tracking) runs when candles close.
Asking the market clock, rather than the wall clock, makes the same jobs run on
the replayed DEMO market as on a live one.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.market.clock import MarketClock
from engine.market.timeframes import bucket_start, duration_ms


@dataclass(frozen=True, slots=True)
class CandleClose:
    timeframe: str
    open_ms: int  # the candle that just closed

    @property
    def close_ms(self) -> int:
        return self.open_ms + duration_ms(self.timeframe)


class CandleCloseTracker:
    """Reports each candle close once, in order, however often it is polled.

    If the clock jumps (a replay at high speed, a pause), only the latest close
    per timeframe is reported: jobs re-read the data anyway, and catching up
    candle by candle after a long pause would only delay the current one.

    >>> from engine.market.clock import ReplayClock
    >>> from datetime import datetime, UTC
    >>> clock = ReplayClock(datetime(2025, 3, 1, 0, 30, tzinfo=UTC), speed=0)
    >>> tracker = CandleCloseTracker(clock, ["1h"])
    >>> tracker.due(), clock.set(datetime(2025, 3, 1, 1, 0, tzinfo=UTC)), len(tracker.due())
    ([], None, 1)
    """

    def __init__(self, clock: MarketClock, timeframes: list[str]) -> None:
        self.clock = clock
        self.timeframes = list(timeframes)
        now = clock.now_ms()
        self._last_open = {tf: self._latest_closed_open(tf, now) for tf in self.timeframes}

    @staticmethod
    def _latest_closed_open(timeframe: str, now: int) -> int:
        return bucket_start(now, timeframe) - duration_ms(timeframe)

    def due(self) -> list[CandleClose]:
        now = self.clock.now_ms()
        events = []
        for timeframe in self.timeframes:
            latest = self._latest_closed_open(timeframe, now)
            if latest > self._last_open[timeframe]:
                self._last_open[timeframe] = latest
                events.append(CandleClose(timeframe, latest))
        return events
