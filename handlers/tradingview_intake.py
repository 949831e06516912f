"""The TradingView webhook's intake in one process: alerts checked against the
market (`tradingview.check`) are stored by one writer task that takes every
alert queued meanwhile into one transaction (`GroupCommit` over
`tradingview_store.store_alerts`); each request is answered after its commit,
or `Unconfirmed` when that takes longer than the intake's timeout.
"""

from __future__ import annotations

import asyncio
from collections import deque
from functools import partial

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
    checked alerts (up to `max_batch` per transaction) with `store_alerts`;
    a request waits at most `timeout` seconds for its commit.

        intake = Intake(services, timeout=2.5)
        checked = await tradingview.check(services, alert)  # AlertError: at once
        accepted = await intake.store(checked)              # after the commit
        await intake.close()                                # on shutdown: drain
    """

    def __init__(self, services: Services, *, timeout: float, max_batch: int = 500) -> None:
        self.services = services
        self.timeout = timeout
        self.writer: GroupCommit[Checked, Accepted] = GroupCommit(
            self._store, max_batch=max_batch, name="tradingview_writer"
        )
        # Requests' answers by deadline (one timeout for all: deadlines come in
        # order), watched by one timer rather than a timeout per request: in a
        # burst, a timer and a shielded wait per request cost as much as the
        # alert's own checks.
        self._deadlines: deque[tuple[float, asyncio.Future[Accepted]]] = deque()
        self._timer: asyncio.TimerHandle | None = None

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

    async def store(self, checked: Checked) -> Accepted:
        """`checked` stored by the writer with the alerts queued meanwhile; its
        answer once that transaction committed. `Unconfirmed` after the timeout
        (the alert is not withdrawn: its outcome is logged when known),
        `WriterClosed` when stopping, or the error that refused it. Cancelling
        the wait never withdraws the alert either."""
        stored = self.writer.submit(checked)
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[Accepted] = loop.create_future()
        stored.add_done_callback(partial(_relay, answer))
        self._deadlines.append((loop.time() + self.timeout, answer))
        if self._timer is None:
            self._timer = loop.call_at(self._deadlines[0][0], self._expire)
        return await answer

    def _expire(self) -> None:
        """Answer `Unconfirmed` to every wait past its deadline; watch the next."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        while self._deadlines and self._deadlines[0][0] <= now:
            _, answer = self._deadlines.popleft()
            if not answer.done():
                answer.set_exception(Unconfirmed(f"not confirmed within {self.timeout:g} s"))
        self._timer = loop.call_at(self._deadlines[0][0], self._expire) if self._deadlines else None

    async def close(self) -> None:
        """Store what is queued, then stop the writer (new submissions: `WriterClosed`)."""
        await self.writer.close()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._deadlines.clear()


def _relay(answer: asyncio.Future[Accepted], stored: asyncio.Future[Accepted]) -> None:
    """Pass the writer's outcome to the request waiting for it, or, if that wait
    ended (timed out or cancelled), log it."""
    error = stored.exception()  # (the writer never cancels: a result or an error)
    if not answer.done():
        if error is not None:
            answer.set_exception(error)
        else:
            answer.set_result(stored.result())
    elif error is not None:
        log.warning("tradingview_late_failure", error=f"{type(error).__name__}: {error}"[:300])
    else:
        log.info("tradingview_late_commit", duplicate=stored.result().signal_id is None)
