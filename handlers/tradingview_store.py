"""Storing TradingView alerts in two steps (parsing and checks are in
`handlers/tradingview.py`, the scheduling of both steps in `tradingview_intake.py`):

- `receive_alerts`: what the webhook's answer waits for. The checked alerts of a
  batch are written as received (`storage.received_alerts`), one multi-row
  INSERT keyed by the alert's content: a repeat changes nothing.
- `process_received`: soon after, the oldest unprocessed alerts become signals
  and outbox rows, and are marked processed, all in one transaction.

Processing a batch, in one transaction, one statement per step whatever its size:

1. ``INSERT INTO signals … ON CONFLICT DO NOTHING RETURNING``: one signal per
   strategy, market and candle; the first alert of a candle in the batch owns it
   (as when alerts arrive one after the other). A repeat never gets a signal:
   the same key means the same candle, whose signal is stored already (signals
   are never deleted).
2. ``INSERT INTO notifications … ON CONFLICT (key) DO NOTHING RETURNING``, each
   with its payload (the signal id in it): the key decides what is new, so even
   an alert received again after its received row was purged is sent once.
3. Followers, looked up once per (symbol, timeframe, alert strategy).
4. ``INSERT INTO outbox … ON CONFLICT DO NOTHING RETURNING``: one row per
   recipient, in arrival order (a chat receives the alerts in that order).

Each step is a storage function taking many rows (`storage.signals.record_signals`,
`storage.outbox.create_notifications`, `storage.outbox.enqueue_many`), which
insert in key order so that transactions of several processes take the
unique-index locks in the same order (no deadlock on PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import astuple, dataclass, fields

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from engine.strategies.base import Signal
from handlers.notify import with_late_chart
from handlers.signal_text import SignalView
from storage import follows as follow_store
from storage import outbox, received_alerts
from storage import signals as signal_store
from storage.db import Database
from storage.outbox import NewNotification

log = structlog.get_logger(__name__)


_SIGNAL_FIELDS = tuple(field.name for field in fields(Signal))
MAX_ATTEMPTS = 5  # failed processing attempts after which an alert is given up


@dataclass(frozen=True, slots=True)
class Checked:
    """An alert checked against the market, ready to store (see `tradingview.check`)."""

    key: str  # the alert's content, `Alert.key()`: received, and notified, once
    signal: Signal  # stored with strategy ``tradingview`` or ``tv:<name>``

    @property
    def alert_strategy(self) -> str:
        """The alert's own strategy name: followers of ``tradingview`` or of
        this name receive it (kept in the signal's factors by `check`)."""
        return str(self.signal.factors["alert_strategy"])

    def record(self) -> dict:
        """What `storage.received_alerts` keeps of it (JSON), read by `of_record`."""
        return {name: getattr(self.signal, name) for name in _SIGNAL_FIELDS}

    @classmethod
    def of_record(cls, key: str, record: dict) -> Checked:
        return cls(key, Signal(**record))


@dataclass(frozen=True, slots=True)
class Processed:
    """What one `process_received` call did."""

    alerts: int  # processed (each once: its signal and outbox rows are written)
    signals: int  # new signals among them (a repeat of a sent alert has none)
    recipients: int  # outbox rows queued
    failed: int = 0  # alerts whose processing failed this time (retried later)
    given_up: int = 0  # of those, alerts that failed `MAX_ATTEMPTS` times: kept, not retried

    def __add__(self, other: Processed) -> Processed:
        return Processed(*(a + b for a, b in zip(astuple(self), astuple(other), strict=True)))


async def receive_alerts(db: Database, alerts: Sequence[Checked]) -> list[bool]:
    """Store `alerts` as received, in one transaction; for each alert, in order,
    whether it is new, returned only after the commit. A repeat (received in an
    earlier batch, by another process, or earlier in this batch) is False and
    changes nothing."""
    async with db.session() as session:
        new = await received_alerts.receive(session, [(a.key, a.record()) for a in alerts])
    answers = []
    for alert in alerts:
        answers.append(alert.key in new)
        new.discard(alert.key)  # the first of a key in the batch is the new one
    return answers


async def process_received(db: Database, limit: int) -> Processed:
    """Process up to `limit` received alerts, oldest first, in one transaction:
    they are marked processed and their signals and outbox rows are written.
    `Processed(0, …)` when none is waiting. If that transaction fails, each alert
    is processed alone, so one bad alert cannot hold back the others; one that
    fails alone is retried by a later call, and given up (kept, with its error,
    and logged) after `MAX_ATTEMPTS` failures."""
    taken: list[received_alerts.Taken] = []
    try:
        return await _process(db, limit, taken)
    except Exception as error:
        if len(taken) <= 1:
            if taken:
                return await _failed(db, taken[0].id, error)
            raise  # taking failed: the database, not an alert
        log.warning(
            "tradingview_batch_failed",
            alerts=len(taken),
            error=f"{type(error).__name__}: {error}"[:300],
        )
    alone = Processed(0, 0, 0)
    for alert in taken:
        try:
            alone += await _process(db, 1, [], ids=[alert.id])
        except Exception as error:
            alone += await _failed(db, alert.id, error)
    return alone


async def _process(
    db: Database, limit: int, taken: list[received_alerts.Taken], ids: list[int] | None = None
) -> Processed:
    """Take up to `limit` alerts (of `ids`) and store them, in one transaction;
    `taken` receives the alerts taken (known to the caller if it fails)."""
    async with db.session() as session:
        taken.extend(await received_alerts.take(session, limit, ids))
        return await _store(session, [Checked.of_record(t.key, t.alert) for t in taken])


async def _failed(db: Database, alert_id: int, error: Exception) -> Processed:
    reason = f"{type(error).__name__}: {error}"
    async with db.session() as session:
        given_up = await received_alerts.record_failure(session, alert_id, reason, MAX_ATTEMPTS)
    if given_up:
        log.error("tradingview_alert_given_up", alert_id=alert_id, error=reason[:300])
    else:
        log.warning("tradingview_alert_failed", alert_id=alert_id, error=reason[:300])
    return Processed(0, 0, 0, failed=1, given_up=int(given_up))


async def _store(session: AsyncSession, alerts: Sequence[Checked]) -> Processed:
    """Signals, notifications and outbox rows of `alerts` (distinct keys: the
    received alerts' table is keyed by them), in this transaction."""
    owners: dict[tuple, int] = {}  # signal's unique key -> the first alert with it
    for i, alert in enumerate(alerts):
        owners.setdefault(signal_store.unique_key(alert.signal), i)
    new = await signal_store.record_signals(
        session, [alerts[i].signal for i in owners.values()], "tradingview"
    )
    signal_ids = {owners[signal_store.unique_key(n.signal)]: n.id for n in new}
    notification_ids = await outbox.create_notifications(
        session, [_notification(a, signal_ids.get(i)) for i, a in enumerate(alerts)]
    )

    audiences: dict[tuple[str, str, str], list[int]] = {}
    deliveries: list[tuple[int, int]] = []
    for alert in alerts:  # arrival order: each chat receives them in that order
        if alert.key not in notification_ids:
            continue  # sent once already (received again after its row was purged)
        market = (alert.signal.symbol, alert.signal.timeframe, alert.alert_strategy)
        if market not in audiences:
            audiences[market] = await follow_store.followers(
                session, market[0], market[1], ("tradingview", alert.alert_strategy)
            )
        deliveries.extend((notification_ids[alert.key], chat) for chat in audiences[market])
    recipients = await outbox.enqueue_many(session, deliveries)
    return Processed(len(alerts), len(new), sum(recipients.values()))


def _notification(alert: Checked, signal_id: int | None) -> NewNotification:
    status = signal_store.initial_status(alert.signal)
    view = SignalView.of_signal(signal_id or 0, alert.signal, status, "tradingview")
    # The chart is drawn by the delivery worker: the webhook answers first.
    payload = with_late_chart(view.payload(), alert.signal.symbol, alert.signal.timeframe)
    return NewNotification(alert.key, "signal", payload)
