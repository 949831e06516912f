"""Scheduled use cases, called by the embedded scheduler (bot/scheduler.py).

Jobs are keyed to candle closes on the market clock, so they run on the DEMO
replay exactly as on a live market.
"""

from __future__ import annotations

import structlog

from engine.market.closes import CandleClose
from handlers.context import Services
from handlers.live_market import LiveMarket

log = structlog.get_logger(__name__)


async def on_candle_close(services: Services, event: CandleClose) -> None:
    """A candle of `event.timeframe` closed. Ingestion, signal scans and outcome
    tracking hook in here as they are built."""
    log.debug("candle_closed", timeframe=event.timeframe, open_ms=event.open_ms)
    if isinstance(services.market, LiveMarket):
        # Fetch the closed candle of every tracked market, shortly after the close.
        await services.market.on_candle_close(event)
