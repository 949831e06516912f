"""One full analysis of a candle series: the indicator set computed once and fed to
every strategy, plus the regime, the nearest levels and the current setup.

This is what `/analyze` shows and what the scanner runs per market::

    >>> from engine.market.series import read_candle_file   # doctest: +SKIP
    >>> a = analyze(series.frame(0, 500), "BTC/USDT", "1h")  # doctest: +SKIP
    >>> a.regime, a.readings["rsi_14"], a.signals["rsi"][-1:]  # doctest: +SKIP

All strategies share one `Features` instance, so an indicator several of them
use (ATR, EMAs, the regime and its pivots) is computed once; the bench compares
this against each strategy computing its own.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from engine.strategies import STRATEGIES
from engine.strategies.base import Features, Signal
from engine.strategies.pulsewave.levels import Level
from engine.strategies.pulsewave.strategy import PulsewaveParams, Setup, current_setups, regime_of


@dataclass(frozen=True, slots=True)
class Analysis:
    """The state of one market at its last closed candle.

    - `regime`/`regime_confidence`: see `engine.strategies.pulsewave.regime`.
    - `readings`: latest indicator values by name (None in warm-up).
    - `supports`/`resistances`: nearest levels below/above the close, nearest first.
    - `setups`: PulseWave setups at the last candle with their confluence breakdown
      (`Setup.points`), passing the thresholds or not.
    - `signals`: every strategy's signals over the whole frame, by strategy name.
    """

    symbol: str
    timeframe: str
    candle_open_ms: int
    close: float
    regime: str
    regime_confidence: float
    readings: dict[str, float | None]
    supports: list[Level]
    resistances: list[Level]
    setups: list[Setup]
    signals: dict[str, list[Signal]] = field(default_factory=dict)


def _last(values: Any) -> float | None:
    value = float(values[-1]) if len(values) else math.nan
    return None if math.isnan(value) else value


def indicator_readings(f: Features) -> dict[str, float | None]:
    """The standard indicator set at the last candle (computes and caches all of it)."""
    macd = f.macd()
    bb = f.bollinger()
    stoch = f.stochastic()
    return {
        "rsi_14": _last(f.rsi(14)),
        "ema_20": _last(f.ema(20)),
        "ema_50": _last(f.ema(50)),
        "ema_200": _last(f.ema(200)),
        "sma_50": _last(f.sma(50)),
        "sma_200": _last(f.sma(200)),
        "macd": _last(macd["macd"]),
        "macd_signal": _last(macd["signal"]),
        "macd_hist": _last(macd["hist"]),
        "bb_upper": _last(bb["upper"]),
        "bb_middle": _last(bb["middle"]),
        "bb_lower": _last(bb["lower"]),
        "bb_percent": _last(bb["percent"]),
        "bb_bandwidth": _last(bb["bandwidth"]),
        "atr_14": _last(f.atr(14)),
        "stoch_k": _last(stoch["k"]),
        "stoch_d": _last(stoch["d"]),
        "volume_sma_20": _last(f.volume_sma(20)),
        "obv": _last(f.obv()),
    }


def analyze(
    frame: pd.DataFrame | Features,
    symbol: str = "",
    timeframe: str = "",
    params: Mapping[str, Any] | None = None,
    levels: int = 3,
) -> Analysis:
    """Analyse closed candles: indicators once, all strategies, regime, levels, setup.

    `params` maps a strategy name to its parameter dataclass instance (defaults
    otherwise); `levels` is how many supports/resistances to keep on each side.
    """
    f = frame if isinstance(frame, Features) else Features(frame)
    params = dict(params or {})
    readings = indicator_readings(f)
    signals = {
        name: spec.run(f, params.get(name) or spec.params(), symbol, timeframe)
        for name, spec in STRATEGIES.items()
    }
    pw = params.get("pulsewave") or PulsewaveParams()
    regime = regime_of(f, pw.regime, pw.levels)
    t = len(f) - 1
    setups, all_levels = current_setups(f, pw) if t >= 0 else ([], [])
    close = float(f.close[t]) if t >= 0 else math.nan
    supports = sorted((lv for lv in all_levels if lv.price < close), key=lambda lv: -lv.price)
    resistances = sorted((lv for lv in all_levels if lv.price > close), key=lambda lv: lv.price)
    return Analysis(
        symbol,
        timeframe,
        int(f.open_ms[t]) if t >= 0 else 0,
        close,
        regime.name(t) if t >= 0 else "SIDEWAYS",
        float(regime.confidence[t]) if t >= 0 else 0.0,
        readings,
        supports[:levels],
        resistances[:levels],
        setups,
        signals,
    )


def analyze_naive(
    frame: pd.DataFrame, symbol: str = "", timeframe: str = ""
) -> dict[str, list[Signal]]:
    """The baseline the bench compares with: every strategy and the indicator set
    each on a fresh `Features`, so nothing is shared. Same results as `analyze`."""
    indicator_readings(Features(frame))
    current_setups(Features(frame))
    return {
        name: spec.run(frame, spec.params(), symbol, timeframe) for name, spec in STRATEGIES.items()
    }
