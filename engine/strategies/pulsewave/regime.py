"""Market regime per candle: BULL, BEAR, SIDEWAYS or TRANSITION, with a confidence.

Inputs at candle ``t`` (all causal):

- **trend slopes over two horizons**: ``(EMA_n[t] - EMA_n[t-k]) / (k * ATR[t])`` for
  the fast and slow EMA (``k = slope_lookback``), i.e. the EMA's drift per candle in
  ATR units, squashed to -1..1 by ``tanh(x / slope_scale)``;
- **market structure** from confirmed pivots: +1 when the last two pivot highs
  and the last two pivot lows both rise (higher highs and higher lows), -1 when
  both fall, 0 otherwise;
- **volatility relative to its history**: ATR% divided by its SMA over
  `vol_history` candles (1 = usual);
- **volume trend**: ``tanh(SMA_short(volume) / SMA_long(volume) - 1)``.

Direction score = ``w_fast*fast + w_slow*slow + w_structure*structure`` (-1..1).
Regime: TRANSITION when the two slopes disagree and both exceed
`transition_slope`; else BULL/BEAR when the score is beyond `trend_threshold`;
else SIDEWAYS. Confidence (0-1): for BULL/BEAR ``|score|`` scaled down when
volatility is above `vol_high` times its norm and nudged by a volume trend that
agrees (+) or disagrees (-); for SIDEWAYS ``1 - |score| / trend_threshold``; for
TRANSITION the smaller of the two slopes' magnitudes. During warm-up the regime
is SIDEWAYS with confidence 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.strategies.base import Features, require

BULL, BEAR, SIDEWAYS, TRANSITION = "BULL", "BEAR", "SIDEWAYS", "TRANSITION"
REGIME_NAMES = np.array([SIDEWAYS, BULL, BEAR, TRANSITION])


@dataclass(frozen=True)
class RegimeParams:
    fast: int = 20  # fast EMA length (short horizon)
    slow: int = 100  # slow EMA length (long horizon)
    slope_lookback: int = 10  # candles over which each EMA's slope is measured
    slope_scale: float = 0.1  # drift (ATR/candle) that maps to tanh(1) ≈ 0.76
    atr_length: int = 14
    vol_history: int = 200  # candles of ATR% history for the volatility norm
    vol_high: float = 1.5  # volatility ratio above which confidence is reduced
    volume_short: int = 20
    volume_long: int = 100
    w_fast: float = 0.35
    w_slow: float = 0.35
    w_structure: float = 0.3
    trend_threshold: float = 0.3
    transition_slope: float = 0.3
    volume_weight: float = 0.2  # how much an agreeing volume trend moves confidence

    def __post_init__(self) -> None:
        require(0 < self.fast < self.slow, "regime needs 0 < fast < slow")
        require(self.slope_lookback >= 1, "slope_lookback must be >= 1")
        require(self.trend_threshold > 0, "trend_threshold must be > 0")


@dataclass(frozen=True, slots=True)
class RegimeSeries:
    """Per-candle regime arrays (codes index `REGIME_NAMES`)."""

    code: np.ndarray
    confidence: np.ndarray
    score: np.ndarray
    slope_fast: np.ndarray
    slope_slow: np.ndarray
    structure: np.ndarray
    volatility: np.ndarray
    volume_trend: np.ndarray

    def name(self, t: int) -> str:
        return str(REGIME_NAMES[self.code[t]])


def structure_series(
    n: int, index: np.ndarray, confirmed: np.ndarray, price: np.ndarray, kind: np.ndarray
) -> np.ndarray:
    """+1/-1/0 per candle from pivots, updated on each confirmation candle."""
    highs: list[float] = []
    lows: list[float] = []
    change_at: list[int] = []
    states: list[float] = []
    conf, prices, kinds = confirmed.tolist(), price.tolist(), kind.tolist()
    for k, t in enumerate(conf):
        if t >= n:
            break
        (highs if kinds[k] > 0 else lows).append(prices[k])
        if len(highs) >= 2 and len(lows) >= 2:
            up = highs[-1] > highs[-2] and lows[-1] > lows[-2]
            down = highs[-1] < highs[-2] and lows[-1] < lows[-2]
            change_at.append(t)  # the last state of a confirmation candle wins below
            states.append(1.0 if up else -1.0 if down else 0.0)
    out = np.zeros(n)
    if change_at:
        # Forward-fill: each candle takes the state of the latest change at or before it.
        pos = np.searchsorted(np.asarray(change_at), np.arange(n), side="right") - 1
        out = np.where(pos >= 0, np.asarray(states)[np.maximum(pos, 0)], 0.0)
    return out


def _shift(a: np.ndarray, k: int) -> np.ndarray:
    out = np.full_like(a, np.nan)
    out[k:] = a[:-k]
    return out


def compute_regime(f: Features, params: RegimeParams, structure: np.ndarray) -> RegimeSeries:
    """The regime of every candle (vectorised)."""
    p = params
    atr = f.atr(p.atr_length)
    k = p.slope_lookback
    with np.errstate(invalid="ignore", divide="ignore"):
        ema_f, ema_s = f.ema(p.fast), f.ema(p.slow)
        safe_atr = np.where(atr > 0, atr, np.nan)
        s_fast = np.tanh((ema_f - _shift(ema_f, k)) / (k * safe_atr) / p.slope_scale)
        s_slow = np.tanh((ema_s - _shift(ema_s, k)) / (k * safe_atr) / p.slope_scale)
        atr_pct = atr / f.close
        norm = f.memo(
            ("atr_pct_sma", p.atr_length, p.vol_history), lambda: _sma(atr_pct, p.vol_history)
        )
        vol_ratio = atr_pct / norm
        vol_trend = np.tanh(f.volume_sma(p.volume_short) / f.volume_sma(p.volume_long) - 1)
    score = p.w_fast * s_fast + p.w_slow * s_slow + p.w_structure * structure
    valid = ~(np.isnan(score) | np.isnan(vol_ratio))
    score = np.where(valid, score, 0.0)
    vol_trend = np.nan_to_num(vol_trend, nan=0.0)
    code = np.zeros(len(score), dtype=np.int64)
    transition = (
        valid
        & (np.sign(s_fast) != np.sign(s_slow))
        & (np.abs(np.nan_to_num(s_fast)) > p.transition_slope)
        & (np.abs(np.nan_to_num(s_slow)) > p.transition_slope)
    )
    bull = valid & ~transition & (score >= p.trend_threshold)
    bear = valid & ~transition & (score <= -p.trend_threshold)
    code[bull], code[bear], code[transition] = 1, 2, 3
    damp = np.where(vol_ratio > p.vol_high, p.vol_high / vol_ratio, 1.0)
    trend_conf = (
        np.abs(score)
        * np.nan_to_num(damp, nan=1.0)
        * (1 + p.volume_weight * vol_trend * np.sign(score))
    )
    conf = np.where(
        code == 3,
        np.minimum(np.abs(np.nan_to_num(s_fast)), np.abs(np.nan_to_num(s_slow))),
        np.where(code == 0, 1 - np.abs(score) / p.trend_threshold, trend_conf),
    )
    conf = np.where(valid, np.clip(conf, 0.0, 1.0), 0.0)
    return RegimeSeries(code, conf, score, s_fast, s_slow, structure, vol_ratio, vol_trend)


def _sma(a: np.ndarray, n: int) -> np.ndarray:
    """Causal rolling mean (NaN until `n` valid values), window-local so a prefix of
    the input gives a prefix of the output."""
    out = np.full_like(a, np.nan)
    if len(a) < n:
        return out
    windows = np.lib.stride_tricks.sliding_window_view(a, n)
    out[n - 1 :] = windows.mean(axis=1)
    return out
