"""Scheduled use cases, called by the embedded scheduler (bot/scheduler.py).

Jobs are keyed to candle closes on the market clock, so they run on the DEMO
replay exactly as on a live market.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import structlog

from engine.market.closes import CandleClose
from handlers import alarm_engine
from handlers.context import Services
from handlers.live_market import LiveMarket
from handlers.scan import ScanState, scan, track_outcomes
from storage import chat_ui, outbox, received_alerts
from storage.models import utcnow

log = structlog.get_logger(__name__)


def _scan_state(services: Services) -> ScanState:
    state = services.job_state.setdefault("scan", ScanState())
    assert isinstance(state, ScanState)
    return state


async def on_candle_close(services: Services, event: CandleClose) -> None:
    """A candle of `event.timeframe` closed: store it (live data), follow open
    signals to their outcome, then scan for new signals."""
    log.debug("candle_closed", timeframe=event.timeframe, open_ms=event.open_ms)
    if isinstance(services.market, LiveMarket):
        # Fetch the closed candle of every tracked market, shortly after the close.
        await services.market.on_candle_close(event)
    try:  # indicator alarms on the candle that just closed
        await alarm_engine.at_candle_close(services, event.timeframe)
    except Exception:  # the signal jobs must run regardless
        log.exception("alarms_at_close_failed", timeframe=event.timeframe)
    await signals_at_close(services, event.timeframe)


async def signals_at_close(services: Services, timeframe: str) -> None:
    closed = await track_outcomes(services, timeframe)
    result = await scan(services, timeframe, _scan_state(services))
    if closed or result.live or result.history:
        log.info(
            "signals_scanned",
            timeframe=timeframe,
            new=len(result.live),
            history=result.history,
            outcomes_closed=closed,
            queued=result.queued,
        )


def _retention_cutoff(services: Services) -> datetime:
    """What finished `outbox_retention_days` ago or earlier is purged."""
    return utcnow() - timedelta(days=services.config.outbox_retention_days)


async def purge_outbox(services: Services) -> tuple[int, int]:
    """Retention (every few hours): the records of messages finished more than
    `outbox_retention_days` ago, and their pictures (see `storage.outbox.purge`).
    Wall-clock days: the records are stamped with the wall clock."""
    before = _retention_cutoff(services)
    async with services.db.session() as session:
        rows, pictures = await outbox.purge(session, before)
    if rows or pictures:
        log.info("outbox_purged", rows=rows, pictures=pictures, before=before.isoformat())
    return rows, pictures


async def purge_received_alerts(services: Services) -> int:
    """Retention of the webhook alerts processed more than
    `outbox_retention_days` ago (see `storage.received_alerts.purge`)."""
    before = _retention_cutoff(services)
    async with services.db.session() as session:
        purged = await received_alerts.purge(session, before)
    if purged:
        log.info("received_alerts_purged", rows=purged, before=before.isoformat())
    return purged


async def purge_chat_state(services: Services) -> int:
    """Retention of what the chat front ends keep (see `storage.chat_ui.purge`):
    expired button payloads, wizards left untouched for days."""
    async with services.db.session() as session:
        purged = await chat_ui.purge(session)
    if purged:
        log.info("chat_state_purged", rows=purged)
    return purged


async def retention(services: Services) -> None:
    """Every few hours: each retention purge, on its own (one failing must not
    leave the other tables growing)."""
    for purge in (purge_outbox, purge_received_alerts, purge_chat_state):
        try:
            await purge(services)
        except Exception:
            log.exception("job_failed", job=purge.__name__)


async def on_start(services: Services) -> None:
    """At start-up: catch up on every signal timeframe (history for the track
    record, outcomes of signals left open by the previous run). The alarms are
    loaded first, so they run while the scans catch up."""
    try:
        await alarm_engine.alarm_service(services)
    except Exception:  # retried at the next use; the scans must run regardless
        log.exception("alarms_load_failed")
    for timeframe in services.config.signal_timeframes:
        try:
            await scan(services, timeframe, _scan_state(services))
            await track_outcomes(services, timeframe)
        except Exception:
            log.exception("startup_scan_failed", timeframe=timeframe)
