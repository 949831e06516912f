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

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from storage.db import OUTBOX_ANALYZE, OUTBOX_QUEUED, dialect_insert
from storage.models import Chat, Notification, OutboxMessage, utcnow

ERROR_LENGTH = 500
UNFINISHED = ("pending", "sending")  # statuses of rows still to be sent
FINISHED = ("sent", "failed", "dropped")
ANALYZE_AFTER_ROWS = 1_000  # rows queued at once after which PostgreSQL's statistics are renewed


@dataclass(frozen=True, slots=True)
class NewNotification:
    """An event to store (see `create_notifications`)."""

    key: str  # names the event: the same key is stored once, ever
    kind: str
    payload: dict
    image: bytes | None = None
    image_name: str | None = None


async def create_notifications(
    session: AsyncSession, events: Sequence[NewNotification]
) -> dict[str, int]:
    """Store the events whose key is new (not stored earlier nor by another
    process, first of a key in `events`); returns their ids by key. An event
    missing from the answer was decided before: the caller must not fan it out."""
    wanted: dict[str, NewNotification] = {}
    for event in events:
        wanted.setdefault(event.key, event)  # the first of a key wins
    if not wanted:
        return {}
    now = utcnow()
    rows = [
        {
            "key": key,
            "kind": event.kind,
            "payload": event.payload,
            "image": event.image,
            "image_name": event.image_name,
            "file_ids": {},
            "created_at": now,
        }
        for key, event in sorted(wanted.items())  # one lock order for every process
    ]
    statement = (
        dialect_insert(session, Notification.__table__)
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(Notification.key, Notification.id)
    )
    return {key: nid for key, nid in await session.execute(statement, rows)}


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
    created = await create_notifications(
        session, [NewNotification(key, kind, payload, image, image_name)]
    )
    return created.get(key)


async def enqueue_many(
    session: AsyncSession, deliveries: Iterable[tuple[int, int]]
) -> Counter[int]:
    """One pending row per (notification id, chat id), in the order given (a
    pair listed twice gets one). Returns the rows added per notification. Once
    the transaction commits, `Database.outbox_bell` wakes this process's worker."""
    now = utcnow()
    rows = [
        {
            "notification_id": notification_id,
            "chat_id": chat_id,
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        }
        for notification_id, chat_id in dict.fromkeys(deliveries)
    ]
    if not rows:
        return Counter()
    statement = (
        dialect_insert(session, OutboxMessage.__table__)
        .on_conflict_do_nothing(index_elements=["notification_id", "chat_id"])
        .returning(OutboxMessage.notification_id)
    )
    added = Counter(nid for (nid,) in await session.execute(statement, rows))
    if added:
        session.info[OUTBOX_QUEUED] = True
    if session.bind.dialect.name == "postgresql" and len(rows) >= ANALYZE_AFTER_ROWS:
        # A burst into a table the planner still believes small made the claim
        # query join it with `chats` by a nested loop over both (seconds per claim
        # for 10,000 rows) until autovacuum analysed it: fresh statistics, renewed
        # by `Database.session` once this transaction commits (ANALYZE here would
        # hold its lock until then, making other enqueuing transactions wait).
        session.info[OUTBOX_ANALYZE] = True
    return added


async def enqueue(session: AsyncSession, notification_id: int, chat_ids: Iterable[int]) -> int:
    """One pending row per chat (a chat listed twice gets one). Returns rows added."""
    added = await enqueue_many(session, ((notification_id, chat) for chat in chat_ids))
    return added[notification_id]


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
    has_image: bool  # the bytes are loaded only when needed: `image(...)`
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
            earlier.status.in_(UNFINISHED),
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
    # The columns `Claimed` needs, the notification's but not its image (a fan-out
    # to 10,000 chats would otherwise read the same picture 10,000 times).
    rows = await session.execute(
        select(
            OutboxMessage.id,
            OutboxMessage.attempts,
            OutboxMessage.chat_id,
            Chat.platform,
            Chat.external_id.label("chat_external_id"),
            Chat.kind.label("chat_kind"),
            Chat.language.label("chat_language"),
            Notification.id.label("notification_id"),
            Notification.kind,
            Notification.payload,
            Notification.image.is_not(None).label("has_image"),
            Notification.image_name,
            Notification.file_ids,
        )
        .join(Chat, Chat.id == OutboxMessage.chat_id)
        .join(Notification, Notification.id == OutboxMessage.notification_id)
        .where(OutboxMessage.id.in_(ids))
        .order_by(OutboxMessage.id)
    )
    return [
        Claimed(
            **{
                **row._mapping,
                "payload": dict(row.payload or {}),
                "has_image": bool(row.has_image),
                "file_ids": dict(row.file_ids or {}),
            }
        )
        for row in rows
    ]


async def image(session: AsyncSession, notification_id: int) -> bytes | None:
    """The notification's picture (PNG bytes), if it has one."""
    query = select(Notification.image).where(Notification.id == notification_id)
    return (await session.execute(query)).scalar_one_or_none()


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
            OutboxMessage.status.in_(UNFINISHED),
        )
        .values(status="dropped", claimed_until=None, error=reason[:ERROR_LENGTH])
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def remember_file_id(
    session: AsyncSession, notification_id: int, platform: str, file_id: str
) -> None:
    """Keep the platform's id of the uploaded image so later sends reuse it (it
    replaces one the platform refused, which made the worker upload it again)."""
    query = select(Notification.file_ids).where(Notification.id == notification_id)
    found = (await session.execute(query)).one_or_none()  # not the picture: only its ids
    if found is not None and (found.file_ids or {}).get(platform) != file_id:
        await session.execute(
            update(Notification)
            .where(Notification.id == notification_id)
            .values(file_ids={**(found.file_ids or {}), platform: file_id})
        )


async def attach_image(
    session: AsyncSession, notification_id: int, image: bytes, image_name: str
) -> bool:
    """Give a notification queued without its picture the one drawn since; False
    if it already has one (another worker was first)."""
    result = await session.execute(
        update(Notification)
        .where(Notification.id == notification_id, Notification.image.is_(None))
        .values(image=image, image_name=image_name)
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


async def purge(session: AsyncSession, before: datetime) -> tuple[int, int]:
    """Retention: delete the finished rows (sent, failed, dropped) queued before
    `before`, and drop the pictures of the notifications of that age that have
    no unfinished row left. The notifications themselves stay (small): their
    keys keep an old event from ever being fanned out twice. Returns (rows
    deleted, pictures dropped)."""
    deleted = await session.execute(
        delete(OutboxMessage).where(
            OutboxMessage.status.in_(FINISHED), OutboxMessage.created_at < before
        )
    )
    unfinished = exists().where(
        OutboxMessage.notification_id == Notification.id,
        OutboxMessage.status.in_(UNFINISHED),
    )
    pictures = await session.execute(
        update(Notification)
        .where(Notification.created_at < before, Notification.image.is_not(None), ~unfinished)
        .values(image=None, file_ids={})
        .execution_options(synchronize_session=False)
    )
    return int(deleted.rowcount or 0), int(pictures.rowcount or 0)  # type: ignore[attr-defined]


async def queue_depth(session: AsyncSession) -> dict[str, int]:
    """Rows per status (for /admin and the metrics)."""
    query = select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
    return {status: int(n) for status, n in (await session.execute(query)).all()}
