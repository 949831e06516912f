"""Change alarms (`ChangeAlarm`, matched by `ChangeWatch`): ``change PCT WINDOW``.

``change PCT WINDOW`` fires when the current price is at least PCT percent above
the lowest price, or at least PCT percent below the highest price, seen within
the trailing window: ``(p / low - 1) * 100 >= pct`` or
``(p / high - 1) * 100 <= -pct``. The window holds the ticks with
``ts >= now - window_ms``, the current one included. Alarms of one symbol with
the same window share one history (two monotonic deques: rising lows and falling
highs), and each window keeps its alarms sorted by pct (the fired ones are a
prefix), so a tick costs amortised O(1) per distinct window of its symbol plus
O(k) for k fired alarms, never a scan of the history or of the alarms.

An alarm evaluates from the first tick after it is added: the window holds
whatever the watch has seen, even when that covers less than ``window_ms``
(after a restart, `seed` gives it the prices of the recent candles, so a move
that began before the restart still counts). A
window's history starts when its first alarm is added (a later alarm with the
same symbol and window also sees the ticks already in it) and is dropped when
its last alarm leaves. Fired change alarms leave the watch. A tick older than the
newest one seen for its symbol is ignored, as are NaN/inf/non-positive prices.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

from engine.alarms import _Ladder, _positive_finite


@dataclass(frozen=True, slots=True)
class ChangeAlarm:
    """``change PCT WINDOW``: fires on a move of at least `pct` percent (> 0) either
    way within the trailing `window_ms` milliseconds (> 0).

    >>> ChangeAlarm(1, "BTC/USDT", 5.0, 3_600_000).pct
    5.0
    """

    id: int
    symbol: str
    pct: float
    window_ms: int

    def __post_init__(self) -> None:
        if not _positive_finite(self.pct):
            raise ValueError(f"change percent must be positive; got {self.pct!r}")
        if self.window_ms <= 0:
            raise ValueError(f"change window must be positive; got {self.window_ms!r} ms")


class _Window:
    """One (symbol, window) history and the alarms that share it."""

    __slots__ = ("alarms", "highs", "lows")

    def __init__(self) -> None:
        self.lows: deque[tuple[int, float]] = deque()  # prices rising: front is the min
        self.highs: deque[tuple[int, float]] = deque()  # prices falling: front is the max
        self.alarms: _Ladder[ChangeAlarm] = _Ladder()  # by pct: the fired are a prefix

    def push(self, ts_ms: int, price: float) -> None:
        """Append a price to both histories, dropping the points it makes
        irrelevant (a later price at or below an earlier one is a new low for
        longer; the same for highs)."""
        lows, highs = self.lows, self.highs
        while lows and lows[-1][1] >= price:
            lows.pop()
        lows.append((ts_ms, price))
        while highs and highs[-1][1] <= price:
            highs.pop()
        highs.append((ts_ms, price))


class _SymbolWatch:
    __slots__ = ("last_ts", "windows")

    def __init__(self) -> None:
        self.windows: dict[int, _Window] = {}
        self.last_ts: int | None = None


class ChangeWatch:
    """Active change alarms (see the module docstring).

    >>> watch = ChangeWatch()
    >>> watch.add(ChangeAlarm(1, "BTC/USDT", 5.0, 60_000))
    >>> watch.on_tick("BTC/USDT", 100.0, 0), watch.on_tick("BTC/USDT", 104.0, 30_000)
    ([], [])
    >>> [(a.id, round(move, 2)) for a, move in watch.on_tick("BTC/USDT", 106.0, 50_000)]
    [(1, 6.0)]
    >>> len(watch)
    0
    """

    __slots__ = ("_alarms", "_symbols")

    def __init__(self) -> None:
        self._alarms: dict[int, ChangeAlarm] = {}
        self._symbols: dict[str, _SymbolWatch] = {}

    def __len__(self) -> int:
        return len(self._alarms)

    def __contains__(self, alarm_id: object) -> bool:
        return isinstance(alarm_id, int) and alarm_id in self._alarms

    def add(self, alarm: ChangeAlarm) -> None:
        """Watch `alarm`; an alarm with the same id is replaced."""
        if alarm.id in self._alarms:
            self._drop(alarm.id)
        watch = self._symbols.get(alarm.symbol)
        if watch is None:
            watch = self._symbols[alarm.symbol] = _SymbolWatch()
        window = watch.windows.get(alarm.window_ms)
        if window is None:
            window = watch.windows[alarm.window_ms] = _Window()
        window.alarms.insert(alarm.pct, alarm)
        self._alarms[alarm.id] = alarm

    def remove(self, alarm_id: int) -> bool:
        """Forget the alarm `alarm_id`; True if it was watched."""
        if alarm_id not in self._alarms:
            return False
        self._drop(alarm_id)
        return True

    def on_tick(self, symbol: str, price: float, ts_ms: int) -> list[tuple[ChangeAlarm, float]]:
        """The alarms that fire at this tick, each with the signed move in percent
        (the larger of the rise from the window's low and the fall from its high),
        removed from the watch; ordered by window, then pct, then id."""
        price = float(price)
        if not 0.0 < price < math.inf:
            return []
        watch = self._symbols.get(symbol)
        if watch is None:
            return []
        if watch.last_ts is not None and ts_ms < watch.last_ts:
            return []
        watch.last_ts = ts_ms
        fired: list[tuple[ChangeAlarm, float]] = []
        emptied = []
        for window_ms, window in watch.windows.items():
            cutoff = ts_ms - window_ms
            window.push(ts_ms, price)
            lows, highs = window.lows, window.highs
            while lows[0][0] < cutoff:
                lows.popleft()
            while highs[0][0] < cutoff:
                highs.popleft()
            rise = (price / lows[0][1] - 1.0) * 100.0
            fall = (price / highs[0][1] - 1.0) * 100.0
            size = max(rise, -fall)
            ladder = window.alarms
            if ladder.keys[0][0] > size:
                continue
            move = rise if rise >= -fall else fall
            taken: list[ChangeAlarm] = []
            ladder.take_upto(size, taken)
            for alarm in taken:
                del self._alarms[alarm.id]
                fired.append((alarm, move))
            if not ladder.size:
                emptied.append(window_ms)
        for window_ms in emptied:
            del watch.windows[window_ms]
        if not watch.windows:
            del self._symbols[symbol]
        if len(fired) > 1:
            fired.sort(key=lambda f: (f[0].window_ms, f[0].pct, f[0].id))
        return fired

    def longest_window(self, symbol: str) -> int:
        """The longest window (ms) watched for `symbol`; 0 when none is."""
        watch = self._symbols.get(symbol)
        return max(watch.windows, default=0) if watch is not None else 0

    def seed(self, symbol: str, points: list[tuple[int, float]]) -> int:
        """Put past prices (`(ts_ms, price)`, oldest first) into the histories of
        `symbol`'s windows without evaluating any alarm: the next tick judges
        them. Points not newer than the last price seen are skipped (the watch
        never goes back in time). Returns how many were taken.

        >>> watch = ChangeWatch()
        >>> watch.add(ChangeAlarm(1, "BTC/USDT", 5.0, 60_000))
        >>> watch.seed("BTC/USDT", [(0, 100.0), (20_000, 101.0)])
        2
        >>> [(a.id, round(move, 2)) for a, move in watch.on_tick("BTC/USDT", 105.5, 40_000)]
        [(1, 5.5)]
        """
        watch = self._symbols.get(symbol)
        if watch is None:
            return 0
        taken = 0
        for ts_ms, price in points:
            price = float(price)
            if not 0.0 < price < math.inf:
                continue
            if watch.last_ts is not None and ts_ms <= watch.last_ts:
                continue
            for window in watch.windows.values():
                window.push(ts_ms, price)
            watch.last_ts = ts_ms
            taken += 1
        return taken

    def _drop(self, alarm_id: int) -> None:
        alarm = self._alarms.pop(alarm_id)
        watch = self._symbols[alarm.symbol]
        window = watch.windows[alarm.window_ms]
        window.alarms.remove(alarm.pct, alarm)
        if not window.alarms.size:
            del watch.windows[alarm.window_ms]
            if not watch.windows:
                del self._symbols[alarm.symbol]
