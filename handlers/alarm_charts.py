"""The picture a fired alarm comes with.

Price and change alarms fire on ticks, where every millisecond between the tick
and the message counts: they come with the market's plain chart (closed candles
of `chart_timeframe`, the alarm's level is in the caption), which is the same for
every alarm on that market until the next candle closes. `warm` renders it ahead
(when an alarm is armed, at start, at each candle close), so a firing finds it in
the chart cache instead of waiting ~0.2 s for matplotlib. Indicator alarms fire
at candle closes and draw their level when it is a price (EMA, SMA).
"""

from __future__ import annotations

from collections.abc import Iterable

from engine.alarm_indicators import parse_indicator
from handlers.alarm_text import AlarmView, chart_timeframe
from handlers.charts import ChartService

PRICE_LEVEL_INDICATORS = ("ema", "sma")  # their values are prices: drawn on the chart

ChartKey = tuple[str, str]  # (symbol, timeframe)


def chart_key(view: AlarmView) -> ChartKey:
    return view.symbol, chart_timeframe(view)


def drawn_level(view: AlarmView) -> float | None:
    """The level drawn on the alarm's chart, if any (see the module docstring)."""
    if (
        view.kind == "indicator"
        and view.indicator
        and parse_indicator(view.indicator).name in PRICE_LEVEL_INDICATORS
    ):
        return view.level
    return None


def warms(view: AlarmView) -> bool:
    """Whether the alarm's chart is rendered ahead (tick-driven alarms)."""
    return view.kind != "indicator"


async def firing_charts(
    charts: ChartService, views: Iterable[AlarmView]
) -> dict[ChartKey, tuple[bytes, str]]:
    """One chart per (symbol, timeframe) of a batch of firings, with the levels
    drawn that `drawn_level` names; never raises (a missing chart costs the
    picture, not the message)."""
    levels: dict[ChartKey, set[float]] = {}
    for view in views:
        drawn = levels.setdefault(chart_key(view), set())
        level = drawn_level(view)
        if level is not None:
            drawn.add(level)
    found: dict[ChartKey, tuple[bytes, str]] = {}
    for (symbol, timeframe), drawn in levels.items():
        chart = await charts.notification_chart(symbol, timeframe, tuple(sorted(drawn)))
        if chart is not None:
            found[(symbol, timeframe)] = chart
    return found


async def warm(charts: ChartService, keys: Iterable[ChartKey]) -> int:
    """Render (or find cached) the plain chart of each key, one at a time so a
    user's own chart request waits behind at most one of them. Returns how many
    are ready."""
    ready = 0
    for symbol, timeframe in sorted(set(keys)):
        ready += await charts.notification_chart(symbol, timeframe) is not None
    return ready
