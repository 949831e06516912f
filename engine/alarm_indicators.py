"""The indicators an indicator alarm can watch
(``/alarm SYMBOL INDICATOR above|below VALUE [TF]``): parsing their names and
reading their value at the last closed candle.

Accepted (case-insensitive, spaces tolerated, e.g. ``RSI( 7 )``; periods 2..500):

==============  =========================================================
``rsi``         RSI(14); ``rsi(N)`` for another period (0-100)
``ema(N)``      exponential moving average of the close (period required)
``sma(N)``      simple moving average of the close (period required)
``macd``        MACD line 12/26/9 (fast EMA - slow EMA, price units)
``macd_hist``   MACD histogram 12/26/9 (line - signal)
``bb_pct``      Bollinger %B 20/2: (close - lower) / (upper - lower), so
                0 is the lower band and 1 the upper band
``atr``         ATR(14); ``atr(N)`` for another period (price units)
``volume``      the candle's volume (base currency)
==============  =========================================================

The values come from the memoised indicator set (`engine.strategies.base.Features`,
over `engine.indicators`), so an alarm sees exactly what the analysis and the
charts show.

>>> spec = parse_indicator(" RSI( 7 ) ")
>>> spec, spec.label()
(IndicatorSpec(name='rsi', period=7), 'rsi(7)')
>>> parse_indicator("macd_hist").label(), parse_indicator("atr").label()
('macd_hist', 'atr(14)')
>>> parse_indicator("ema")
Traceback (most recent call last):
...
ValueError: ema needs a period, e.g. ema(50)
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from engine.strategies.base import Features, as_features

INDICATOR_NAMES: tuple[str, ...] = (
    "rsi",
    "ema",
    "sma",
    "macd",
    "macd_hist",
    "bb_pct",
    "atr",
    "volume",
)
MIN_PERIOD = 2
MAX_PERIOD = 500

_DEFAULT_PERIOD = {"rsi": 14, "atr": 14}  # period optional
_PERIOD_REQUIRED = frozenset({"ema", "sma"})
_NO_PERIOD = frozenset({"macd", "macd_hist", "bb_pct", "volume"})
INDICATOR_FORMS = "rsi, rsi(N), ema(N), sma(N), macd, macd_hist, bb_pct, atr, atr(N), volume"
_SYNTAX = re.compile(r"\s*([A-Za-z_]+)\s*(?:\(\s*([^()]*?)\s*\))?\s*")


@dataclass(frozen=True, slots=True)
class IndicatorSpec:
    """A parsed indicator name: `name` (one of `INDICATOR_NAMES`) and `period`
    (None for the indicators that take none)."""

    name: str
    period: int | None

    def __post_init__(self) -> None:
        name, period = self.name, self.period
        if name not in INDICATOR_NAMES:
            raise ValueError(f"unknown indicator {name!r}; use one of: {INDICATOR_FORMS}")
        if name in _NO_PERIOD:
            if period is not None:
                raise ValueError(f"{name} takes no period")
        elif period is None:
            raise ValueError(f"{name} needs a period, e.g. {name}(50)")
        elif not MIN_PERIOD <= period <= MAX_PERIOD:
            raise ValueError(
                f"{name} period must be between {MIN_PERIOD} and {MAX_PERIOD}, got {period}"
            )

    def label(self) -> str:
        """Canonical text, which `parse_indicator` reads back: ``rsi(14)``, ``macd``."""
        return self.name if self.period is None else f"{self.name}({self.period})"


def parse_indicator(text: str) -> IndicatorSpec:
    """Read an indicator name as typed by a user; `ValueError` with a short reason.

    >>> parse_indicator("sma(200)"), parse_indicator("Volume")
    (IndicatorSpec(name='sma', period=200), IndicatorSpec(name='volume', period=None))
    >>> parse_indicator("rsi(1)")
    Traceback (most recent call last):
    ...
    ValueError: rsi period must be between 2 and 500, got 1
    """
    match = _SYNTAX.fullmatch(text)
    if match is None:
        shown = text.strip() or text
        raise ValueError(f"cannot read indicator {shown!r}; use one of: {INDICATOR_FORMS}")
    name, raw = match.group(1).lower(), match.group(2)
    if name not in INDICATOR_NAMES:
        raise ValueError(f"unknown indicator {name!r}; use one of: {INDICATOR_FORMS}")
    if raw is None:
        return IndicatorSpec(name, _DEFAULT_PERIOD.get(name))
    if name in _NO_PERIOD:
        raise ValueError(f"{name} takes no period")
    if not raw.isascii() or not raw.isdigit():
        raise ValueError(f"{name} period must be a whole number, got {raw!r}")
    return IndicatorSpec(name, int(raw))


def latest_value(spec: IndicatorSpec, features: Features | pd.DataFrame) -> float | None:
    """The value of `spec` at the last candle of `features` (which must hold closed
    candles only), or None when there is none yet (warm-up, empty frame, a flat
    window for ``bb_pct``).

    >>> frame = pd.DataFrame(
    ...     {"open": 1.0, "high": 2.0, "low": 1.0, "close": [1.0, 2.0, 3.0], "volume": 5.0},
    ...     index=pd.date_range("2024-01-01", periods=3, freq="h", tz="UTC"),
    ... )
    >>> latest_value(parse_indicator("sma(2)"), frame), latest_value(parse_indicator("rsi"), frame)
    (2.5, None)
    """
    data = as_features(features)
    if len(data) == 0:
        return None
    name, period = spec.name, spec.period
    values: np.ndarray
    if name == "rsi":
        assert period is not None
        values = data.rsi(period)
    elif name == "ema":
        assert period is not None
        values = data.ema(period)
    elif name == "sma":
        assert period is not None
        values = data.sma(period)
    elif name == "atr":
        assert period is not None
        values = data.atr(period)
    elif name == "macd":
        values = data.macd()["macd"]
    elif name == "macd_hist":
        values = data.macd()["hist"]
    elif name == "bb_pct":
        values = data.bollinger()["percent"]
    else:
        values = data.volume
    value = float(values[-1])
    return value if math.isfinite(value) else None


def indicator_fires(
    direction: Literal["above", "below"], level: float, value: float | None
) -> bool:
    """The threshold test of an indicator alarm at a closed candle: ``above`` fires
    when value >= level, ``below`` when value <= level; a missing value (None or
    NaN, e.g. during warm-up) never fires.

    >>> indicator_fires("above", 70.0, 71.2), indicator_fires("below", 30.0, 30.0)
    (True, True)
    >>> indicator_fires("above", 70.0, None), indicator_fires("below", 30.0, float("nan"))
    (False, False)
    """
    if value is None or math.isnan(value) or math.isnan(level):
        return False
    if direction == "above":
        return value >= level
    if direction == "below":
        return value <= level
    raise ValueError(f"direction must be 'above' or 'below'; got {direction!r}")


def indicator_candles(label: str) -> int:
    """Closed candles read to evaluate `label`: enough warm-up for its period
    (recursive averages converge over a few periods)."""
    period = parse_indicator(label).period or 35  # macd 26 + 9, bb 20
    return max(300, 4 * period + 50)


def indicator_values(frame: pd.DataFrame, labels: set[str]) -> dict[str, float | None]:
    """The latest value of each indicator `labels` names, over closed candles."""
    features = Features(frame)  # one memoised set for every indicator of the market
    return {label: latest_value(parse_indicator(label), features) for label in labels}
