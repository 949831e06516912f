"""Chats' alarms in storage.

An alarm is ``active`` until it fires (``fired``, once) or its chat deletes it
(``deleted``: kept, never shown again). Firing is one conditional UPDATE
(`fire`): however many processes see the same price, exactly one of them turns
the alarm from ``active`` to ``fired``, and only that one writes the message, in
the same transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Alarm, Chat, utcnow

ALARM_KINDS = ("above", "below", "cross", "change", "indicator")
ID_CHUNK = 500  # ids per IN (...) query: well within every database's parameter limit


@dataclass(frozen=True, slots=True)
class NewAlarm:
    """What a chat asks for (see `storage.models.Alarm` for the fields)."""

    symbol: str
    kind: str
    level: float
    timeframe: str | None = None
    indicator: str | None = None
    direction: str | None = None
    reference: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in ALARM_KINDS:
            raise ValueError(f"unknown alarm kind {self.kind!r}")


async def create_alarm(
    session: AsyncSession, chat_id: int, user_id: int | None, alarm: NewAlarm, limit: int
) -> Alarm | None:
    """Store `alarm` for the chat; None when the chat already has `limit` active
    alarms. The chat's row is written first, so two requests of one chat run one
    after the other (a row lock on PostgreSQL, the write lock on SQLite) and the
    count they check cannot go stale before the insert."""
    await session.execute(update(Chat).where(Chat.id == chat_id).values(active=Chat.active))
    if await count_active(session, chat_id) >= limit:
        return None
    row = Alarm(
        chat_id=chat_id,
        created_by=user_id,
        symbol=alarm.symbol,
        kind=alarm.kind,
        level=alarm.level,
        timeframe=alarm.timeframe,
        indicator=alarm.indicator,
        direction=alarm.direction,
        reference=alarm.reference,
        status="active",
        created_at=utcnow(),
    )
    session.add(row)
    await session.flush()
    return row


async def count_active(session: AsyncSession, chat_id: int) -> int:
    query = (
        select(func.count())
        .select_from(Alarm)
        .where(Alarm.chat_id == chat_id, Alarm.status == "active")
    )
    return int((await session.execute(query)).scalar_one())


async def count_alarms(session: AsyncSession, chat_id: int) -> int:
    """The chat's alarms that are not deleted (active and fired)."""
    query = (
        select(func.count())
        .select_from(Alarm)
        .where(Alarm.chat_id == chat_id, Alarm.status != "deleted")
    )
    return int((await session.execute(query)).scalar_one())


async def chat_alarms(session: AsyncSession, chat_id: int, fired_limit: int = 10) -> list[Alarm]:
    """The chat's active alarms (oldest first), then its `fired_limit` most
    recently fired ones (newest first). Deleted alarms are not listed."""
    active = select(Alarm).where(Alarm.chat_id == chat_id, Alarm.status == "active")
    fired = (
        select(Alarm)
        .where(Alarm.chat_id == chat_id, Alarm.status == "fired")
        .order_by(Alarm.fired_at.desc(), Alarm.id.desc())
        .limit(fired_limit)
    )
    rows = list((await session.execute(active.order_by(Alarm.id))).scalars())
    return rows + list((await session.execute(fired)).scalars())


async def get_alarm(session: AsyncSession, chat_id: int, alarm_id: int) -> Alarm | None:
    """The chat's alarm `alarm_id` (another chat's alarm and a deleted one: None)."""
    query = select(Alarm).where(
        Alarm.id == alarm_id, Alarm.chat_id == chat_id, Alarm.status != "deleted"
    )
    return (await session.execute(query)).scalar_one_or_none()


async def delete_alarm(session: AsyncSession, chat_id: int, alarm_id: int) -> Alarm | None:
    """Delete the chat's alarm `alarm_id` (active or fired). Returns it as it was
    before (its `status` still the old one), or None when the chat has no such
    alarm (another chat's alarm included)."""
    row = await get_alarm(session, chat_id, alarm_id)
    if row is None:
        return None
    result = await session.execute(
        update(Alarm)
        .where(Alarm.id == alarm_id, Alarm.status != "deleted")
        .values(status="deleted")
        .execution_options(synchronize_session=False)  # `row` keeps the old values
    )
    return row if result.rowcount == 1 else None  # type: ignore[attr-defined]


async def delete_all(session: AsyncSession, chat_id: int) -> tuple[int, list[int]]:
    """Delete every alarm of the chat. Returns how many were deleted and the ids
    of those that were active (the ones a running alarm book must forget)."""
    active = select(Alarm.id).where(Alarm.chat_id == chat_id, Alarm.status == "active")
    active_ids = list((await session.execute(active)).scalars())
    result = await session.execute(
        update(Alarm)
        .where(Alarm.chat_id == chat_id, Alarm.status != "deleted")
        .values(status="deleted")
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0), active_ids  # type: ignore[attr-defined]


def _active(*columns: Any) -> Select[Any]:
    """The active alarms of active chats (a deactivated chat's alarms stay active
    in storage and come back when the chat does)."""
    return (
        select(*columns)
        .join(Chat, Chat.id == Alarm.chat_id)
        .where(Alarm.status == "active", Chat.active.is_(True))
    )


async def active_alarm_ids(session: AsyncSession) -> set[int]:
    """The ids of `active_alarms` (cheap: what a running process compares with
    the alarms it knows)."""
    return set((await session.execute(_active(Alarm.id))).scalars())


async def active_alarms(session: AsyncSession, ids: Iterable[int] | None = None) -> list[Alarm]:
    """Every active alarm of an active chat, by id (the alarm book at start-up);
    with `ids`, only those of them (read `ID_CHUNK` ids per query).
    A deactivated chat's alarms stay active in storage and come back when the
    chat does."""
    if ids is None:
        query = _active(Alarm).order_by(Alarm.id)
        return list((await session.execute(query)).scalars())
    wanted = sorted(set(ids))
    rows: list[Alarm] = []
    for start in range(0, len(wanted), ID_CHUNK):
        chunk = wanted[start : start + ID_CHUNK]
        query = _active(Alarm).where(Alarm.id.in_(chunk)).order_by(Alarm.id)
        rows += (await session.execute(query)).scalars()
    return rows


async def fire(
    session: AsyncSession,
    alarm_id: int,
    price: float,
    *,
    value: float | None = None,
    at: datetime | None = None,
) -> bool:
    """Mark the alarm fired, if it is still active and its chat is active. True
    for exactly one caller however many try at once (on PostgreSQL the second
    UPDATE waits for the first to commit, then finds the alarm no longer active);
    the caller writes the notification in the same transaction."""
    active_chat = select(Chat.id).where(Chat.id == Alarm.chat_id, Chat.active.is_(True))
    result = await session.execute(
        update(Alarm)
        .where(Alarm.id == alarm_id, Alarm.status == "active", active_chat.exists())
        .values(
            status="fired",
            fired_at=at or utcnow(),
            fired_price=price,
            fired_value=value,
        )
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1  # type: ignore[attr-defined]
