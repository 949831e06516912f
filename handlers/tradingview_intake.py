"""The TradingView webhook's intake in one process, in two steps
(`handlers/tradingview_store.py` does the writing):

1. **Receiving**, what a request waits for: alerts checked against the market
   (`tradingview.check`) are written as received by one writer task, which takes
   every alert queued meanwhile into one transaction (`GroupCommit` over
   `receive_alerts`). Each request is answered after its commit (new, or a
   repeat), or `Unconfirmed` when that takes longer than the intake's timeout.
2. **Processing**, after the answers: one processor task turns the received
   alerts into signals and outbox rows (`process_received`, a transaction per
   `process_batch`). It waits until a burst of requests has passed (no alert
   arrived or was committed for `quiet` seconds), but never more than
   `max_delay` after being woken: answering within TradingView's 3 s is what
   keeps an alert from being dropped, while the fan-out it feeds runs at
   Telegram's 30 messages/s anyway. It also runs at start (alerts received
   before a crash or restart) and every `sweep` seconds (alerts another process
   received and did not live to process).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import math
from collections import deque
from functools import partial

import structlog

from handlers.context import Services
from handlers.group_commit import GroupCommit
from handlers.tradingview_store import Checked, process_received, receive_alerts

log = structlog.get_logger(__name__)


class Unconfirmed(Exception):
    """The alert's batch did not commit within the wait. The alert stays queued
    (or in its transaction) and may still be stored; sending it again is safe."""


class Intake:
    """One process's webhook intake.

        intake = Intake(services, timeout=2.5)
        intake.start()                                      # the processor
        checked = await tradingview.check(services, alert)  # AlertError: at once
        new = await intake.receive(checked)                 # after the commit
        await intake.close()                                # on shutdown: drain

    `writer` is the group commit receiving alerts (up to `max_batch` per
    transaction); a request waits at most `timeout` seconds for its commit.
    """

    def __init__(
        self,
        services: Services,
        *,
        timeout: float,
        max_batch: int = 500,
        process_batch: int = 250,
        quiet: float = 0.05,
        max_delay: float = 1.0,
        sweep: float = 60.0,
    ) -> None:
        self.services = services
        self.timeout = timeout
        self.process_batch = process_batch
        self.quiet = quiet
        self.max_delay = max_delay
        self.sweep = sweep
        self.writer: GroupCommit[Checked, bool] = GroupCommit(
            self._receive, max_batch=max_batch, name="tradingview_writer"
        )
        self.processed = 0  # alerts this intake processed (for logs, tests, benchmarks)
        # Requests' answers by deadline (one timeout for all: deadlines come in
        # order), watched by one timer rather than a timeout per request: in a
        # burst, a timer and a shielded wait per request cost as much as the
        # alert's own checks.
        self._deadlines: deque[tuple[float, asyncio.Future[bool]]] = deque()
        self._timer: asyncio.TimerHandle | None = None
        self._last_activity = -math.inf
        self._work = asyncio.Event()  # something was received (or may be waiting)
        self._stopping = asyncio.Event()
        self._processor: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the processor (unless running): it first processes what was
        received and not processed before (a crash, a restart), then waits for
        new alerts."""
        running = self._processor is not None and not self._processor.done()
        if not running and not self._stopping.is_set():
            self._work.set()
            self._processor = asyncio.create_task(
                self._process_forever(), name="tradingview_processor", context=contextvars.Context()
            )

    async def receive(self, checked: Checked) -> bool:
        """`checked` written as received with the alerts queued meanwhile: True
        if it is new, False for a repeat, once that transaction committed.
        `Unconfirmed` after the timeout (the alert is not withdrawn: its outcome
        is logged when known), `WriterClosed` when stopping, or the error that
        refused it. Cancelling the wait never withdraws the alert either."""
        loop = asyncio.get_running_loop()
        self._last_activity = loop.time()
        stored = self.writer.submit(checked)
        answer: asyncio.Future[bool] = loop.create_future()
        stored.add_done_callback(partial(_relay, answer))
        self._deadlines.append((loop.time() + self.timeout, answer))
        if self._timer is None:
            self._timer = loop.call_at(self._deadlines[0][0], self._expire)
        return await answer

    async def _receive(self, alerts: list[Checked]) -> list[bool]:
        new = await receive_alerts(self.services.db, alerts)
        # The answers go out now: processing waits for them as for arrivals.
        self._last_activity = asyncio.get_running_loop().time()
        # One line per transaction (a line per alert would cost a burst dearly).
        log.info("tradingview_alerts_received", alerts=len(alerts), new=sum(new))
        if any(new):
            self._work.set()
            self.start()  # (normally running since the web server started)
        return new

    def _expire(self) -> None:
        """Answer `Unconfirmed` to every wait past its deadline; watch the next."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        while self._deadlines and self._deadlines[0][0] <= now:
            _, answer = self._deadlines.popleft()
            if not answer.done():
                answer.set_exception(Unconfirmed(f"not confirmed within {self.timeout:g} s"))
        self._timer = loop.call_at(self._deadlines[0][0], self._expire) if self._deadlines else None

    async def process_pending(self) -> int:
        """Process every alert received and not processed yet (by any process), a
        transaction per `process_batch`; the number processed. An alert whose
        processing failed stays for a later call (see `process_received`)."""
        total = 0
        while True:
            done = await process_received(self.services.db, self.process_batch)
            if done.alerts:
                total += done.alerts
                self.processed += done.alerts
                log.info(
                    "tradingview_alerts_processed",
                    alerts=done.alerts,
                    signals=done.signals,
                    recipients=done.recipients,
                )
            if not done.alerts or done.alerts + done.failed < self.process_batch:
                return total  # none left (or only failing ones, or another process's)
            await asyncio.sleep(0)  # requests arriving meanwhile go first

    async def _process_forever(self) -> None:
        while True:
            stopping = self._stopping.is_set()  # then one last round, at once
            if not stopping:
                with contextlib.suppress(TimeoutError):  # the sweep
                    await asyncio.wait_for(self._work.wait(), self.sweep)
            self._work.clear()
            await self._after_the_burst()
            try:
                await self.process_pending()
            except Exception:  # the database: everything stays received, retried later
                log.exception("tradingview_processing_failed")
            if stopping:
                return

    async def _after_the_burst(self) -> None:
        """Return once no alert arrived or was committed for `quiet` seconds,
        `max_delay` from now at the latest, or at once when stopping."""
        loop = asyncio.get_running_loop()
        latest = loop.time() + self.max_delay
        while (due := min(self._last_activity + self.quiet, latest)) > loop.time():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), due - loop.time())
                return

    async def close(self) -> None:
        """Receive what is queued, stop the writer (new submissions:
        `WriterClosed`), then process what was received and stop the processor."""
        await self.writer.close()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._deadlines.clear()
        self._stopping.set()
        self._work.set()
        if self._processor is not None:
            await asyncio.shield(self._processor)  # a cancelled caller does not stop it


def _relay(answer: asyncio.Future[bool], stored: asyncio.Future[bool]) -> None:
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
        log.info("tradingview_late_commit", duplicate=not stored.result())
