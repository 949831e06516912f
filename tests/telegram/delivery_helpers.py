"""Helpers of the delivery tests (`test_delivery.py`, `test_delivery_e2e.py`): chats and
fan-outs queued as the app queues them, the outbox rows read back, and running
delivery workers until the outbox is settled."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from sqlalchemy import select, update

from bot.delivery import DeliveryWorker
from storage import outbox
from storage.accounts import touch_chat
from storage.db import Database
from storage.models import Chat, Notification, OutboxMessage
from tests.helpers import eventually
from tests.telegram_server import SentMessage, TelegramServer, png_bytes

PNG = png_bytes(64, 48)
QUICK = {"poll_seconds": 0.05, "backoff_seconds": 0.05}


async def add_chats(db: Database, kinds: dict[int, str]) -> dict[int, int]:
    """Telegram chat id -> our Chat.id, for chats of the given kinds."""
    async with db.session() as session:
        return {
            external: (await touch_chat(session, "telegram", str(external), kind=kind)).id
            for external, kind in kinds.items()
        }


async def fan_out(
    db: Database,
    key: str,
    text: str,
    chat_ids: Iterable[int],
    image: bytes | None = None,
    file_ids: dict | None = None,
) -> None:
    """One notification to `chat_ids`, queued as the app queues it, with the
    platforms' ids of its image if given."""
    async with db.session() as session:
        notification = await outbox.create_notification(
            session,
            key,
            "broadcast",
            {"text": text},
            image=image,
            image_name="chart.png" if image else None,
        )
        assert notification is not None
        if file_ids:
            await session.execute(
                update(Notification)
                .where(Notification.id == notification)
                .values(file_ids=file_ids)
            )
        await outbox.enqueue(session, notification, list(chat_ids))


async def outbox_rows(db: Database) -> dict[int, list[OutboxMessage]]:
    """Telegram chat id -> its outbox rows, in queue order."""
    async with db.session() as session:
        found = await session.execute(
            select(OutboxMessage, Chat.external_id)
            .join(Chat, Chat.id == OutboxMessage.chat_id)
            .order_by(OutboxMessage.id)
        )
        by_chat: dict[int, list[OutboxMessage]] = {}
        for row, external in found.all():
            by_chat.setdefault(int(external), []).append(row)
        return by_chat


async def deliver_all(workers: list[DeliveryWorker], db: Database, timeout: float = 20) -> None:  # noqa: ASYNC109
    """Run `workers` concurrently (as `App.run` runs one) until no row is pending or
    being sent, then stop them the graceful way."""
    stop = asyncio.Event()
    tasks = [asyncio.create_task(worker.run(stop)) for worker in workers]
    try:
        await eventually(lambda: _settled(db), timeout, "the outbox to be delivered")
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 30)


async def _settled(db: Database) -> bool:
    """No outbox row is pending or being sent."""
    rows = await outbox_rows(db)
    return not any(r.status in ("pending", "sending") for chat in rows.values() for r in chat)


def the_one(server: TelegramServer, chat: int) -> SentMessage:
    messages = server.sent_to(chat)
    assert len(messages) == 1, (chat, [m.plain for m in messages])
    return messages[0]
