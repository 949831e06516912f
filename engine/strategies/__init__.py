"""Signal strategies: pure functions of closed candles and parameters.

>>> sorted(STRATEGIES)
['ma_cross', 'pulsewave', 'rsi', 'ut_bot']
>>> spec = get_strategy("rsi")
>>> spec.parse(["period=7"]).period
7
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from engine.strategies import ma_cross, rsi, ut_bot
from engine.strategies import pulsewave as _pulsewave
from engine.strategies.base import Features, ParamError, Signal, StrategySpec, parse_params

STRATEGIES: dict[str, StrategySpec] = {
    "rsi": StrategySpec("rsi", rsi.run, rsi.RsiParams, "RSI crossing into oversold/overbought"),
    "ma_cross": StrategySpec(
        "ma_cross",
        ma_cross.run,
        ma_cross.MaCrossParams,
        "golden/death cross of two moving averages",
    ),
    "ut_bot": StrategySpec(
        "ut_bot", ut_bot.run, ut_bot.UtBotParams, "UT Bot Alerts ATR trailing stop"
    ),
    "pulsewave": StrategySpec(
        "pulsewave",
        _pulsewave.run,
        _pulsewave.PulsewaveParams,
        "support/resistance setups filtered by regime and confluence",
    ),
}


def get_strategy(name: str) -> StrategySpec:
    """The registered strategy `name`; `KeyError` listing the known names otherwise."""
    try:
        return STRATEGIES[name]
    except KeyError:
        raise KeyError(
            f"unknown strategy {name!r}; known: {', '.join(sorted(STRATEGIES))}"
        ) from None


def run_strategy(
    name: str,
    data: pd.DataFrame | Features,
    params: Iterable[str] | dict[str, object] = (),
    symbol: str = "",
    timeframe: str = "",
) -> list[Signal]:
    """Run strategy `name` with `key=value` parameters (defaults for the rest)."""
    spec = get_strategy(name)
    return spec.run(data, spec.parse(params), symbol, timeframe)


__all__ = [
    "STRATEGIES",
    "Features",
    "ParamError",
    "Signal",
    "get_strategy",
    "parse_params",
    "run_strategy",
]
