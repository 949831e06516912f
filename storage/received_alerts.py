"""Webhook alerts as received, before they are processed (`ReceivedAlert`): the
TradingView webhook's inbox.

The route's answer waits only for `receive` (one multi-row INSERT per batch);
`handlers.tradingview_store` then `take`s the oldest unprocessed rows (marking
them processed) and, in the same transaction, writes their signals and outbox
rows, so each alert is processed once even if the process dies in between (its
transaction rolls back: the rows are taken again, at the latest at the next
start). On PostgreSQL the take skips locked rows (`FOR UPDATE SKIP LOCKED`):
processors in several processes take disjoint rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import dialect_insert
from storage.models import ReceivedAlert, utcnow

ERROR_LENGTH = 500


@dataclass(frozen=True, slots=True)
class Taken:
    """An alert taken for processing, locked by this transaction until it ends."""

    id: int
    key: str
    alert: dict


async def receive(session: AsyncSession, alerts: Sequence[tuple[str, dict]]) -> set[str]:
    """Store the (key, alert record) pairs whose key was never received; the new
    keys. A key already stored (an earlier batch, another process) or listed
    twice is stored once."""
    wanted: dict[str, dict] = {}
    for key, alert in alerts:
        wanted.setdefault(key, alert)  # the first of a key wins, in its position
    if not wanted:
        return set()
    # Arrival order, which the ids keep: chats receive the alerts in that order.
    # (Not key order, unlike the other batch inserts: two processes could then
    # take two keys' index locks in opposite orders, but only when both receive
    # the same alerts at once; PostgreSQL ends such a deadlock by failing one
    # transaction, whose alerts the group commit then writes one by one.)
    rows = [{"key": key, "alert": alert} for key, alert in wanted.items()]
    statement = (
        dialect_insert(session, ReceivedAlert.__table__)
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(ReceivedAlert.key)
    )
    return set((await session.execute(statement, rows)).scalars())


async def take(session: AsyncSession, limit: int, ids: Sequence[int] | None = None) -> list[Taken]:
    """The oldest `limit` unprocessed alerts (of `ids`, when given), oldest
    first, marked processed by this transaction: the caller writes what
    processing them means in the same transaction, and a rollback puts them
    back. Concurrent transactions take disjoint alerts: PostgreSQL skips the
    rows another one holds, and SQLite, whose UPDATE takes the write lock
    first, runs them one after the other."""
    due = select(ReceivedAlert.id).where(ReceivedAlert.processed_at.is_(None))
    if ids is not None:
        due = due.where(ReceivedAlert.id.in_(list(ids)))
    due = due.order_by(ReceivedAlert.id).limit(limit)
    if session.bind.dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    taken = await session.execute(
        update(ReceivedAlert)
        .where(ReceivedAlert.id.in_(due.scalar_subquery()))
        .values(processed_at=utcnow())
        .returning(ReceivedAlert.id, ReceivedAlert.key, ReceivedAlert.alert)
    )
    return sorted((Taken(**row._mapping) for row in taken), key=lambda c: c.id)


async def record_failure(
    session: AsyncSession, alert_id: int, error: str, max_attempts: int
) -> bool:
    """Count a failed processing attempt; at `max_attempts` the alert is given up
    (processed, with `error`). True when it was given up."""
    row = (
        await session.execute(
            update(ReceivedAlert)
            .where(ReceivedAlert.id == alert_id, ReceivedAlert.processed_at.is_(None))
            .values(attempts=ReceivedAlert.attempts + 1)
            .returning(ReceivedAlert.attempts)
        )
    ).scalar_one_or_none()
    if row is None or row < max_attempts:
        return False
    await session.execute(
        update(ReceivedAlert)
        .where(ReceivedAlert.id == alert_id)
        .values(processed_at=utcnow(), error=error[:ERROR_LENGTH])
    )
    return True


async def pending_count(session: AsyncSession) -> int:
    """Alerts received and not processed yet (for monitoring and tests)."""
    query = select(func.count()).where(ReceivedAlert.processed_at.is_(None))
    return int((await session.execute(query)).scalar_one())


async def purge(session: AsyncSession, before: datetime) -> int:
    """Retention: delete alerts processed before `before` (never unprocessed
    ones). A repeat of a purged alert is received again, but its notification
    key, kept forever, stops it from being sent twice."""
    result = await session.execute(delete(ReceivedAlert).where(ReceivedAlert.processed_at < before))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
