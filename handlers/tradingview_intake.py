"""The TradingView webhook's intake in one process: alerts checked against the
market (`tradingview.check`) are stored by one writer task that takes every
alert queued meanwhile into one transaction (`GroupCommit` over
`tradingview_store.store_alerts`); each request is answered after its commit.
"""

from __future__ import annotations

import asyncio

import structlog

from handlers.context import Services
from handlers.group_commit import GroupCommit
from handlers.tradingview_store import Accepted, Checked, store_alerts

log = structlog.get_logger(__name__)


class Unconfirmed(Exception):
    """The alert's batch did not commit within the wait. The alert stays queued
    (or in its transaction) and may still be stored; sending it again is safe."""


class Intake:
    """One process's webhook intake: `writer`, the group commit that stores
    checked alerts (up to `max_batch` per transaction) with `store_alerts`.

        checked = await tradingview.check(services, alert)  # AlertError: at once
        accepted = await intake.store(checked, 2.5)         # after the commit
        await intake.close()                                # on shutdown: drain
    """

    def __init__(self, services: Services, *, max_batch: int = 500) -> None:
        self.services = services
        self.writer: GroupCommit[Checked, Accepted] = GroupCommit(
            self._store, max_batch=max_batch, name="tradingview_writer"
        )

    async def _store(self, alerts: list[Checked]) -> list[Accepted]:
        accepted = await store_alerts(self.services.db, alerts)
        # One line per transaction (a line per alert would cost a burst dearly).
        log.info(
            "tradingview_alerts_stored",
            alerts=len(alerts),
            new=sum(a.signal_id is not None for a in accepted),
            recipients=sum(a.recipients for a in accepted),
        )
        return accepted

    async def store(self, checked: Checked, timeout: float) -> Accepted:  # noqa: ASYNC109
        """`checked` stored by the writer with the alerts queued meanwhile; its
        answer once that transaction committed. `Unconfirmed` after `timeout`
        seconds (it is not withdrawn: its outcome is logged when known),
        `WriterClosed` when stopping, or the error that refused it."""
        future = self.writer.submit(checked)
        try:  # shielded: giving up waiting never withdraws the alert
            return await asyncio.wait_for(asyncio.shield(future), timeout)
        except TimeoutError:
            raise Unconfirmed(f"not confirmed within {timeout:g} s") from None
        finally:
            if not future.done():  # timed out, or this request was cancelled
                future.add_done_callback(_late_outcome)

    async def close(self) -> None:
        """Store what is queued, then stop the writer (new submissions: `WriterClosed`)."""
        await self.writer.close()


def _late_outcome(future: asyncio.Future[Accepted]) -> None:
    """Log the outcome of an alert whose request stopped waiting for it."""
    if future.cancelled():
        return
    error = future.exception()
    if error is not None:
        log.warning("tradingview_late_failure", error=f"{type(error).__name__}: {error}"[:300])
    else:
        log.info("tradingview_late_commit", duplicate=future.result().signal_id is None)
