"""The outbox worker's rules with a scripted platform (the real Telegram path is
tested end to end in tests/telegram): order, retry_after, backoff, blocked
chats, one upload per image, crash recovery; on both databases."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from sqlalchemy import insert, select, text, update

from bot.delivery import (
    ChatUnavailable,
    DeliveryWorker,
    Outgoing,
    RetryAfter,
    Sent,
    TransientError,
)
from handlers import jobs
from handlers.context import Services
from handlers.notify import with_late_chart
from storage import outbox
from storage.accounts import touch_chat
from storage.models import Chat, Notification, OutboxMessage
from tests.db_helpers import rows
from tests.helpers import png_size

PNG = b"\x89PNG\r\n\x1a\n" + b"0" * 100


@dataclass
class ScriptedPlatform:
    """A platform whose answers the test scripts: `faults[chat]` is a list of
    exceptions raised by the next sends to that chat."""

    platform: str = "test"
    faults: dict[str, list[Exception]] = field(default_factory=dict)
    delivered: list[tuple[str, str]] = field(default_factory=list)  # (chat, text)
    uploads: int = 0
    by_file_id: int = 0

    async def send(self, message: Outgoing) -> Sent:
        await asyncio.sleep(0)
        pending = self.faults.get(message.chat_external_id)
        if pending:
            raise pending.pop(0)
        self.delivered.append((message.chat_external_id, message.reply.text))
        if message.image is not None and message.file_id is None:
            self.uploads += 1
            return Sent(str(len(self.delivered)), file_id="file-1")
        if message.file_id:
            self.by_file_id += 1
        return Sent(str(len(self.delivered)))


async def queue(services: Services, key: str, chats: list[str], text: str, image=None) -> None:
    async with services.db.session() as session:
        ids = [(await touch_chat(session, "test", c, kind="private")).id for c in chats]
        nid = await outbox.create_notification(
            session, key, "broadcast", {"text": text}, image=image, image_name="c.png"
        )
        await outbox.enqueue(session, nid, ids)


async def statuses(services: Services) -> dict[int, str]:
    return {r.id: r.status for r in await rows(services.db, OutboxMessage)}


async def test_everything_is_delivered_once_in_order_per_chat(db_services):
    platform = ScriptedPlatform()
    for n in range(3):
        await queue(db_services, f"e{n}", ["a", "b"], f"message {n}")
    stats = await DeliveryWorker(db_services, [platform], batch=2).run_until_idle()
    assert stats.sent == 6
    for chat in ("a", "b"):
        assert [t for c, t in platform.delivered if c == chat] == [f"message {n}" for n in range(3)]
    assert set((await statuses(db_services)).values()) == {"sent"}


async def test_retry_after_is_honoured_exactly_and_keeps_the_order(db_services):
    platform = ScriptedPlatform(faults={"a": [RetryAfter(7)]})
    await queue(db_services, "e1", ["a"], "first")
    await queue(db_services, "e2", ["a"], "second")
    worker = DeliveryWorker(db_services, [platform])
    await worker.run_until_idle()
    assert platform.delivered == []  # both wait: the second must not overtake the first
    first = (await rows(db_services.db, OutboxMessage))[0]  # in queue order
    wait = first.next_attempt_at - outbox.utcnow()
    assert timedelta(seconds=6) < wait <= timedelta(seconds=7)
    assert first.attempts == 0  # a rate limit is not a failed attempt
    async with db_services.db.session() as session:  # 7 seconds later
        later = outbox.utcnow() + timedelta(seconds=8)
        claimed = await outbox.claim(session, "w", 10, timedelta(seconds=30), now=later)
    assert [c.payload["text"] for c in claimed] == ["first"]  # then "second", never before


async def test_transient_errors_back_off_then_fail_with_the_error(db_services):
    platform = ScriptedPlatform(faults={"a": [TransientError("502 Bad Gateway")] * 3})
    await queue(db_services, "e1", ["a"], "hello")
    worker = DeliveryWorker(db_services, [platform], max_attempts=3, backoff_seconds=0)
    for _ in range(3):
        await worker.run_until_idle()
    [row] = await rows(db_services.db, OutboxMessage)
    assert (row.status, row.attempts) == ("failed", 3)
    assert "502 Bad Gateway" in row.error


async def test_a_blocked_chat_is_deactivated_and_others_still_get_theirs(db_services):
    platform = ScriptedPlatform(faults={"a": [ChatUnavailable("Forbidden: bot was blocked")]})
    await queue(db_services, "e1", ["a", "b"], "one")
    await queue(db_services, "e2", ["a", "b"], "two")
    await DeliveryWorker(db_services, [platform]).run_until_idle()
    assert platform.delivered == [("b", "one"), ("b", "two")]
    async with db_services.db.session() as session:
        chat = (await session.execute(select(Chat).where(Chat.external_id == "a"))).scalar_one()
    assert not chat.active
    assert sorted((await statuses(db_services)).values()) == ["dropped", "dropped", "sent", "sent"]


async def test_an_image_is_uploaded_once_for_every_recipient(db_services):
    platform = ScriptedPlatform()
    await queue(db_services, "e1", [str(n) for n in range(20)], "chart", image=PNG)
    await DeliveryWorker(db_services, [platform], concurrency=8).run_until_idle()
    assert (platform.uploads, platform.by_file_id, len(platform.delivered)) == (1, 19, 20)


async def test_a_crash_mid_fan_out_resends_only_what_was_not_recorded(db_services):
    """A worker takes a batch and dies before recording any of it (the worst case):
    after the lease, a new worker delivers each of those rows once; rows the dead
    worker had recorded as sent are never sent again."""
    platform = ScriptedPlatform()
    await queue(db_services, "e1", [str(n) for n in range(10)], "alert")
    first = DeliveryWorker(db_services, [platform], batch=4, lease_seconds=0.2)
    await first.run_once()  # 4 sent and recorded
    async with db_services.db.session() as session:  # the next 4 claimed, then the crash
        await outbox.claim(session, "dead-worker", 4, timedelta(seconds=0.2))
    await asyncio.sleep(0.3)
    second = DeliveryWorker(db_services, [platform], lease_seconds=30)
    await second.run_until_idle()
    chats = [c for c, _ in platform.delivered]
    assert sorted(chats, key=int) == [str(n) for n in range(10)]  # each exactly once


async def test_a_running_worker_is_woken_by_a_commit_that_queues_rows(db_services):
    """No poll wait between queueing and sending: the commit rings the worker's
    bell (a rolled-back transaction does not). The poll interval here is 60 s."""
    platform = ScriptedPlatform()
    worker = DeliveryWorker(db_services, [platform], poll_seconds=60)
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    await asyncio.sleep(0.2)  # idle: waiting on the bell
    with pytest.raises(RuntimeError):
        async with db_services.db.session() as session:
            chat = await touch_chat(session, "test", "r", kind="private")
            nid = await outbox.create_notification(session, "rb", "broadcast", {"text": "no"})
            await outbox.enqueue(session, nid, [chat.id])
            raise RuntimeError("roll back")
    assert not db_services.db.outbox_bell._rung.is_set()
    delivered = asyncio.Event()
    original = platform.send

    async def send(message: Outgoing) -> Sent:
        sent = await original(message)
        delivered.set()
        return sent

    platform.send = send  # type: ignore[method-assign]
    await queue(db_services, "e1", ["a"], "now")
    await asyncio.wait_for(delivered.wait(), 5)  # woken, not polled (that takes 60 s)
    stop.set()
    await running
    assert platform.delivered == [("a", "now")]


async def test_a_chart_queued_for_later_is_drawn_once_and_uploaded_once(db_services):
    """A notification queued without its picture (a webhook cannot wait for one)
    gets it from the worker: drawn once, stored, uploaded once; a chart that
    cannot be drawn costs the picture only."""
    platform = ScriptedPlatform()
    async with db_services.db.session() as session:
        ids = [(await touch_chat(session, "test", c, kind="private")).id for c in "abc"]
        later = with_late_chart({"text": "tv alert"}, "BTC/USDT", "1h")
        await outbox.enqueue(
            session, await outbox.create_notification(session, "n1", "broadcast", later), ids
        )
        broken = with_late_chart({"text": "no chart"}, "NOPE/USDT", "1h")
        await outbox.enqueue(
            session, await outbox.create_notification(session, "n2", "broadcast", broken), ids[:1]
        )
    await DeliveryWorker(db_services, [platform], concurrency=3).run_until_idle()
    assert (platform.uploads, platform.by_file_id) == (1, 2)
    assert sorted(platform.delivered) == [
        ("a", "no chart"),
        ("a", "tv alert"),
        ("b", "tv alert"),
        ("c", "tv alert"),
    ]
    async with db_services.db.session() as session:
        drawn = await session.scalar(select(Notification).where(Notification.key == "n1"))
        missing = await session.scalar(select(Notification).where(Notification.key == "n2"))
    assert png_size(drawn.image) == (1200, 800) and missing.image is None


async def test_a_fan_out_beyond_one_statements_parameters_is_queued(db_services):
    """6,000 recipients are 36,000 values: more than PostgreSQL's 32,767 bind
    parameters per statement (and SQLite's limit), so the rows go in batches."""
    numbers = [str(n) for n in range(6_000)]
    rows = [{"platform": "test", "external_id": n, "kind": "private"} for n in numbers]
    async with db_services.db.session() as session:
        for start in range(0, len(rows), 1000):
            await session.execute(insert(Chat).values(rows[start : start + 1000]))
        ids = list((await session.execute(select(Chat.id))).scalars())
        nid = await outbox.create_notification(session, "big", "broadcast", {"text": "x"})
        assert await outbox.enqueue(session, nid, ids + ids[:10]) == 6_000
    assert await statuses(db_services) == {n: "pending" for n in range(1, 6_001)}
    if not db_services.db.is_sqlite:  # statistics renewed: the claim plan stays on indexes
        async with db_services.db.session() as session:
            query = text("SELECT reltuples FROM pg_class WHERE relname = 'outbox'")
            assert await session.scalar(query) >= 6_000


async def test_retention_drops_old_finished_records_and_pictures_only(db_services):
    """Finished rows older than OUTBOX_RETENTION_DAYS go, with the pictures of
    their notifications; unfinished rows, recent rows and the notification
    keys (which keep an event from being fanned out twice) stay."""
    platform = ScriptedPlatform()
    await queue(db_services, "old", ["a", "b"], "old news", image=PNG)
    await DeliveryWorker(db_services, [platform]).run_until_idle()
    await queue(db_services, "old-pending", ["c"], "still to send", image=PNG)
    await queue(db_services, "recent", ["d"], "new", image=PNG)
    await DeliveryWorker(db_services, [ScriptedPlatform(platform="other")]).run_until_idle()
    days = db_services.config.outbox_retention_days
    async with db_services.db.session() as session:  # age the first two events
        old = outbox.utcnow() - timedelta(days=days + 1)
        keys = ("old", "old-pending")
        ids = select(Notification.id).where(Notification.key.in_(keys))
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.notification_id.in_(ids))
            .values(created_at=old)
        )
        await session.execute(
            update(Notification).where(Notification.key.in_(keys)).values(created_at=old)
        )
    assert await jobs.purge_outbox(db_services) == (2, 1)
    left = {n.key: n.image is not None for n in await rows(db_services.db, Notification)}
    assert left == {"old": False, "old-pending": True, "recent": True}
    assert [r.status for r in await rows(db_services.db, OutboxMessage)] == ["pending", "pending"]
    assert await jobs.purge_outbox(db_services) == (0, 0)
    again = await DeliveryWorker(db_services, [ScriptedPlatform()]).run_until_idle()
    assert again.sent == 2  # what was waiting is still delivered
