"""What every strategy shares: the `Signal` record, parameter parsing and the
memoised indicator set (`Features`) that lets several strategies reuse one
computation.

A strategy is a pure function of **closed** candles and parameters::

    run(data: pd.DataFrame | Features, params, symbol, timeframe) -> list[Signal]

A signal dated at candle ``t`` uses only candles ``0..t``: every input is a causal
indicator (EMA/RMA recursions, rolling windows, pivots only once confirmed), so
running on ``frame[: t + 1]`` gives the same signals up to ``t`` as a run on the
whole history. That is what lets the live scheduler call a strategy on each
candle close and a backtest call it once.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np
import pandas as pd

from engine import indicators as ind

Side = Literal["buy", "sell"]


@dataclass(frozen=True, slots=True)
class Signal:
    """One trade idea, decided at the close of candle `candle_open_ms`.

    - `entry`: the close of that candle (the price a live user could act on).
    - `stop`/`target`: invalidation and objective prices (below/above the entry for
      a buy, the other way round for a sell).
    - `confidence`: 0-1 (for pulsewave, the confluence score / 100).
    - `regime`: market regime at the candle (BULL, BEAR, SIDEWAYS, TRANSITION).
    - `factors`: what contributed, by name (numbers or short labels).
    """

    symbol: str
    timeframe: str
    strategy: str
    side: Side
    candle_open_ms: int
    entry: float
    stop: float
    target: float
    confidence: float
    regime: str
    factors: dict[str, float | str] = field(default_factory=dict)

    @property
    def risk(self) -> float:
        """Distance from entry to stop (price units, positive)."""
        return abs(self.entry - self.stop)

    @property
    def reward_risk(self) -> float:
        """Distance to target divided by distance to stop."""
        return abs(self.target - self.entry) / self.risk if self.risk > 0 else float("inf")


class ParamError(ValueError):
    """A strategy parameter that does not parse or is out of range."""


def _field_type(cls: type, name: str) -> type:
    hints = typing.get_type_hints(cls)
    hint = hints[name]
    if typing.get_origin(hint) in (typing.Literal,):
        return str
    if isinstance(hint, types.UnionType):
        return next(a for a in typing.get_args(hint) if a is not type(None))
    return hint


def parse_params[P](cls: type[P], pairs: Iterable[str] | dict[str, Any] = ()) -> P:
    """Build the parameter dataclass `cls` from `key=value` strings (or a dict).

    Unknown keys and values that do not convert to the field's type raise
    `ParamError` naming the key and the accepted keys.

    >>> from engine.strategies.rsi import RsiParams
    >>> parse_params(RsiParams, ["period=7", "oversold=25"]).period
    7
    """
    assert dataclasses.is_dataclass(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    items = list(pairs.items()) if isinstance(pairs, dict) else [_split_pair(p) for p in pairs]
    values: dict[str, Any] = {}
    for key, raw in items:
        if key not in known:
            raise ParamError(f"unknown parameter {key!r}; accepted: {', '.join(sorted(known))}")
        kind = _field_type(cls, key)
        try:
            if kind is bool and isinstance(raw, str):
                if raw.lower() not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError(raw)
                values[key] = raw.lower() in ("true", "1", "yes")
            else:
                values[key] = kind(raw)
        except (TypeError, ValueError):
            raise ParamError(f"{key}={raw!r}: expected {kind.__name__}") from None
    try:
        return cls(**values)
    except ValueError as error:
        raise ParamError(str(error)) from None


def _split_pair(pair: str) -> tuple[str, str]:
    key, sep, value = pair.partition("=")
    if not sep or not key.strip():
        raise ParamError(f"{pair!r}: expected key=value")
    return key.strip(), value.strip()


def require(condition: bool, message: str) -> None:
    """Raise `ValueError(message)` unless `condition` (used in `__post_init__`)."""
    if not condition:
        raise ValueError(message)


class Features:
    """Candles plus memoised indicators: each indicator is computed once per frame
    however many strategies ask for it (the analysis shares one instance; a
    strategy called with a bare DataFrame builds its own).

    Accessors return numpy float arrays aligned to the candles (NaN in warm-up);
    the multi-line ones (`macd`, `bollinger`, `stochastic`) a dict of such arrays
    by column name. They call the ``engine.indicators.*_values`` functions on
    RangeIndex Series built once here: the same pandas-ta values as the public
    indicator functions, without building indexed Series/DataFrames per call.
    """

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame
        self.open = frame["open"].to_numpy(dtype=float)
        self.high = frame["high"].to_numpy(dtype=float)
        self.low = frame["low"].to_numpy(dtype=float)
        self.close = frame["close"].to_numpy(dtype=float)
        self.volume = frame["volume"].to_numpy(dtype=float)
        self.open_ms = pd.DatetimeIndex(frame.index).as_unit("ms").asi8.astype(np.int64)
        self._cache: dict[tuple[Any, ...], Any] = {}
        self._plain: dict[str, pd.Series] = {}

    def __len__(self) -> int:
        return len(self.close)

    def memo(self, key: tuple[Any, ...], compute: Callable[[], Any]) -> Any:
        """The cached value of `key`, computing it on first use."""
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]

    def series(self, column: str) -> pd.Series:
        """`column` as a RangeIndex float Series (the pandas-ta input), built once."""
        if column not in self._plain:
            self._plain[column] = ind.plain(getattr(self, column))
        return self._plain[column]

    def _hlc(self) -> tuple[pd.Series, pd.Series, pd.Series]:
        return self.series("high"), self.series("low"), self.series("close")

    def ema(self, length: int) -> np.ndarray:
        return self.memo(("ema", length), lambda: ind.ema_values(self.series("close"), length))

    def sma(self, length: int) -> np.ndarray:
        return self.memo(("sma", length), lambda: ind.sma_values(self.series("close"), length))

    def ma(self, kind: str, length: int) -> np.ndarray:
        return self.ema(length) if kind == "ema" else self.sma(length)

    def rsi(self, length: int = 14) -> np.ndarray:
        return self.memo(("rsi", length), lambda: ind.rsi_values(self.series("close"), length))

    def atr(self, length: int = 14) -> np.ndarray:
        return self.memo(("atr", length), lambda: ind.atr_values(*self._hlc(), length))

    def volume_sma(self, length: int = 20) -> np.ndarray:
        return self.memo(("vsma", length), lambda: ind.sma_values(self.series("volume"), length))

    def obv(self) -> np.ndarray:
        return self.memo(
            ("obv",), lambda: ind.obv_values(self.series("close"), self.series("volume"))
        )

    def macd(self, fast: int = 12, slow: int = 26, signal: int = 9) -> ind.Arrays:
        return self.memo(
            ("macd", fast, slow, signal),
            lambda: ind.macd_values(self.series("close"), fast, slow, signal),
        )

    def bollinger(self, length: int = 20, std: float = 2.0) -> ind.Arrays:
        return self.memo(
            ("bb", length, std), lambda: ind.bollinger_values(self.series("close"), length, std)
        )

    def stochastic(self, k: int = 14, d: int = 3, smooth_k: int = 3) -> ind.Arrays:
        return self.memo(
            ("stoch", k, d, smooth_k), lambda: ind.stochastic_values(*self._hlc(), k, d, smooth_k)
        )


def as_features(data: pd.DataFrame | Features) -> Features:
    return data if isinstance(data, Features) else Features(data)


def crossed_above(a: np.ndarray, b: np.ndarray | float) -> np.ndarray:
    """True at t when a[t-1] <= b[t-1] and a[t] > b[t] (False at t=0 and on NaN)."""
    b_arr = np.broadcast_to(np.asarray(b, dtype=float), a.shape)
    out = np.zeros(a.shape, dtype=bool)
    with np.errstate(invalid="ignore"):
        out[1:] = (a[:-1] <= b_arr[:-1]) & (a[1:] > b_arr[1:])
    return out


def crossed_below(a: np.ndarray, b: np.ndarray | float) -> np.ndarray:
    """True at t when a[t-1] >= b[t-1] and a[t] < b[t]."""
    b_arr = np.broadcast_to(np.asarray(b, dtype=float), a.shape)
    out = np.zeros(a.shape, dtype=bool)
    with np.errstate(invalid="ignore"):
        out[1:] = (a[:-1] >= b_arr[:-1]) & (a[1:] < b_arr[1:])
    return out


def atr_levels(
    side: Side, entry: float, atr: float, stop_atr: float, target_atr: float
) -> tuple[float, float]:
    """Stop and target at ATR multiples from the entry, for strategies that have no
    price levels of their own: a buy stops `stop_atr`·ATR below and targets
    `target_atr`·ATR above the entry; a sell the mirror image."""
    sign = 1.0 if side == "buy" else -1.0
    return entry - sign * stop_atr * atr, entry + sign * target_atr * atr


class StrategyFn(Protocol):
    def __call__(
        self,
        data: pd.DataFrame | Features,
        params: Any = None,
        symbol: str = "",
        timeframe: str = "",
    ) -> list[Signal]: ...


@dataclass(frozen=True)
class StrategySpec:
    """A registered strategy: its function, parameter dataclass and one-line help."""

    name: str
    run: StrategyFn
    params: type
    summary: str

    def parse(self, pairs: Iterable[str] | dict[str, Any] = ()) -> Any:
        return parse_params(self.params, pairs)
