"""Rate limits: Telegram's published ones as token buckets, and the `Throttling` part of
`TelegramServer` that answers 429 with `retry_after` from them."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from tests.telegram_server.errors import ApiError
from tests.telegram_server.records import SimChat


@dataclass
class RateLimits:
    """Telegram's published limits; `scale` multiplies every rate (and the global burst)."""

    enabled: bool = True
    scale: float = 1.0
    global_per_second: float = 30.0
    private_per_second: float = 1.0
    private_burst: float = 3.0
    group_per_minute: float = 20.0
    group_burst: float = 20.0

    def for_chat(self, chat: SimChat) -> tuple[float, float]:
        """(tokens per second, capacity) of the chat's bucket."""
        if chat.is_private:
            return self.private_per_second * self.scale, self.private_burst
        return self.group_per_minute / 60.0 * self.scale, self.group_burst

    def overall(self) -> tuple[float, float]:
        rate = self.global_per_second * self.scale
        return rate, max(1.0, rate)


class _Bucket:
    __slots__ = ("stamp", "tokens")

    def __init__(self, capacity: float, now: float) -> None:
        self.tokens = capacity
        self.stamp = now

    def wait(self, rate: float, capacity: float, now: float) -> float:
        """Seconds until one token is available (0 if one is)."""
        self.tokens = min(capacity, self.tokens + (now - self.stamp) * rate)
        self.stamp = now
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / rate


class Throttling:
    """Counts messages sent and edited against the buckets.

    A part of `TelegramServer` (server.py), whose `__init__` sets up the state used here."""

    rate_limits: RateLimits
    clock: Callable[[], float]
    _buckets: dict[int, _Bucket]
    _global_bucket: _Bucket | None

    def _throttle(self, chat: SimChat) -> None:
        limits = self.rate_limits
        if not limits.enabled:
            return
        now = self.clock()
        rate, capacity = limits.for_chat(chat)
        overall_rate, overall_capacity = limits.overall()
        bucket = self._buckets.get(chat.id)
        if bucket is None:
            bucket = self._buckets[chat.id] = _Bucket(capacity, now)
        if self._global_bucket is None:
            self._global_bucket = _Bucket(overall_capacity, now)
        wait = max(
            bucket.wait(rate, capacity, now),
            self._global_bucket.wait(overall_rate, overall_capacity, now),
        )
        if wait > 0:
            retry_after = max(1, math.ceil(wait - 1e-9))
            raise ApiError(
                429, f"Too Many Requests: retry after {retry_after}", retry_after=retry_after
            )
        bucket.tokens -= 1
        self._global_bucket.tokens -= 1

    def reset_rate_limits(self) -> None:
        self._buckets.clear()
        self._global_bucket = None
