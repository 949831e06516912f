"""Indicators over candle frames, computed by pandas-ta.

Each public function takes the engine's candle DataFrame (or a close Series) and
returns Series/DataFrames aligned to its index, NaN during warm-up.

Every call passes ``talib=False``: pandas-ta would silently switch to TA-Lib when
it happens to be installed, and then production (no TA-Lib) and the tests (TA-Lib
installed as the reference) would compute different things. With the pandas-ta
implementations the values equal TA-Lib's once the warm-up has passed (tested to
1e-9 on the bundled real candles); recursive indicators (RSI, ATR, MACD) differ
only in how the first value is seeded, and that difference decays geometrically.

The work is done by the ``*_values`` functions: one pandas-ta call each, over
plain Series with a default RangeIndex, returning numpy arrays. The analysis
(`engine.strategies.base.Features`) uses them directly, because building and
aligning DatetimeIndex-ed Series/DataFrames cost more than the indicators
themselves on a few hundred candles; the public functions wrap the same arrays,
so both paths give identical values. The index never enters pandas-ta's
arithmetic, only its alignment.

`INDICATORS` maps the names the CLI and the analysis use to a function
`(frame, *int_params) -> DataFrame` with stable column names:

>>> sorted(INDICATORS)[:4]
['atr', 'bbands', 'ema', 'macd']
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pandas_ta as ta

Arrays = dict[str, np.ndarray]


def plain(values: np.ndarray | pd.Series) -> pd.Series:
    """A float Series over `values` with a RangeIndex: what the ``*_values``
    functions take (cheap to build, cheap for pandas-ta to align)."""
    return pd.Series(np.asarray(values, dtype=float))


def _nans(n: int) -> np.ndarray:
    return np.full(n, np.nan)


def _array(result: pd.Series | None, n: int) -> np.ndarray:
    return _nans(n) if result is None else result.to_numpy(dtype=float)


def _columns(result: pd.DataFrame | None, n: int, names: dict[str, str]) -> Arrays:
    """pandas-ta's columns (named like ``BBL_20_2.0_2.0``), picked by prefix, not
    position, and placed by row position (some results start after the warm-up)."""
    if result is None:
        return {name: _nans(n) for name in names.values()}
    by_prefix = {c.split("_")[0]: c for c in result.columns}
    rows = result.index.to_numpy()
    whole = len(result) == n and isinstance(result.index, pd.RangeIndex)
    out = {}
    for prefix, name in names.items():
        values = result[by_prefix[prefix]].to_numpy(dtype=float)
        if not whole:
            values, placed = _nans(n), values
            values[rows] = placed
        out[name] = values
    return out


# --- numpy-level: one pandas-ta call each ---------------------------------------


def ema_values(close: pd.Series, length: int) -> np.ndarray:
    return _array(ta.ema(close, length=length, talib=False), len(close))


def sma_values(close: pd.Series, length: int) -> np.ndarray:
    return _array(ta.sma(close, length=length, talib=False), len(close))


def rsi_values(close: pd.Series, length: int = 14) -> np.ndarray:
    return _array(ta.rsi(close, length=length, talib=False), len(close))


def atr_values(high: pd.Series, low: pd.Series, close: pd.Series, length: int = 14) -> np.ndarray:
    return _array(ta.atr(high, low, close, length=length, talib=False), len(close))


def macd_values(close: pd.Series, fast: int = 12, slow: int = 26, signal: int = 9) -> Arrays:
    result = ta.macd(close, fast=fast, slow=slow, signal=signal, talib=False)
    return _columns(result, len(close), {"MACD": "macd", "MACDs": "signal", "MACDh": "hist"})


def bollinger_values(close: pd.Series, length: int = 20, std: float = 2.0) -> Arrays:
    result = ta.bbands(close, length=length, lower_std=std, upper_std=std, ddof=0, talib=False)
    out = _columns(result, len(close), {"BBL": "lower", "BBM": "middle", "BBU": "upper"})
    width = out["upper"] - out["lower"]
    with np.errstate(invalid="ignore", divide="ignore"):
        out["bandwidth"] = 100 * width / out["middle"]
        # Computed here rather than taken from pandas-ta, which nudges a zero width
        # to epsilon: a flat window gives NaN, not a huge number.
        out["percent"] = (close.to_numpy() - out["lower"]) / np.where(width > 0, width, np.nan)
    return out


def stochastic_values(
    high: pd.Series, low: pd.Series, close: pd.Series, k: int = 14, d: int = 3, smooth_k: int = 3
) -> Arrays:
    result = ta.stoch(high, low, close, k=k, d=d, smooth_k=smooth_k, talib=False)
    return _columns(result, len(close), {"STOCHk": "k", "STOCHd": "d"})


def obv_values(close: pd.Series, volume: pd.Series) -> np.ndarray:
    result = ta.obv(close, volume, talib=False)
    if result is None or len(volume) == 0:
        return _nans(len(close))
    # pandas-ta leaves the first candle NaN and starts the running sum at 0 after
    # it; TA-Lib (and Granville's definition) starts at the first volume.
    values = result.to_numpy(dtype=float)
    return np.where(np.isnan(values), 0.0, values) + float(volume.iloc[0])


# --- public: Series/DataFrames on the frame's index ------------------------------


def _hlc(frame: pd.DataFrame) -> tuple[pd.Series, pd.Series, pd.Series]:
    return plain(frame["high"]), plain(frame["low"]), plain(frame["close"])


def ema(close: pd.Series, length: int) -> pd.Series:
    """Exponential moving average seeded with the SMA of the first `length` values
    (as TA-Lib); NaN for the first `length - 1` candles."""
    return pd.Series(ema_values(plain(close), length), index=close.index, name=f"EMA_{length}")


def sma(close: pd.Series, length: int) -> pd.Series:
    """Simple moving average over `length` candles."""
    return pd.Series(sma_values(plain(close), length), index=close.index, name=f"SMA_{length}")


def rsi(close: pd.Series, length: int = 14) -> pd.Series:
    """Wilder's RSI (0-100)."""
    return pd.Series(rsi_values(plain(close), length), index=close.index, name=f"RSI_{length}")


def macd(close: pd.Series, fast: int = 12, slow: int = 26, signal: int = 9) -> pd.DataFrame:
    """MACD: columns `macd` (fast EMA - slow EMA), `signal` (EMA of it), `hist`."""
    return pd.DataFrame(macd_values(plain(close), fast, slow, signal), index=close.index)


def bollinger(close: pd.Series, length: int = 20, std: float = 2.0) -> pd.DataFrame:
    """Bollinger bands: columns lower, middle, upper, bandwidth, percent (%b).

    The deviation is the population standard deviation (ddof=0), as in Bollinger's
    definition and TA-Lib. `bandwidth` is 100 * (upper - lower) / middle and
    `percent` is (close - lower) / (upper - lower) (NaN when the bands collapse).
    """
    return pd.DataFrame(bollinger_values(plain(close), length, std), index=close.index)


def true_range(frame: pd.DataFrame) -> pd.Series:
    """max(high - low, |high - previous close|, |low - previous close|); the first
    candle, without a previous close, has high - low. A flat candle gives 0."""
    high, low = frame["high"].to_numpy(), frame["low"].to_numpy()
    prev = np.r_[np.nan, frame["close"].to_numpy()[:-1]]
    with np.errstate(invalid="ignore"):
        tr = np.fmax(high - low, np.fmax(np.abs(high - prev), np.abs(low - prev)))
    return pd.Series(tr, index=frame.index, name="TR")


def atr(frame: pd.DataFrame, length: int = 14) -> pd.Series:
    """Average true range, Wilder-smoothed (RMA), as TA-Lib's ATR after warm-up."""
    values = atr_values(*_hlc(frame), length)
    # pandas-ta names it ATRr_n (r for RMA) and gives nothing when all is warm-up.
    name = f"ATR_{length}" if np.isnan(values).all() else f"ATRr_{length}"
    return pd.Series(values, index=frame.index, name=name)


def stochastic(frame: pd.DataFrame, k: int = 14, d: int = 3, smooth_k: int = 3) -> pd.DataFrame:
    """Slow stochastic: `k` is the SMA(`smooth_k`) of the raw %K over `k` candles,
    `d` the SMA(`d`) of it (TA-Lib STOCH with SMA smoothing)."""
    return pd.DataFrame(stochastic_values(*_hlc(frame), k, d, smooth_k), index=frame.index)


def volume_sma(frame: pd.DataFrame, length: int = 20) -> pd.Series:
    """Simple moving average of volume."""
    values = sma_values(plain(frame["volume"]), length)
    return pd.Series(values, index=frame.index, name=f"VOLSMA_{length}")


def obv(frame: pd.DataFrame) -> pd.Series:
    """On-balance volume, starting at the first candle's volume (as TA-Lib)."""
    values = obv_values(plain(frame["close"]), plain(frame["volume"]))
    return pd.Series(values, index=frame.index, name="OBV")


# --- the named set used by the CLI and the analysis ---------------------------

IndicatorFn = Callable[..., pd.DataFrame]


def _single(name: str, fn: Callable[[pd.DataFrame, int], pd.Series]) -> IndicatorFn:
    def compute(frame: pd.DataFrame, length: int) -> pd.DataFrame:
        return pd.DataFrame({f"{name}_{length}": fn(frame, length)}, index=frame.index)

    return compute


def _prefixed(name: str, result: pd.DataFrame, params: tuple[int | float, ...]) -> pd.DataFrame:
    suffix = "_".join(f"{p:g}" for p in params)
    return result.rename(columns=lambda c: f"{name}_{suffix}_{c}")


INDICATORS: dict[str, tuple[IndicatorFn, tuple[int | float, ...]]] = {
    "rsi": (_single("rsi", lambda f, n: rsi(f["close"], n)), (14,)),
    "ema": (_single("ema", lambda f, n: ema(f["close"], n)), (20,)),
    "sma": (_single("sma", lambda f, n: sma(f["close"], n)), (20,)),
    "atr": (_single("atr", atr), (14,)),
    "volume_sma": (_single("volume_sma", volume_sma), (20,)),
    "macd": (lambda f, *p: _prefixed("macd", macd(f["close"], *p), p), (12, 26, 9)),
    "bbands": (lambda f, *p: _prefixed("bbands", bollinger(f["close"], *p), p), (20, 2.0)),
    "stoch": (lambda f, *p: _prefixed("stoch", stochastic(f, *p), p), (14, 3, 3)),
    "obv": (lambda f: pd.DataFrame({"obv": obv(f)}, index=f.index), ()),
}


def parse_indicator(spec: str) -> tuple[str, tuple[int | float, ...]]:
    """Parse `name` or `name:p1,p2` (e.g. `ema:200`, `macd:12,26,9`, `bbands:20,2.5`).

    >>> parse_indicator("ema:50"), parse_indicator("rsi")
    (('ema', (50,)), ('rsi', (14,)))
    """
    name, _, rest = spec.strip().lower().partition(":")
    if name not in INDICATORS:
        raise ValueError(f"unknown indicator {name!r}; known: {', '.join(sorted(INDICATORS))}")
    defaults = INDICATORS[name][1]
    if not rest:
        return name, defaults
    parts = rest.split(",")
    if len(parts) > len(defaults):
        raise ValueError(f"{name} takes at most {len(defaults)} parameter(s), got {len(parts)}")
    values: list[int | float] = []
    for part, default in zip(parts, defaults, strict=False):
        try:
            value: int | float = int(part) if isinstance(default, int) else float(part)
        except ValueError:
            raise ValueError(f"{name}: {part!r} is not a number") from None
        if value <= 0:
            raise ValueError(f"{name}: parameters must be positive, got {part}")
        values.append(value)
    return name, (*values, *defaults[len(values) :])


def compute_indicator(frame: pd.DataFrame, spec: str) -> pd.DataFrame:
    """Columns of the indicator `spec` (see `parse_indicator`) over `frame`."""
    name, params = parse_indicator(spec)
    return INDICATORS[name][0](frame, *params)
