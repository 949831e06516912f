"""The market clock: the one answer to "what time is it in the market?".

Live, that is the wall clock. In replay (the DEMO market) it is a point in the
bundled history that advances at `speed` market seconds per real second, so
that everything asking the clock (prices, charts, scheduled jobs) sees the same
replayed moment.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol


class MarketClock(Protocol):
    def now_ms(self) -> int:
        """Current market time in milliseconds since the epoch (UTC)."""
        ...

    @property
    def is_replay(self) -> bool: ...


def to_datetime(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def to_ms(moment: datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


class WallClock:
    """The real time, for live markets."""

    is_replay = False

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000


class ReplayClock:
    """Replayed market time: `start`, advancing `speed`× real time (0 freezes it).

    >>> clock = ReplayClock(datetime(2025, 3, 1, tzinfo=UTC), speed=0)
    >>> to_datetime(clock.now_ms()).isoformat()
    '2025-03-01T00:00:00+00:00'
    """

    is_replay = True

    def __init__(self, start: datetime, speed: float = 1.0) -> None:
        self._start_ms = to_ms(start)
        self._speed = speed
        self._real_start = time.monotonic()

    @property
    def speed(self) -> float:
        return self._speed

    def now_ms(self) -> int:
        elapsed = time.monotonic() - self._real_start
        return self._start_ms + int(elapsed * self._speed * 1000)

    def set(self, moment: datetime | int) -> None:
        """Jump to `moment` (tests and the admin's replay controls use this)."""
        self._start_ms = moment if isinstance(moment, int) else to_ms(moment)
        self._real_start = time.monotonic()
