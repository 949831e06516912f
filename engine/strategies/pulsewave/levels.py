"""Support and resistance from confirmed pivots, clustered, each with a strength.

A *pivot high* at candle ``i`` has a high above every high of the `left` candles
before it and at least as high as the `right` candles after it (TradingView's
``ta.pivothigh``); pivot lows mirror it. A pivot is only known `right` candles
later, at ``i + right``: that is its *confirmation* candle, and nothing before it
may use it (non-repainting).

Levels at candle ``t`` are built from the last `max_pivots` pivots confirmed at or
before ``t``, highs and lows together (a broken resistance becomes support). Pivot
prices closer than `cluster_pct` percent to a cluster's running mean join it.
Because the pivot set only changes on a confirmation, clusters are rebuilt only
then (`LevelBook`), which keeps a candle-by-candle walk cheap.

Strength (0-1) of a level at candle ``t`` is a weighted mean of
- touches: ``min(touches / full_touches, 1)``,
- recency: ``0.5 ** (age / recency_halflife)``, age = candles since the last touch,
- volume: mean of volume / volume SMA at the touches, divided by 2, capped at 1,
- reaction: mean move away from the pivot within `right` candles, in ATR, / 3, capped,
with the weights in `LevelParams`.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from engine.strategies.base import require


@dataclass(frozen=True)
class LevelParams:
    """Pivot and clustering parameters (see the module docstring)."""

    left: int = 5  # candles before a pivot that it must exceed
    right: int = 5  # candles after it: the confirmation delay
    max_pivots: int = 40  # newest confirmed pivots that make the levels
    cluster_pct: float = 0.5  # pivots within this % of a cluster join it
    full_touches: int = 4  # touches that count as full strength
    recency_halflife: float = 100.0  # candles for the recency score to halve
    w_touches: float = 0.35
    w_recency: float = 0.25
    w_volume: float = 0.2
    w_reaction: float = 0.2

    def __post_init__(self) -> None:
        require(self.left >= 1 and self.right >= 1, "left and right must be >= 1")
        require(self.max_pivots >= 2, "max_pivots must be >= 2")
        require(self.cluster_pct > 0, "cluster_pct must be > 0")


@dataclass(frozen=True, slots=True)
class Pivots:
    """Pivots in confirmation order: candle index, confirmation index, price, +1 for
    a high / -1 for a low, volume ratio and reaction (ATR units) at the pivot."""

    index: np.ndarray
    confirmed: np.ndarray
    price: np.ndarray
    kind: np.ndarray
    volume_ratio: np.ndarray
    reaction: np.ndarray


def find_pivots(
    high: np.ndarray,
    low: np.ndarray,
    volume_ratio: np.ndarray,
    atr: np.ndarray,
    left: int,
    right: int,
) -> Pivots:
    """Every pivot of the series, vectorised. Reaction and volume use data up to the
    confirmation candle only."""
    n = len(high)
    span = left + right + 1
    if n < span:
        empty = np.array([], dtype=np.int64)
        return Pivots(empty, empty, np.array([]), empty, np.array([]), np.array([]))
    hw = sliding_window_view(high, span)
    lw = sliding_window_view(low, span)
    center_h, center_l = hw[:, left], lw[:, left]
    is_high = (center_h > hw[:, :left].max(axis=1)) & (center_h >= hw[:, left + 1 :].max(axis=1))
    is_low = (center_l < lw[:, :left].min(axis=1)) & (center_l <= lw[:, left + 1 :].min(axis=1))
    # Reaction: how far price moved away within the `right` candles after the pivot.
    after_low = lw[:, left + 1 :].min(axis=1)
    after_high = hw[:, left + 1 :].max(axis=1)
    atr_c = atr[span - 1 :]  # ATR at each confirmation candle
    with np.errstate(invalid="ignore", divide="ignore"):
        react_h = (center_h - after_low) / atr_c
        react_l = (after_high - center_l) / atr_c
    rows = []
    for mask, price, react, kind in (
        (is_high, center_h, react_h, 1),
        (is_low, center_l, react_l, -1),
    ):
        pos = np.flatnonzero(mask)
        rows.append((pos + left, price[pos], react[pos], np.full(len(pos), kind)))
    index = np.concatenate([r[0] for r in rows])
    order = np.argsort(index, kind="stable")
    index = index[order]
    price = np.concatenate([r[1] for r in rows])[order]
    reaction = np.nan_to_num(np.concatenate([r[2] for r in rows])[order], nan=0.0)
    kind = np.concatenate([r[3] for r in rows])[order]
    vol = np.nan_to_num(volume_ratio[index], nan=1.0)
    return Pivots(index, index + right, price, kind, vol, reaction)


@dataclass(frozen=True, slots=True)
class Level:
    """A clustered price level as seen at one candle."""

    price: float
    touches: int
    last_touch: int  # candle index of the newest pivot in the cluster
    volume_ratio: float
    reaction: float
    strength: float


class LevelBook:
    """Levels as of successive candles, rebuilt only when a pivot is confirmed.

    Call `advance(t)` with non-decreasing `t`; then `below(price, t)` /
    `above(price, t)` give the nearest level strictly below / above a price.
    """

    def __init__(self, pivots: Pivots, params: LevelParams) -> None:
        self.p = pivots
        self.params = params
        self._next = 0  # pivots[:_next] are confirmed
        self._prices: list[float] = []
        self._clusters: list[tuple[float, int, int, float, float]] = []
        # Plain lists and a cache by pivot count: `advance` reads single values, and
        # `nearest` and the walk both need the levels of the same pivot counts.
        self._confirmed: list[int] = pivots.confirmed.tolist()
        self._rows = list(
            zip(
                pivots.price.tolist(),
                pivots.index.tolist(),
                pivots.volume_ratio.tolist(),
                pivots.reaction.tolist(),
                strict=True,
            )
        )
        self._built: dict[int, tuple[list[float], list[tuple[float, int, int, float, float]]]] = {}

    def advance(self, t: int) -> None:
        start = self._next
        confirmed = self._confirmed
        while self._next < len(confirmed) and confirmed[self._next] <= t:
            self._next += 1
        if self._next != start:
            self._prices, self._clusters = self._clustered(self._next)

    def _clustered(
        self, count: int
    ) -> tuple[list[float], list[tuple[float, int, int, float, float]]]:
        """Level prices and clusters once the first `count` pivots are confirmed."""
        if count in self._built:
            return self._built[count]
        rows = sorted(self._rows[max(0, count - self.params.max_pivots) : count])
        limit = 1 + self.params.cluster_pct / 100.0
        clusters: list[tuple[float, int, int, float, float]] = []
        if rows:
            # Greedy, in price order: a pivot joins the running cluster unless it lies
            # more than `cluster_pct` above the cluster's mean.
            total, n, last, vol, react = rows[0][0], 1, rows[0][1], rows[0][2], rows[0][3]
            for price, index, v, r in rows[1:]:
                if price > total / n * limit:
                    clusters.append((total / n, n, last, vol / n, react / n))
                    total, n, last, vol, react = price, 1, index, v, r
                else:
                    total += price
                    n += 1
                    last = index if index > last else last
                    vol += v
                    react += r
            clusters.append((total / n, n, last, vol / n, react / n))
        built = self._built[count] = ([c[0] for c in clusters], clusters)
        return built

    def nearest(self, ts: np.ndarray, price: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For each candle ``ts[i]`` (ascending), the nearest level strictly below and
        strictly above ``price[i]`` among the levels as of that candle (NaN if
        none): `below_index`/`above_index` for many candles at once, so that a walk
        can skip the candles near no level."""
        count = np.searchsorted(self.p.confirmed, ts, side="right")
        counts, row = np.unique(count, return_inverse=True)
        levels = [self._clustered(int(c))[0] for c in counts]
        width = max(map(len, levels), default=0)
        below, above = np.full(len(ts), np.nan), np.full(len(ts), np.nan)
        if width == 0:
            return below, above
        grid = np.full((len(levels), width + 1), np.nan)  # NaN pad: "no level"
        for i, prices in enumerate(levels):
            grid[i, : len(prices)] = prices
        per_candle = grid[row]
        x = price[:, None]
        with np.errstate(invalid="ignore"):
            n_below = (per_candle[:, :width] < x).sum(axis=1)  # bisect_left
            n_upto = (per_candle[:, :width] <= x).sum(axis=1)  # bisect_right
        rows = np.arange(len(ts))
        below = np.where(n_below > 0, per_candle[rows, np.maximum(n_below - 1, 0)], np.nan)
        above = np.where(np.isnan(price), np.nan, per_candle[rows, n_upto])
        return below, above

    def below_index(self, price: float) -> int:
        """Index of the nearest level strictly below `price` (-1 if none)."""
        return bisect_left(self._prices, price) - 1

    def above_index(self, price: float) -> int:
        """Index of the nearest level strictly above `price` (len if none)."""
        return bisect_right(self._prices, price)

    @property
    def prices(self) -> list[float]:
        """Level prices, ascending (valid after the last `advance`)."""
        return self._prices

    def level(self, k: int, t: int) -> Level:
        price, touches, last, vol, react = self._clusters[k]
        prm = self.params
        score = (
            prm.w_touches * min(touches / prm.full_touches, 1.0)
            + prm.w_recency * 0.5 ** ((t - last) / prm.recency_halflife)
            + prm.w_volume * min(vol / 2.0, 1.0)
            + prm.w_reaction * min(react / 3.0, 1.0)
        )
        weights = prm.w_touches + prm.w_recency + prm.w_volume + prm.w_reaction
        return Level(price, touches, last, vol, react, score / weights if weights else 0.0)

    def below(self, price: float, t: int) -> Level | None:
        k = bisect_left(self._prices, price) - 1
        return self.level(k, t) if k >= 0 else None

    def above(self, price: float, t: int) -> Level | None:
        k = bisect_right(self._prices, price)
        return self.level(k, t) if k < len(self._prices) else None

    def levels(self, t: int) -> list[Level]:
        return [self.level(k, t) for k in range(len(self._prices))]
