"""The embedded scheduler: APScheduler jobs in the bot's own event loop."""

from __future__ import annotations

import structlog
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from engine.market.closes import CandleCloseTracker
from handlers import jobs
from handlers.context import Services

log = structlog.get_logger(__name__)


def build_scheduler(services: Services) -> AsyncIOScheduler:
    """One job polls the market clock each second and runs the candle-close jobs
    for every timeframe whose candle just closed (live or replayed)."""
    scheduler = AsyncIOScheduler(timezone="UTC")
    tracker = CandleCloseTracker(services.clock, list(services.config.timeframes))

    async def candle_closes() -> None:
        for event in tracker.due():
            try:
                await jobs.on_candle_close(services, event)
            except Exception:
                log.exception("job_failed", job="on_candle_close", timeframe=event.timeframe)

    scheduler.add_job(
        candle_closes, "interval", seconds=1, id="candle_closes", max_instances=1, coalesce=True
    )
    return scheduler
