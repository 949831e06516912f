"""The embedded scheduler: APScheduler jobs in the bot's own event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import structlog
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from engine.market.closes import CandleCloseTracker
from handlers import alarm_engine, jobs
from handlers.context import Services

log = structlog.get_logger(__name__)


class Scheduler:
    """APScheduler plus what it lacks for a clean stop: the jobs running right now
    are tracked, so `stop()` cancels and awaits them before storage is closed
    (a job cut off mid-transaction rolls back; the next run redoes its work)."""

    def __init__(self) -> None:
        self.apscheduler = AsyncIOScheduler(timezone="UTC")
        self._running: set[asyncio.Task[None]] = set()

    def add(self, name: str, job: Callable[[], Awaitable[None]], trigger: str, **options) -> None:
        async def tracked() -> None:
            task = asyncio.current_task()
            assert task is not None
            self._running.add(task)
            try:
                await job()
            except asyncio.CancelledError:
                log.info("job_interrupted", job=name)
            except Exception:
                log.exception("job_failed", job=name)
            finally:
                self._running.discard(task)

        self.apscheduler.add_job(tracked, trigger, id=name, name=name, **options)

    def start(self) -> None:
        self.apscheduler.start()

    async def stop(self) -> None:
        self.apscheduler.shutdown(wait=False)
        running = list(self._running)
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)


def build_scheduler(services: Services) -> Scheduler:
    """One job polls the market clock each second and runs the candle-close jobs
    for every timeframe whose candle just closed (live or replayed); another
    catches up once at start-up."""
    scheduler = Scheduler()
    tracker = CandleCloseTracker(services.clock, list(services.config.timeframes))

    async def candle_closes() -> None:
        for event in tracker.due():
            try:
                await jobs.on_candle_close(services, event)
            except Exception:  # one timeframe's failure must not skip the others
                log.exception("job_failed", job="on_candle_close", timeframe=event.timeframe)

    async def catch_up() -> None:
        await jobs.on_start(services)

    scheduler.add(
        "candle_closes", candle_closes, "interval", seconds=1, max_instances=1, coalesce=True
    )
    # Once, right away: signal history and outcomes left open by the last run.
    scheduler.add("catch_up", catch_up, "date")

    async def retention() -> None:
        await jobs.retention(services)

    scheduler.add("retention", retention, "interval", hours=6, max_instances=1, coalesce=True)

    async def alarm_ticks() -> None:
        await alarm_engine.poll_prices(services)

    # The replayed feed has no tick stream: its prices reach the alarms by polling
    # (a live feed pushes its ticks to the alarms itself).
    if not hasattr(services.market, "subscribe_fresh_ticks"):
        scheduler.add(
            "alarm_ticks", alarm_ticks, "interval", seconds=1, max_instances=1, coalesce=True
        )
    return scheduler
