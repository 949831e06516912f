"""Confluence score 0-100: how many independent things agree with a setup.

Each factor is a number in 0..1 multiplied by its weight (the weights are
parameters and default to 100 in total):

=================  ======  ==========================================================
factor             weight  value for a buy (a sell mirrors it)
=================  ======  ==========================================================
sr                 25      level strength × closeness: ``strength * (1 - d / zone)``
                           with d the distance from the candle's extreme to the
                           level and zone = `proximity_atr` ATR (breakouts: strength)
indicators         20      share of [MACD histogram > 0 or rising, close > fast EMA,
                           RSI rising and below `rsi_ceiling`, stochastic %K > %D]
volume             15      ``min(volume / volume SMA / volume_full, 1)``
structure          15      structure +1 → 1, 0 → 0.5, -1 → 0
regime             15      BULL → its confidence (≥ 0.5), SIDEWAYS → 0.5,
                           TRANSITION → 0.25, BEAR → 0
risk_reward        10      ``min(rr / rr_full, 1)``
=================  ======  ==========================================================

The score is the sum of the weighted factors divided by the sum of the weights,
times 100, so changing one weight keeps the scale.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from engine.strategies.base import Side, require


@dataclass(frozen=True)
class ConfluenceWeights:
    sr: float = 25.0
    indicators: float = 20.0
    volume: float = 15.0
    structure: float = 15.0
    regime: float = 15.0
    risk_reward: float = 10.0
    volume_full: float = 1.5  # volume / its SMA at which the volume factor is full
    rr_full: float = 4.0  # reward:risk at which the risk/reward factor is full
    rsi_ceiling: float = 70.0  # a buy's RSI must be below this (a sell's above 100 - it)

    def __post_init__(self) -> None:
        require(sum(self.by_factor().values()) > 0, "confluence weights must not all be 0")

    def by_factor(self) -> dict[str, float]:
        """The weight of each factor, by the factor names `score` uses."""
        return {
            "sr": self.sr,
            "indicators": self.indicators,
            "volume": self.volume,
            "structure": self.structure,
            "regime": self.regime,
            "risk_reward": self.risk_reward,
        }


@dataclass(frozen=True, slots=True)
class Readings:
    """Indicator readings at one candle, the inputs of the indicator factor."""

    close: float
    ema_fast: float
    rsi: float
    rsi_prev: float
    macd_hist: float
    macd_hist_prev: float
    stoch_k: float
    stoch_d: float
    volume_ratio: float


def indicator_alignment(side: Side, r: Readings, rsi_ceiling: float) -> float:
    """Share of the four indicator checks that agree with `side` (NaN counts as no)."""
    if side == "buy":
        checks = [
            r.macd_hist > 0 or r.macd_hist > r.macd_hist_prev,
            r.close > r.ema_fast,
            r.rsi > r.rsi_prev and r.rsi < rsi_ceiling,
            r.stoch_k > r.stoch_d,
        ]
    else:
        checks = [
            r.macd_hist < 0 or r.macd_hist < r.macd_hist_prev,
            r.close < r.ema_fast,
            r.rsi < r.rsi_prev and r.rsi > 100 - rsi_ceiling,
            r.stoch_k < r.stoch_d,
        ]
    return sum(bool(c) for c in checks) / len(checks)


def regime_factor(side: Side, regime: str, confidence: float) -> float:
    favourable, adverse = ("BULL", "BEAR") if side == "buy" else ("BEAR", "BULL")
    if regime == favourable:
        return max(0.5, confidence)
    if regime == adverse:
        return 0.0
    return 0.5 if regime == "SIDEWAYS" else 0.25


def structure_factor(side: Side, structure: float) -> float:
    aligned = structure if side == "buy" else -structure
    return 1.0 if aligned > 0 else 0.0 if aligned < 0 else 0.5


def score(
    side: Side,
    *,
    sr: float,
    readings: Readings,
    structure: float,
    regime: str,
    regime_confidence: float,
    reward_risk: float,
    weights: ConfluenceWeights,
) -> tuple[float, dict[str, float]]:
    """The confluence score (0-100) and each factor's points."""
    w = weights
    vol = readings.volume_ratio
    values = {
        "sr": min(max(sr, 0.0), 1.0),
        "indicators": indicator_alignment(side, readings, w.rsi_ceiling),
        "volume": 0.0 if math.isnan(vol) else min(vol / w.volume_full, 1.0),
        "structure": structure_factor(side, structure),
        "regime": regime_factor(side, regime, regime_confidence),
        "risk_reward": min(reward_risk / w.rr_full, 1.0),
    }
    weight_of = w.by_factor()
    total_weight = sum(weight_of.values())
    points = {k: 100 * values[k] * weight_of[k] / total_weight for k in values}
    return sum(points.values()), points
