"""Storing checked TradingView alerts, a whole batch in one transaction with
multi-row statements: the write of the webhook's group commit
(`handlers/group_commit.py`; parsing and checks are in `handlers/tradingview.py`).

For a batch, in one transaction, one statement per step whatever its size:

1. ``INSERT INTO signals … ON CONFLICT DO NOTHING RETURNING``: one signal per
   strategy, market and candle; the first alert of a candle in the batch owns it
   (as when alerts arrive one after the other). A repeat never gets a signal:
   the same key means the same candle, whose signal is stored already (signals
   are never deleted).
2. ``INSERT INTO notifications … ON CONFLICT (key) DO NOTHING RETURNING``, each
   with its payload (the signal id in it): the key decides what is new; a repeat
   from an earlier batch or another process gets nothing back, and a key twice
   in the batch is inserted once, for the first of them.
3. Followers, looked up once per (symbol, timeframe, alert strategy).
4. ``INSERT INTO outbox … ON CONFLICT DO NOTHING RETURNING``: one row per
   recipient, in batch order (a chat receives the alerts in their arrival order).

Each step is a storage function taking many rows (`storage.signals.record_signals`,
`storage.outbox.create_notifications`, `storage.outbox.enqueue_many`), which
insert in key order so that transactions of several processes take the
unique-index locks in the same order (no deadlock on PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from engine.strategies.base import Signal
from handlers.notify import with_late_chart
from handlers.signal_text import SignalView
from storage import follows as follow_store
from storage import outbox
from storage import signals as signal_store
from storage.db import Database
from storage.outbox import NewNotification


@dataclass(frozen=True, slots=True)
class Checked:
    """An alert checked against the market, ready to store (see `tradingview.check`)."""

    key: str  # the notification key, `Alert.key()`
    signal: Signal  # stored with strategy ``tradingview`` or ``tv:<name>``
    alert_strategy: str  # followers of ``tradingview`` or of this name receive it


@dataclass(frozen=True, slots=True)
class Accepted:
    signal_id: int | None  # None when this alert was already processed
    recipients: int


async def store_alerts(db: Database, alerts: Sequence[Checked]) -> list[Accepted]:
    """Store `alerts` in one transaction; one answer per alert, in order, returned
    only after the commit. A repeat (an earlier batch, another process, or the
    same key earlier in this batch) is `Accepted(None, 0)` and changes nothing."""
    async with db.session() as session:
        return await _store(session, alerts)


async def _store(session: AsyncSession, alerts: Sequence[Checked]) -> list[Accepted]:
    first: dict[str, int] = {}  # key -> index of its first alert in the batch
    for index, alert in enumerate(alerts):
        first.setdefault(alert.key, index)
    owners: dict[tuple, int] = {}  # signal's unique key -> the first alert with it
    for i in first.values():
        owners.setdefault(signal_store.unique_key(alerts[i].signal), i)

    new = await signal_store.record_signals(
        session, [alerts[i].signal for i in owners.values()], "tradingview"
    )
    signal_ids = {owners[signal_store.unique_key(n.signal)]: n.id for n in new}
    notification_ids = await outbox.create_notifications(
        session, [_notification(key, alerts[i], signal_ids.get(i)) for key, i in first.items()]
    )

    audiences: dict[tuple[str, str, str], list[int]] = {}
    deliveries: list[tuple[int, int]] = []
    for key, i in first.items():  # batch order: each chat receives them in that order
        if key not in notification_ids:
            continue  # a repeat: processed once, earlier
        alert = alerts[i]
        market = (alert.signal.symbol, alert.signal.timeframe, alert.alert_strategy)
        if market not in audiences:
            audiences[market] = await follow_store.followers(
                session, market[0], market[1], ("tradingview", alert.alert_strategy)
            )
        deliveries.extend((notification_ids[key], chat) for chat in audiences[market])
    recipients = await outbox.enqueue_many(session, deliveries)

    return [
        Accepted(signal_ids.get(i), recipients[notification_ids[alert.key]])
        if first[alert.key] == i and alert.key in notification_ids
        else Accepted(None, 0)
        for i, alert in enumerate(alerts)
    ]


def _notification(key: str, alert: Checked, signal_id: int | None) -> NewNotification:
    status = signal_store.initial_status(alert.signal)
    view = SignalView.of_signal(signal_id or 0, alert.signal, status, "tradingview")
    # The chart is drawn by the delivery worker: the webhook answers first.
    payload = with_late_chart(view.payload(), alert.signal.symbol, alert.signal.timeframe)
    return NewNotification(key, "signal", payload)
