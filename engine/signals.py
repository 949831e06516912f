"""Signal outcomes and track-record statistics (pure computation).

**Following a signal** (`follow`): the signal is decided at the close of its candle,
so only the candles *after* it count. On each later closed candle, in order:

- a buy hits its stop when ``low <= stop`` and its target when ``high >= target``
  (a sell: ``high >= stop`` / ``low <= target``);
- both inside one candle: the order within the candle is unknown, so it counts
  as the stop (conservative);
- a candle that opens beyond the stop or target (a gap) exits at its open, the
  price actually obtainable;
- after `expiry_candles` candles without either, the outcome is ``expired`` at the
  close of the last of them; with fewer candles available it is ``open``.

**R multiple**: ``(exit - entry) / (entry - stop)`` for a buy, the mirror for a
sell: +2 means twice the risk won, -1 the risk lost. **MFE / MAE** (maximum
favourable / adverse excursion) are the best and worst prices reached while the
trade was open, in R (never below 0 / above 0, since the entry itself counts).
On the exit candle, a target exit credits the target as the best price and the
candle's adverse extreme as the worst; a stop exit the stop (or gap open) as the
worst and only the candle's open as the best, as the stop is taken to come first.

**Track record** (`track_record`), over closed outcomes only (``open`` ones are
left out), per group:

- ``count``: closed outcomes; ``wins``: those with R > 0;
- ``win_rate`` = wins / count;
- ``avg_r`` = mean R = **expectancy** in R per trade; ``expectancy`` is also given
  the classic way, ``win_rate * avg_win - (1 - win_rate) * avg_loss`` (the same
  number, shown with its parts ``avg_win_r`` and ``avg_loss_r`` ≥ 0);
- ``total_r`` = sum of R.

>>> s = Outcome("x", "1h", "rsi", "buy", 0, "target", 2.0, 1, 110.0, 2.0, 2.0, -0.5)
>>> track_record([s])[("x", "1h", "rsi")].win_rate
1.0
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from engine.strategies.base import Signal

Status = Literal["target", "stop", "expired", "open"]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one signal (see the module docstring for each figure)."""

    symbol: str
    timeframe: str
    strategy: str
    side: str
    candle_open_ms: int  # the signal's candle
    status: Status
    r_multiple: float  # 0 while open
    exit_open_ms: int | None  # open time of the candle it exited on
    exit_price: float | None
    candles: float  # candles followed
    mfe_r: float
    mae_r: float


def follow(
    signal: Signal,
    open_ms: Sequence[int] | np.ndarray,
    open_: Sequence[float] | np.ndarray,
    high: Sequence[float] | np.ndarray,
    low: Sequence[float] | np.ndarray,
    close: Sequence[float] | np.ndarray,
    expiry_candles: int = 48,
) -> Outcome:
    """Follow `signal` on closed candles (arrays in time order; candles at or before
    the signal's own candle are ignored).

    >>> sig = Signal("X", "1h", "t", "buy", 0, 100.0, 95.0, 110.0, 0.5, "BULL")
    >>> follow(sig, [0, 1, 2], [100, 101, 104], [101, 105, 111], [99, 97, 103], [100, 104, 109]).status
    'target'
    """
    if expiry_candles < 1:
        raise ValueError("expiry_candles must be >= 1")
    times = np.asarray(open_ms, dtype=np.int64)
    start = int(np.searchsorted(times, signal.candle_open_ms, side="right"))
    buy = signal.side == "buy"
    risk = signal.risk
    sign = 1.0 if buy else -1.0

    def r(price: float) -> float:
        return sign * (price - signal.entry) / risk if risk > 0 else 0.0

    best = worst = signal.entry
    end = min(len(times), start + expiry_candles)
    for i in range(start, end):
        o, h, lo = float(open_[i]), float(high[i]), float(low[i])
        fav, adv = (h, lo) if buy else (lo, h)
        stop_hit = (lo <= signal.stop) if buy else (h >= signal.stop)
        target_hit = (h >= signal.target) if buy else (lo <= signal.target)
        if stop_hit or target_hit:
            if stop_hit:  # both in one candle: the stop, conservatively
                gapped = (o <= signal.stop) if buy else (o >= signal.stop)
                price, status = (o if gapped else signal.stop), "stop"
                # Assumed reached first, so the candle's favourable side is not
                # credited beyond its open.
                adv, fav = price, o
            else:
                gapped = (o >= signal.target) if buy else (o <= signal.target)
                price, status = (o if gapped else signal.target), "target"
                fav = price
            best = max(best, fav) if buy else min(best, fav)
            worst = min(worst, adv) if buy else max(worst, adv)
            return _outcome(
                signal, status, r(price), int(times[i]), price, i - start + 1, r(best), r(worst)
            )
        best = max(best, fav) if buy else min(best, fav)
        worst = min(worst, adv) if buy else max(worst, adv)
    followed = end - start
    if followed >= expiry_candles:
        price = float(close[end - 1])
        return _outcome(
            signal, "expired", r(price), int(times[end - 1]), price, followed, r(best), r(worst)
        )
    return _outcome(signal, "open", 0.0, None, None, followed, r(best), r(worst))


def _outcome(
    s: Signal,
    status: Status,
    r_multiple: float,
    exit_ms: int | None,
    price: float | None,
    candles: int,
    mfe: float,
    mae: float,
) -> Outcome:
    return Outcome(
        s.symbol,
        s.timeframe,
        s.strategy,
        s.side,
        s.candle_open_ms,
        status,
        r_multiple,
        exit_ms,
        price,
        candles,
        mfe,
        mae,
    )


@dataclass(frozen=True, slots=True)
class Stats:
    """Track record of one group (see the module docstring)."""

    count: int
    wins: int
    win_rate: float
    avg_r: float
    avg_win_r: float
    avg_loss_r: float
    expectancy: float
    total_r: float


GroupKey = tuple[str, ...]
GROUP_FIELDS = ("symbol", "timeframe", "strategy")


def stats(outcomes: Iterable[Outcome]) -> Stats:
    """Statistics of closed outcomes (open ones are ignored); zeros when empty."""
    rs = [o.r_multiple for o in outcomes if o.status != "open"]
    if not rs:
        return Stats(0, 0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    wins = [x for x in rs if x > 0]
    losses = [-x for x in rs if x <= 0]
    win_rate = len(wins) / len(rs)
    avg_win = sum(wins) / len(wins) if wins else 0.0
    avg_loss = sum(losses) / len(losses) if losses else 0.0
    return Stats(
        len(rs),
        len(wins),
        win_rate,
        sum(rs) / len(rs),
        avg_win,
        avg_loss,
        win_rate * avg_win - (1 - win_rate) * avg_loss,
        sum(rs),
    )


def track_record(
    outcomes: Iterable[Outcome], by: Sequence[str] = GROUP_FIELDS
) -> dict[GroupKey, Stats]:
    """`Stats` per group of the `by` fields (any of symbol, timeframe, strategy;
    ``by=()`` gives one overall group keyed ``()``). `Stats.count` is the sample size."""
    unknown = set(by) - set(GROUP_FIELDS)
    if unknown:
        raise ValueError(f"cannot group by {sorted(unknown)}; use {GROUP_FIELDS}")
    groups: dict[GroupKey, list[Outcome]] = defaultdict(list)
    for o in outcomes:
        groups[tuple(getattr(o, f) for f in by)].append(o)
    return {key: stats(items) for key, items in sorted(groups.items())}
