"""UT Bot Alerts (the public TradingView script by QuantNomad), bar for bar.

The original Pine script::

    xATR  = atr(c)                       // Wilder RMA of the true range
    nLoss = a * xATR
    src   = h ? heikinashi close : close
    stop := src > nz(stop[1]) and src[1] > nz(stop[1]) ? max(nz(stop[1]), src - nLoss)
          : src < nz(stop[1]) and src[1] < nz(stop[1]) ? min(nz(stop[1]), src + nLoss)
          : src > nz(stop[1]) ? src - nLoss : src + nLoss
    buy   = src > stop and crossover(ema(src, 1), stop)    // ema(src, 1) == src
    sell  = src < stop and crossover(stop, ema(src, 1))

reproduced with Pine's semantics: ``atr`` is RMA seeded with the SMA of the first
`c` true ranges, the first candle's true range being high - low (Pine's
``ta.tr(true)``); arithmetic with ``na`` gives ``na``, so the stop is undefined
until the ATR is; ``nz`` turns the previous undefined stop into 0; a crossover
needs both candles defined. The Heikin-Ashi close is (open+high+low+close)/4 of
the real candle, while the ATR stays on the real candles, as in the script.

Levels: the entry is the candle's close; the stop is the trailing stop at the
signal candle (``src ∓ nLoss`` just after the flip) or, if that is not on the
right side of the close (possible with the Heikin-Ashi source), the close ∓
nLoss; the target is `reward_risk` times the risk from the entry.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from engine.strategies.base import Features, Signal, as_features, require
from engine.strategies.pulsewave.strategy import regime_of

NAME = "ut_bot"


@dataclass(frozen=True)
class UtBotParams:
    a: float = 1.0  # key value: sensitivity (ATR multiple of the stop)
    c: int = 10  # ATR period
    heikin_ashi: bool = False  # use the Heikin-Ashi close as source
    reward_risk: float = 2.0  # target distance in multiples of the risk
    confidence: float = 0.6

    def __post_init__(self) -> None:
        require(self.a > 0, "a must be > 0")
        require(self.c >= 1, "c must be >= 1")
        require(self.reward_risk > 0, "reward_risk must be > 0")


def pine_atr(high: np.ndarray, low: np.ndarray, close: np.ndarray, length: int) -> np.ndarray:
    """Pine's ``ta.atr(length)``: RMA of ``ta.tr(true)`` seeded with an SMA."""
    n = len(close)
    tr = np.empty(n)
    if n == 0:
        return tr
    prev = close[:-1]
    tr[0] = high[0] - low[0]
    tr[1:] = np.maximum(
        high[1:] - low[1:], np.maximum(np.abs(high[1:] - prev), np.abs(low[1:] - prev))
    )
    out = np.full(n, np.nan)
    if n < length:
        return out
    value = float(tr[:length].mean())
    out[length - 1] = value
    trs = tr.tolist()
    for i in range(length, n):  # a recursion: no vectorised form
        value = (trs[i] + (length - 1) * value) / length
        out[i] = value
    return out


def trailing_stop(src: np.ndarray, n_loss: np.ndarray) -> np.ndarray:
    """The script's ``xATRTrailingStop`` (NaN where Pine has ``na``)."""
    s, loss = src.tolist(), n_loss.tolist()
    out = [math.nan] * len(s)
    prev = math.nan
    for i in range(len(s)):
        if math.isnan(loss[i]):
            prev = out[i] = math.nan
            continue
        p = 0.0 if math.isnan(prev) else prev  # nz(stop[1], 0)
        x, x1 = s[i], (s[i - 1] if i > 0 else math.nan)
        if x > p and x1 > p:
            value = max(p, x - loss[i])
        elif x < p and x1 < p:
            value = min(p, x + loss[i])
        else:
            value = x - loss[i] if x > p else x + loss[i]
        prev = out[i] = value
    return np.asarray(out)


def compute(f: Features, p: UtBotParams) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(source, ATR, trailing stop, +1 buy / -1 sell / 0) per candle, memoised."""

    def run_script() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        src = (f.open + f.high + f.low + f.close) / 4 if p.heikin_ashi else f.close
        atr = f.memo(("pine_atr", p.c), lambda: pine_atr(f.high, f.low, f.close, p.c))
        stop = trailing_stop(src, p.a * atr)
        signal = np.zeros(len(src), dtype=np.int64)
        with np.errstate(invalid="ignore"):
            up = (src[1:] > stop[1:]) & (src[:-1] <= stop[:-1])
            down = (src[1:] < stop[1:]) & (src[:-1] >= stop[:-1])
        signal[1:][up] = 1
        signal[1:][down] = -1
        return src, atr, stop, signal

    return f.memo(("ut_bot", p.a, p.c, p.heikin_ashi), run_script)


def run(
    data: pd.DataFrame | Features,
    params: UtBotParams | None = None,
    symbol: str = "",
    timeframe: str = "",
) -> list[Signal]:
    p = params or UtBotParams()
    f = as_features(data)
    src, atr, stop, signal = compute(f, p)
    regime = regime_of(f)
    signals = []
    for t in np.flatnonzero(signal):
        side = "buy" if signal[t] > 0 else "sell"
        entry, loss = float(f.close[t]), p.a * float(atr[t])
        sl = float(stop[t])
        if (side == "buy" and not sl < entry) or (side == "sell" and not sl > entry):
            sl = entry - loss if side == "buy" else entry + loss
        risk = abs(entry - sl)
        if not risk > 0:  # a zero ATR (flat market): no meaningful trade
            continue
        target = entry + risk * p.reward_risk if side == "buy" else entry - risk * p.reward_risk
        signals.append(
            Signal(
                symbol,
                timeframe,
                NAME,
                side,
                int(f.open_ms[t]),
                entry,
                sl,
                target,
                p.confidence,
                regime.name(t),
                {"source": float(src[t]), "trailing_stop": float(stop[t]), "atr": float(atr[t])},
            )
        )
    return signals
