"""RSI strategy: buy when RSI crosses below the oversold level, sell when it
crosses above the overbought level.

A buy is "strong" when RSI is also below `strong_oversold` at that candle (a sell
when above `strong_overbought`); confidence is `confidence` or
`strong_confidence`. No natural price levels: the stop is `stop_atr` ATR and the
target `target_atr` ATR from the entry (the close), ATR(`atr_length`) at the
signal candle.

>>> from engine.strategies.base import parse_params
>>> parse_params(RsiParams, ["period=7"]).oversold
30.0
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from engine.strategies.base import (
    Features,
    Signal,
    as_features,
    atr_levels,
    crossed_above,
    crossed_below,
    require,
)
from engine.strategies.pulsewave.strategy import regime_of

NAME = "rsi"


@dataclass(frozen=True)
class RsiParams:
    period: int = 14
    oversold: float = 30.0
    overbought: float = 70.0
    strong_oversold: float = 20.0
    strong_overbought: float = 80.0
    confidence: float = 0.5
    strong_confidence: float = 0.75
    atr_length: int = 14
    stop_atr: float = 1.5
    target_atr: float = 3.0

    def __post_init__(self) -> None:
        require(self.period >= 2, "period must be >= 2")
        require(0 < self.oversold < self.overbought < 100, "need 0 < oversold < overbought < 100")
        require(self.strong_oversold <= self.oversold, "strong_oversold must be <= oversold")
        require(
            self.strong_overbought >= self.overbought, "strong_overbought must be >= overbought"
        )
        require(self.stop_atr > 0 and self.target_atr > 0, "ATR multiples must be > 0")


def run(
    data: pd.DataFrame | Features,
    params: RsiParams | None = None,
    symbol: str = "",
    timeframe: str = "",
) -> list[Signal]:
    p = params or RsiParams()
    f = as_features(data)
    rsi, atr = f.rsi(p.period), f.atr(p.atr_length)
    buys, sells = crossed_below(rsi, p.oversold), crossed_above(rsi, p.overbought)
    regime = regime_of(f)
    signals = []
    for t in np.flatnonzero((buys | sells) & (atr > 0)):
        side = "buy" if buys[t] else "sell"
        strong = rsi[t] < p.strong_oversold if side == "buy" else rsi[t] > p.strong_overbought
        entry = float(f.close[t])
        stop, target = atr_levels(side, entry, float(atr[t]), p.stop_atr, p.target_atr)
        signals.append(
            Signal(
                symbol,
                timeframe,
                NAME,
                side,
                int(f.open_ms[t]),
                entry,
                stop,
                target,
                p.strong_confidence if strong else p.confidence,
                regime.name(t),
                {
                    "rsi": round(float(rsi[t]), 4),
                    "strength": "strong" if strong else "normal",
                    "atr": float(atr[t]),
                },
            )
        )
    return signals
