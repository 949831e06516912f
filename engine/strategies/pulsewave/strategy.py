"""The PulseWave strategy: setups at support/resistance, filtered by confluence.

Setups, checked at every closed candle ``t`` against the levels known at ``t``:

- **support bounce** (buy): the nearest level below the close, ``S``, was touched
  (low within `proximity_atr` ATR of it, not more than that below it) and the
  candle closed green. Stop ``S - stop_atr*ATR``.
- **resistance rejection** (sell): the mirror at the nearest level above, ``R``,
  with a red candle. Stop ``R + stop_atr*ATR``.
- **breakout** (buy): the close crossed up through a level (previous close below
  it) while the regime is BULL with confidence ≥ `breakout_confidence`. Stop
  ``level - stop_atr*ATR``.

The target is the next level beyond the entry in the trade's direction, or
``fallback_target_atr`` ATR away when there is none. The entry is the close.
A setup becomes a signal when its confluence score (see `confluence`) is at least
`min_score` and its reward:risk at least `min_rr`; the best-scoring setup of a
candle wins, and after a signal the same side waits `cooldown` candles.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from engine.strategies.base import Features, Side, Signal, as_features, require
from engine.strategies.pulsewave.confluence import ConfluenceWeights, Readings, score
from engine.strategies.pulsewave.levels import Level, LevelBook, LevelParams, Pivots, find_pivots
from engine.strategies.pulsewave.regime import (
    RegimeParams,
    RegimeSeries,
    compute_regime,
    structure_series,
)

NAME = "pulsewave"


@dataclass(frozen=True)
class PulsewaveParams:
    """Every knob of the strategy; the level, regime and weight groups are documented
    in `levels`, `regime` and `confluence`."""

    min_score: float = 60.0  # confluence score (0-100) a signal needs
    min_rr: float = 2.0  # reward:risk a signal needs
    proximity_atr: float = 0.5  # "at the level": within this many ATR
    stop_atr: float = 0.5  # stop beyond the level by this many ATR
    fallback_target_atr: float = 3.0  # target distance when no level lies beyond
    breakout_confidence: float = 0.5  # BULL confidence a breakout needs
    cooldown: int = 5  # candles before another signal of the same side
    atr_length: int = 14
    ema_fast: int = 20  # EMA of the indicator-alignment factor
    rsi_length: int = 14
    volume_length: int = 20
    left: int = 5
    right: int = 5
    max_pivots: int = 40
    cluster_pct: float = 0.5
    regime_fast: int = 20
    regime_slow: int = 100
    w_sr: float = 25.0
    w_indicators: float = 20.0
    w_volume: float = 15.0
    w_structure: float = 15.0
    w_regime: float = 15.0
    w_risk_reward: float = 10.0

    def __post_init__(self) -> None:
        require(0 <= self.min_score <= 100, "min_score must be within 0..100")
        require(self.min_rr > 0, "min_rr must be > 0")
        require(self.proximity_atr > 0 and self.stop_atr > 0, "ATR multiples must be > 0")
        require(self.cooldown >= 0, "cooldown must be >= 0")

    @property
    def levels(self) -> LevelParams:
        return LevelParams(self.left, self.right, self.max_pivots, self.cluster_pct)

    @property
    def regime(self) -> RegimeParams:
        return RegimeParams(
            fast=self.regime_fast, slow=self.regime_slow, atr_length=self.atr_length
        )

    @property
    def weights(self) -> ConfluenceWeights:
        return ConfluenceWeights(
            self.w_sr,
            self.w_indicators,
            self.w_volume,
            self.w_structure,
            self.w_regime,
            self.w_risk_reward,
        )


@dataclass(frozen=True, slots=True)
class Setup:
    """A candidate trade at one candle, scored whether or not it passes."""

    name: str
    side: Side
    entry: float
    stop: float
    target: float
    level: Level
    reward_risk: float
    score: float
    points: dict[str, float]


def pivots_of(
    f: Features, lp: LevelParams, atr_length: int = 14, volume_length: int = 20
) -> Pivots:
    def compute() -> Pivots:
        with np.errstate(invalid="ignore", divide="ignore"):
            vratio = f.volume / f.volume_sma(volume_length)
        return find_pivots(f.high, f.low, vratio, f.atr(atr_length), lp.left, lp.right)

    return f.memo(("pivots", lp.left, lp.right, atr_length, volume_length), compute)


def regime_of(
    f: Features, rp: RegimeParams | None = None, lp: LevelParams | None = None
) -> RegimeSeries:
    """The regime series (memoised on `f`); structure comes from the pivots of `lp`."""
    rp, lp = rp or RegimeParams(), lp or LevelParams()

    def compute() -> RegimeSeries:
        pv = pivots_of(f, lp, rp.atr_length)
        return compute_regime(
            f, rp, structure_series(len(f), pv.index, pv.confirmed, pv.price, pv.kind)
        )

    return f.memo(("regime", rp, lp.left, lp.right), compute)


class Evaluator:
    """Walks the candles in order, keeping the level book current."""

    def __init__(self, f: Features, params: PulsewaveParams) -> None:
        self.f, self.p = f, params
        self.atr = f.atr(params.atr_length)
        self.regime = regime_of(f, params.regime, params.levels)
        self.book = LevelBook(
            pivots_of(f, params.levels, params.atr_length, params.volume_length), params.levels
        )
        macd = f.macd()
        stoch = f.stochastic()
        self.hist = macd["hist"]
        self.k, self.d = stoch["k"], stoch["d"]
        self.ema = f.ema(params.ema_fast)
        self.rsi = f.rsi(params.rsi_length)
        with np.errstate(invalid="ignore", divide="ignore"):
            self.vratio = f.volume / f.volume_sma(params.volume_length)
        # Plain lists: the per-candle walk reads single values, much faster than numpy.
        self._open, self._high = f.open.tolist(), f.high.tolist()
        self._low, self._close = f.low.tolist(), f.close.tolist()
        self._atr = self.atr.tolist()
        self._code, self._conf = self.regime.code.tolist(), self.regime.confidence.tolist()
        self.weights = params.weights  # built once: a dataclass with validation

    def candidates(self, first: int, min_rr: float = 0.0) -> np.ndarray:
        """Candles from `first` on where `setups(t, min_rr)` can return a setup: its
        geometry and reward:risk checks, vectorised over every candle with the same
        float operations (the thresholds eased by 1e-9, so this can only let extra
        candles through). The walk visits only these, one candle in ten or so; the
        exact checks, scoring and cooldown stay in `setups`."""
        f, p = self.f, self.p
        ts = np.arange(first, len(f))
        if not len(ts):
            return ts
        close, o, h, lo, a = f.close[ts], f.open[ts], f.high[ts], f.low[ts], self.atr[ts]
        below, above = self.book.nearest(ts, close)
        with np.errstate(invalid="ignore", divide="ignore"):
            zone = p.proximity_atr * a * (1 + 1e-9)
            bull = (self.regime.code[ts] == 1) & (
                self.regime.confidence[ts] >= p.breakout_confidence
            )
            breakout = (ts > 0) & bull & (f.close[np.maximum(ts - 1, 0)] < below)
            buy = ((close > o) & (np.abs(lo - below) <= zone)) | breakout
            sell = (close < o) & (np.abs(above - h) <= zone)
            # Both buy setups stand on the level below, the sell on the one above.
            ok = (a > 0) & (
                (buy & self._worth(close, a, below, above, 1.0, min_rr))
                | (sell & self._worth(close, a, above, below, -1.0, min_rr))
            )
        return ts[ok]

    def _worth(
        self,
        close: np.ndarray,
        a: np.ndarray,
        level: np.ndarray,
        beyond: np.ndarray,
        sign: float,
        min_rr: float,
    ) -> np.ndarray:
        """`setups`' stop/target/reward:risk test for a setup at `level` (buy: sign
        +1, sell: -1), elementwise."""
        p = self.p
        stop = level - p.stop_atr * a if sign > 0 else level + p.stop_atr * a
        fallback = close + (a if sign > 0 else -a) * p.fallback_target_atr
        target = np.where(~np.isnan(beyond) & (beyond != level), beyond, fallback)
        risk, reward = np.abs(close - stop), (target - close) * sign
        return (risk > 0) & (reward > 0) & (reward / risk >= min_rr * (1 - 1e-9))

    def readings(self, t: int) -> Readings:
        prev = max(t - 1, 0)
        return Readings(
            float(self.f.close[t]),
            float(self.ema[t]),
            float(self.rsi[t]),
            float(self.rsi[prev]),
            float(self.hist[t]),
            float(self.hist[prev]),
            float(self.k[t]),
            float(self.d[t]),
            float(self.vratio[t]),
        )

    def setups(
        self, t: int, min_rr: float = 0.0, skip: frozenset[str] = frozenset()
    ) -> list[Setup]:
        """Setups present at candle `t` (call with non-decreasing `t`), leaving out
        those with a reward:risk below `min_rr` or a side in `skip` (checked before
        the costlier scoring)."""
        self.book.advance(t)
        p, a = self.p, self._atr[t]
        if not a > 0:  # warm-up (NaN) or a degenerate series
            return []
        o, h, lo, close = self._open[t], self._high[t], self._low[t], self._close[t]
        zone = p.proximity_atr * a
        book, prices = self.book, self.book.prices
        k_below, k_above = book.below_index(close), book.above_index(close)
        # Geometry first, on bare prices: most candles touch no level, and building
        # `Level`s (strength with recency) only for the few that do keeps this cheap.
        raw: list[tuple[str, Side, int, float]] = []  # name, side, level index, closeness
        if k_below >= 0 and close > o and abs(lo - prices[k_below]) <= zone:
            raw.append(("support_bounce", "buy", k_below, 1 - abs(lo - prices[k_below]) / zone))
        if k_above < len(prices) and close < o and abs(prices[k_above] - h) <= zone:
            raw.append(
                ("resistance_rejection", "sell", k_above, 1 - abs(prices[k_above] - h) / zone)
            )
        if (
            t > 0
            and k_below >= 0
            and self._code[t] == 1
            and self._conf[t] >= p.breakout_confidence
            and self._close[t - 1] < prices[k_below]
        ):
            raw.append(("breakout", "buy", k_below, 1.0))
        if not raw:
            return []
        support = prices[k_below] if k_below >= 0 else None
        resistance = prices[k_above] if k_above < len(prices) else None
        result = []
        for name, side, k, closeness in raw:
            if side in skip:
                continue
            price = prices[k]
            stop = price - p.stop_atr * a if side == "buy" else price + p.stop_atr * a
            beyond = resistance if side == "buy" else support
            if beyond is not None and beyond != price:
                target = beyond
            else:
                target = close + (a if side == "buy" else -a) * p.fallback_target_atr
            risk, reward = abs(close - stop), (target - close) * (1 if side == "buy" else -1)
            if risk <= 0 or reward <= 0:
                continue
            rr = reward / risk
            if rr < min_rr:
                continue
            level = book.level(k, t)  # its strength only for setups worth scoring
            total, points = score(
                side,
                sr=level.strength * closeness,
                readings=self.readings(t),
                structure=float(self.regime.structure[t]),
                regime=self.regime.name(t),
                regime_confidence=float(self.regime.confidence[t]),
                reward_risk=rr,
                weights=self.weights,
            )
            result.append(Setup(name, side, close, stop, target, level, rr, total, points))
        return result


def _signal(s: Setup, f: Features, ev: Evaluator, t: int, symbol: str, timeframe: str) -> Signal:
    factors: dict[str, float | str] = {"setup": s.name, "level": s.level.price}
    factors["level_strength"] = round(s.level.strength, 4)
    factors["level_touches"] = s.level.touches
    factors["reward_risk"] = round(s.reward_risk, 4)
    factors["score"] = round(float(s.score), 2)
    factors.update({f"points_{k}": round(float(v), 2) for k, v in s.points.items()})
    return Signal(
        symbol,
        timeframe,
        NAME,
        s.side,
        int(f.open_ms[t]),
        s.entry,
        s.stop,
        s.target,
        round(float(s.score) / 100, 4),
        ev.regime.name(t),
        factors,
    )


def run(
    data: pd.DataFrame | Features,
    params: PulsewaveParams | None = None,
    symbol: str = "",
    timeframe: str = "",
) -> list[Signal]:
    """PulseWave signals over closed candles (see the module docstring)."""
    p = params or PulsewaveParams()
    f = as_features(data)
    if len(f) == 0:
        return []
    ev = Evaluator(f, p)
    signals: list[Signal] = []
    last: dict[str, int] = {}
    first = int(np.argmax(~np.isnan(ev.atr))) if not np.isnan(ev.atr).all() else len(f)
    for t in ev.candidates(first, p.min_rr).tolist():
        cooling = frozenset(side for side, at in last.items() if t - at <= p.cooldown)
        passing = [s for s in ev.setups(t, p.min_rr, cooling) if s.score >= p.min_score]
        if passing:
            best = max(passing, key=lambda s: s.score)
            last[best.side] = t
            signals.append(_signal(best, f, ev, t, symbol, timeframe))
    return signals


def current_setups(
    f: Features, params: PulsewaveParams | None = None
) -> tuple[list[Setup], list[Level]]:
    """The setups (passing or not) and every level at the last candle of `f`."""
    p = params or PulsewaveParams()
    ev = Evaluator(f, p)
    t = len(f) - 1
    setups = ev.setups(t) if t >= 0 else []  # jumps straight to `t`: one rebuild
    ev.book.advance(t)
    return setups, (ev.book.levels(t) if t >= 0 else [])
