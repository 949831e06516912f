"""The delivery outbox: events (`Notification`) and one row per recipient
(`OutboxMessage`), written in the transaction that decided them, then claimed
and sent by `bot.delivery`.

Claiming is one UPDATE … WHERE id IN (SELECT … LIMIT n [FOR UPDATE SKIP LOCKED])
RETURNING, taking only the oldest unfinished row of each chat (so a chat's
messages go out in order, whatever retries happen in between): on PostgreSQL, workers in several processes take disjoint rows
without waiting for each other; SQLite runs writers one at a time, so the same
statement is atomic there too. A claimed row carries a lease (`claimed_until`):
if its worker dies before recording the send, the row becomes claimable again
when the lease runs out.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from storage.db import dialect_insert
from storage.models import Chat, Notification, OutboxMessage, utcnow

ERROR_LENGTH = 500


async def create_notification(
    session: AsyncSession,
    key: str,
    kind: str,
    payload: dict,
    image: bytes | None = None,
    image_name: str | None = None,
) -> int | None:
    """Store the event named `key`; None when it already exists (decided earlier
    or by another process), so the caller must not fan it out again."""
    statement = (
        dialect_insert(session, Notification)
        .values(
            key=key,
            kind=kind,
            payload=payload,
            image=image,
            image_name=image_name,
            file_ids={},
            created_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(Notification.id)
    )
    return (await session.execute(statement)).scalar_one_or_none()


async def enqueue(session: AsyncSession, notification_id: int, chat_ids: Iterable[int]) -> int:
    """One pending row per chat (a chat listed twice gets one). Returns rows added."""
    rows = [
        {
            "notification_id": notification_id,
            "chat_id": chat_id,
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": utcnow(),
            "created_at": utcnow(),
        }
        for chat_id in dict.fromkeys(chat_ids)
    ]
    if not rows:
        return 0
    statement = (
        dialect_insert(session, OutboxMessage)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["notification_id", "chat_id"])
        .returning(OutboxMessage.id)
    )
    return len((await session.execute(statement)).all())


@dataclass(frozen=True, slots=True)
class Claimed:
    """A claimed outbox row with what is needed to send it."""

    id: int
    attempts: int  # including this one
    chat_id: int
    platform: str
    chat_external_id: str
    chat_kind: str
    chat_language: str | None
    notification_id: int
    kind: str
    payload: dict
    image: bytes | None
    image_name: str | None
    file_ids: dict


async def claim(
    session: AsyncSession,
    worker: str,
    limit: int,
    lease: timedelta,
    platforms: Iterable[str] | None = None,
    now: datetime | None = None,
) -> list[Claimed]:
    """Claim up to `limit` due rows (oldest first) for `worker` for `lease`."""
    now = now or utcnow()
    earlier = aliased(OutboxMessage)
    due = select(OutboxMessage.id).where(
        or_(
            and_(OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= now),
            and_(OutboxMessage.status == "sending", OutboxMessage.claimed_until < now),
        ),
        # First in, first out per chat: a row waits while an earlier one to the
        # same chat is unfinished (waiting for its retry, or being sent).
        ~exists().where(
            earlier.chat_id == OutboxMessage.chat_id,
            earlier.id < OutboxMessage.id,
            earlier.status.in_(("pending", "sending")),
        ),
    )
    if platforms is not None:
        due = due.join(Chat, Chat.id == OutboxMessage.chat_id).where(
            Chat.platform.in_(list(platforms))
        )
    due = due.order_by(OutboxMessage.id).limit(limit)
    if session.bind.dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True, of=OutboxMessage)
    claimed = (
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(due.scalar_subquery()))
            .values(
                status="sending",
                claimed_by=worker,
                claimed_until=now + lease,
                attempts=OutboxMessage.attempts + 1,
            )
            .returning(OutboxMessage.id)
        )
    ).scalars()
    ids = list(claimed)
    if not ids:
        return []
    rows = await session.execute(
        select(OutboxMessage, Chat, Notification)
        .join(Chat, Chat.id == OutboxMessage.chat_id)
        .join(Notification, Notification.id == OutboxMessage.notification_id)
        .where(OutboxMessage.id.in_(ids))
        .order_by(OutboxMessage.id)
    )
    return [
        Claimed(
            id=o.id,
            attempts=o.attempts,
            chat_id=c.id,
            platform=c.platform,
            chat_external_id=c.external_id,
            chat_kind=c.kind,
            chat_language=c.language,
            notification_id=n.id,
            kind=n.kind,
            payload=dict(n.payload or {}),
            image=n.image,
            image_name=n.image_name,
            file_ids=dict(n.file_ids or {}),
        )
        for o, c, n in rows
    ]


async def mark_sent(
    session: AsyncSession, outbox_id: int, worker: str, platform_message_id: str
) -> bool:
    """Record the send. Only the worker holding the claim may (a row whose lease
    ran out and was re-claimed belongs to the new claimant)."""
    result = await session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.id == outbox_id,
            OutboxMessage.status == "sending",
            OutboxMessage.claimed_by == worker,
        )
        .values(
            status="sent",
            sent_at=utcnow(),
            platform_message_id=platform_message_id,
            claimed_until=None,
            error=None,
        )
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


async def mark_retry(
    session: AsyncSession,
    outbox_id: int,
    worker: str,
    delay: timedelta,
    error: str,
    *,
    refund: bool = False,
) -> None:
    """Back to pending, due again after `delay`. `refund`: the attempt does not
    count towards the limit (a rate limit or a wait is not a failure)."""
    await session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.id == outbox_id,
            OutboxMessage.claimed_by == worker,
            OutboxMessage.status == "sending",
        )
        .values(
            status="pending",
            next_attempt_at=utcnow() + delay,
            claimed_until=None,
            error=error[:ERROR_LENGTH],
            attempts=OutboxMessage.attempts - (1 if refund else 0),
        )
    )


async def mark_failed(session: AsyncSession, outbox_id: int, worker: str, error: str) -> None:
    await session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.id == outbox_id,
            OutboxMessage.claimed_by == worker,
            OutboxMessage.status == "sending",
        )
        .values(status="failed", claimed_until=None, error=error[:ERROR_LENGTH])
    )


async def deactivate_chat(session: AsyncSession, chat_id: int, reason: str) -> int:
    """The platform says the bot cannot write here any more (blocked, kicked,
    channel deleted): the chat becomes inactive, so its alarms and follows stop
    producing messages, and its unsent rows are dropped. Returns rows dropped."""
    await session.execute(update(Chat).where(Chat.id == chat_id).values(active=False))
    result = await session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.chat_id == chat_id,
            OutboxMessage.status.in_(("pending", "sending")),
        )
        .values(status="dropped", claimed_until=None, error=reason[:ERROR_LENGTH])
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def remember_file_id(
    session: AsyncSession, notification_id: int, platform: str, file_id: str
) -> None:
    """Keep the platform's id of the uploaded image so later sends reuse it."""
    notification = await session.get(Notification, notification_id)
    if notification is not None and platform not in (notification.file_ids or {}):
        notification.file_ids = {**(notification.file_ids or {}), platform: file_id}


async def queue_depth(session: AsyncSession) -> dict[str, int]:
    """Rows per status (for /admin and the metrics)."""
    query = select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
    return {status: int(n) for status, n in (await session.execute(query)).all()}
