"""Alarm firings, apart from the running alarms (`handlers.alarm_engine`): what
fired (`Firing`), which indicator alarms a timeframe's closed candles fire
(`indicator_firings`; stale candles fire nothing), and the one transaction that
records a firing (`commit`): the conditional UPDATE `storage.alarms.fire` (one
process wins) and only then the notification ``alarm:ID`` with its outbox row,
rendered by `alarm_card`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Literal, cast

import structlog

from engine.alarm_indicators import (
    indicator_candles,
    indicator_fires,
    indicator_values,
)
from engine.market.clock import to_datetime
from engine.market.types import STALE_CANDLES, MarketError, MarketFeed
from handlers.alarm_text import AlarmView, alarm_card
from handlers.context import Services
from handlers.notify import register_renderer
from storage import alarms as alarm_store
from storage import outbox

log = structlog.get_logger(__name__)

Direction = Literal["above", "below"]

register_renderer("alarm", alarm_card)


@dataclass(frozen=True, slots=True)
class Firing:
    """An alarm a price or a closed candle fired: `value` is the move in percent
    (change) or the indicator's value (indicator)."""

    view: AlarmView
    price: float
    time_ms: int
    value: float | None = None


async def indicator_firings(
    market: MarketFeed, symbol: str, timeframe: str, views: list[AlarmView]
) -> list[Firing]:
    """The indicator alarms `views` of `symbol` and `timeframe` that its closed
    candles fire (none when the candles cannot be had or are stale)."""
    labels = {v.indicator for v in views if v.indicator}
    if not labels:
        return []
    limit = max(indicator_candles(label) for label in labels)
    try:
        candles = await market.candles(symbol, timeframe, limit)
    except MarketError as error:
        log.warning("alarm_candles_skipped", symbol=symbol, reason=str(error))
        return []
    if candles.behind(STALE_CANDLES):
        log.info("alarms_paused_stale", symbol=symbol, timeframe=timeframe)
        return []
    values = await asyncio.to_thread(indicator_values, candles.frame, labels)
    close = float(candles.frame["close"].iloc[-1])
    time_ms = candles.last_close_ms or candles.as_of_ms
    firings: list[Firing] = []
    for view in views:
        value = values.get(view.indicator or "")
        if indicator_fires(cast(Direction, view.direction), view.level, value):
            firings.append(Firing(view, close, time_ms, value))
    return firings


async def commit(services: Services, firing: Firing, chart: tuple[bytes, str] | None) -> bool:
    """Record `firing` with its message (and `chart`) in one transaction; False when
    the alarm was not active any more (fired by another process, or deleted)."""
    view = firing.view
    demo = bool(services.market.is_demo)
    payload = view.fired(firing.price, firing.time_ms, firing.value, demo).payload()
    async with services.db.session() as session:
        at = to_datetime(firing.time_ms)
        if not await alarm_store.fire(session, view.id, firing.price, value=firing.value, at=at):
            return False
        key = f"alarm:{view.id}"
        nid = await outbox.create_notification(session, key, "alarm", payload, *(chart or ()))
        if nid is not None:
            await outbox.enqueue(session, nid, [view.chat_id])
    return True
