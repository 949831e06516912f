"""Per-user request throttling, shared by the chat adapters (`THROTTLE_PER_MINUTE`).

A token bucket per user: `per_minute` tokens, refilled evenly over a minute, so a
short burst is fine and a steady flood is held to the rate. Past it, the adapter
tells the user once per episode (`Verdict.notify`) and then stays quiet until a
request is allowed again.

    throttle = UserThrottle(per_minute=100)
    verdict = throttle.allow(("discord", user_id))
    if not verdict.allowed: ...   # answer SLOW_DOWN when verdict.notify

Why not the `limits` library: its in-memory storage starts a timer thread on
writes that scans every key each 10 ms, a poor fit for a check made on every
request; this bucket is O(1) per request with no thread, and bounded by
`capacity` users (the least recently seen are forgotten first).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import NamedTuple

from handlers.i18n import N_

SLOW_DOWN = N_(
    "You are sending requests faster than I can answer them. Please wait a moment and try again."
)


class Verdict(NamedTuple):
    allowed: bool
    notify: bool  # refused, and the first refusal of this episode: tell the user


class UserThrottle:
    """A token bucket per user key (`per_minute` <= 0: everything is allowed).

    >>> now = [0.0]
    >>> throttle = UserThrottle(2, clock=lambda: now[0])
    >>> [throttle.allow("ann") for _ in range(3)]
    [Verdict(allowed=True, notify=False), Verdict(allowed=True, notify=False), \
Verdict(allowed=False, notify=True)]
    >>> now[0] = 30.0  # two a minute: one token back every 30 s
    >>> throttle.allow("ann")
    Verdict(allowed=True, notify=False)
    """

    def __init__(
        self,
        per_minute: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        capacity: int = 100_000,
    ) -> None:
        self.per_minute = per_minute
        self.clock = clock
        self.capacity = capacity
        # user -> (tokens, last refill, notified during this episode)
        self._buckets: OrderedDict[Hashable, tuple[float, float, bool]] = OrderedDict()

    def allow(self, user: Hashable) -> Verdict:
        """Spend one of `user`'s tokens, if there is one."""
        if self.per_minute <= 0:
            return Verdict(True, False)
        now = self.clock()
        full = float(self.per_minute)
        tokens, stamp, notified = self._buckets.pop(user, (full, now, False))
        tokens = min(full, tokens + (now - stamp) * self.per_minute / 60.0)
        if tokens >= 1.0:
            self._buckets[user] = (tokens - 1.0, now, False)
            verdict = Verdict(True, False)
        else:
            self._buckets[user] = (tokens, now, True)
            verdict = Verdict(False, not notified)
        while len(self._buckets) > self.capacity:
            self._buckets.popitem(last=False)
        return verdict
