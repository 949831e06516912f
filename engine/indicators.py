"""Indicators over candle frames, computed by pandas-ta.

Each function takes the engine's candle DataFrame (or a close Series) and
returns Series/DataFrames aligned to its index, NaN during warm-up.
"""

from __future__ import annotations

import pandas as pd
import pandas_ta as ta


def ema(close: pd.Series, length: int) -> pd.Series:
    """Exponential moving average; NaN for the first `length - 1` candles."""
    result = ta.ema(close, length=length)
    return result if result is not None else pd.Series(float("nan"), index=close.index)


def rsi(close: pd.Series, length: int = 14) -> pd.Series:
    """Wilder's RSI (0-100)."""
    result = ta.rsi(close, length=length)
    return result if result is not None else pd.Series(float("nan"), index=close.index)


def bollinger(close: pd.Series, length: int = 20, std: float = 2.0) -> pd.DataFrame:
    """Bollinger bands: columns lower, middle, upper, bandwidth, percent (%b)."""
    frame = ta.bbands(close, length=length, lower_std=std, upper_std=std)
    columns = ["lower", "middle", "upper", "bandwidth", "percent"]
    if frame is None:
        return pd.DataFrame(float("nan"), index=close.index, columns=columns)
    # pandas-ta names columns BBL_20_2.0_2.0 …; map them by prefix, not position.
    by_prefix = {c.split("_")[0]: c for c in frame.columns}
    mapping = {
        "BBL": "lower",
        "BBM": "middle",
        "BBU": "upper",
        "BBB": "bandwidth",
        "BBP": "percent",
    }
    return pd.DataFrame(
        {name: frame[by_prefix[p]] for p, name in mapping.items()}, index=close.index
    )
