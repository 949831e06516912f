"""Moving-average crossover: a golden cross (fast MA crosses above the slow MA)
buys, a death cross (fast crosses below) sells.

`ma` is "sma" or "ema". Confidence is `confidence`, plus `slope_bonus` when the
slow MA itself moves in the signal's direction over the last `slope_lookback`
candles. Stop and target are `stop_atr` / `target_atr` ATR from the entry (the
close), as this strategy has no price levels of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

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

NAME = "ma_cross"


@dataclass(frozen=True)
class MaCrossParams:
    fast: int = 50
    slow: int = 200
    ma: Literal["sma", "ema"] = "sma"
    confidence: float = 0.55
    slope_bonus: float = 0.15
    slope_lookback: int = 10
    atr_length: int = 14
    stop_atr: float = 2.0
    target_atr: float = 4.0

    def __post_init__(self) -> None:
        require(0 < self.fast < self.slow, "need 0 < fast < slow")
        require(self.ma in ("sma", "ema"), "ma must be 'sma' or 'ema'")
        require(self.stop_atr > 0 and self.target_atr > 0, "ATR multiples must be > 0")


def run(
    data: pd.DataFrame | Features,
    params: MaCrossParams | None = None,
    symbol: str = "",
    timeframe: str = "",
) -> list[Signal]:
    p = params or MaCrossParams()
    f = as_features(data)
    fast, slow, atr = f.ma(p.ma, p.fast), f.ma(p.ma, p.slow), f.atr(p.atr_length)
    golden, death = crossed_above(fast, slow), crossed_below(fast, slow)
    regime = regime_of(f)
    signals = []
    for t in np.flatnonzero((golden | death) & (atr > 0)):
        side = "buy" if golden[t] else "sell"
        k = min(p.slope_lookback, t)
        slope = float(slow[t] - slow[t - k]) if k else 0.0
        agrees = slope > 0 if side == "buy" else slope < 0
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
                min(1.0, p.confidence + (p.slope_bonus if agrees else 0.0)),
                regime.name(t),
                {
                    "cross": "golden" if side == "buy" else "death",
                    "fast_ma": float(fast[t]),
                    "slow_ma": float(slow[t]),
                    "slow_slope_agrees": "yes" if agrees else "no",
                },
            )
        )
    return signals
