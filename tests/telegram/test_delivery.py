"""Deliveries through `TelegramSender`: rendering, one upload per picture, Telegram's
limits kept on our side, and aiogram's errors mapped for the delivery worker."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from bot.delivery import (
    ChatUnavailable,
    Outgoing,
    PermanentError,
    RetryAfter,
    Sent,
    TransientError,
)
from handlers.reply import Button, Reply
from storage.models import Notification, OutboxMessage
from tests.helpers import eventually
from tests.telegram.conftest import Harness
from tests.telegram.delivery_helpers import PNG, add_chats, fan_out


def card(text: str = "🚀 BTC/USDT long <signal>") -> Reply:
    return Reply(title=text, text="entry 1 & stop 2", buttons=[[Button("📈 Chart", "chart BTC")]])


async def test_sender_renders_and_uploads_a_picture_once(bot: Harness) -> None:
    alice, bob = bot.user("Alice", 1001), bot.user("Bob", 1002)
    sender = bot.app.telegram.sender
    first = await sender.send(Outgoing(str(alice.id), "private", card(), PNG, "sig.png"))
    assert first.file_id and first.message_id
    message = bot.server.sent_to(alice.id)[0]
    assert message.caption.startswith("<b>🚀 BTC/USDT long &lt;signal&gt;</b>")
    assert message.callback_data == ["c|n|chart BTC|"]
    second = await sender.send(
        Outgoing(str(bob.id), "private", card(), PNG, "sig.png", file_id=first.file_id)
    )
    assert second == Sent(second.message_id, None)
    assert len(bot.server.uploads) == 1
    assert bot.server.sent_to(bob.id)[0].photo_file_id == first.file_id
    text = await sender.send(Outgoing(str(bob.id), "private", Reply(text="x" * 5000)))
    assert text.file_id is None and len(bot.server.sent_to(bob.id)) == 3  # split in two


async def test_sender_maps_telegram_errors(bot: Harness) -> None:
    alice = bot.user("Alice", 1001)
    group = bot.server.group(-500, "Old", {alice.id: "creator"})
    sender = bot.app.telegram.sender
    server = bot.server

    def out(chat: int = alice.id) -> Outgoing:
        return Outgoing(str(chat), "private" if chat > 0 else "group", Reply(text="hello"))

    server.fail_next("sendMessage", 429, retry_after=7)
    with pytest.raises(RetryAfter) as waited:
        await sender.send(out())
    assert waited.value.seconds == 7
    for status, kwargs, expected in [
        (502, {}, TransientError),
        (500, {"disconnect": True}, TransientError),
        (502, {"body": "<html>Bad Gateway</html>"}, TransientError),
        (403, {}, ChatUnavailable),
        (403, {"description": "Forbidden: bot was kicked from the group chat"}, ChatUnavailable),
        (400, {}, ChatUnavailable),  # chat not found
        (400, {"description": "Bad Request: message is too long"}, PermanentError),
    ]:
        server.fail_next("sendMessage", status, **kwargs)
        with pytest.raises(expected):
            await sender.send(out())
    server.migrate_group(group.id, -1000000000500)
    with pytest.raises(ChatUnavailable, match="supergroup"):
        await sender.send(out(group.id))
    server.block_chat(alice.id)
    with pytest.raises(ChatUnavailable, match="blocked"):
        await sender.send(out())


async def test_group_deliveries_keep_the_group_rate_limit(bot: Harness) -> None:
    owner = bot.user("Owner", 3001)
    group = bot.server.group(-1007, "Busy", {owner.id: "creator"}, kind="supergroup")
    sender = bot.app.telegram.sender
    loop = asyncio.get_running_loop()
    started = loop.time()
    await asyncio.gather(
        *(
            sender.send(Outgoing(str(group.id), "supergroup", Reply(text=f"#{n}")))
            for n in range(26)
        )
    )
    # 20 a minute (here 20 times faster), a burst of 10: the last 16 wait ~3 s / 20 each
    assert loop.time() - started >= 16 * 3 / 20 * 0.9
    assert bot.server.too_many_requests == 0
    assert len(bot.server.sent_to(group.id)) == 26


async def queue(
    bot: Harness, chats: list[int], image: bytes | None = None, file_ids: dict | None = None
) -> None:
    """A notification to `chats`, with the platforms' ids of its image if given."""
    db = bot.app.services.db
    ids = await add_chats(db, dict.fromkeys(chats, "private"))
    key = f"test:{len(chats)}:{image is not None}"
    await fan_out(db, key, "Hi <all>", ids.values(), image, file_ids)


async def statuses(bot: Harness) -> list[str]:
    async with bot.app.services.db.session() as session:
        rows = await session.execute(select(OutboxMessage.status).order_by(OutboxMessage.id))
        return list(rows.scalars())


async def all_sent(bot: Harness, count: int) -> None:
    """Wait (up to 5 s) until the outbox holds `count` rows, all sent."""

    async def done() -> bool:
        return await statuses(bot) == ["sent"] * count

    await eventually(done, 5, f"{count} sent rows")


async def test_the_worker_delivers_through_telegram(bot: Harness) -> None:
    people = [bot.user(f"U{n}", 5000 + n) for n in range(3)]
    await queue(bot, [p.id for p in people], PNG)
    for person in people:
        [message] = await bot.server.wait_for_messages(person.id, 1, timeout=15)
        assert message.plain == "Hi <all>" and message.photo_file_id
    assert len(bot.server.uploads) == 1  # uploaded once, then by file id
    await all_sent(bot, 3)


async def test_shutdown_lets_the_delivery_in_flight_finish(bot: Harness) -> None:
    alice = bot.user("Alice", 1001)
    bot.server.delay(0.8, method="sendMessage", times=1)
    await queue(bot, [alice.id])
    await bot.server.wait_for(lambda: bot.server._inflight > 0, 15, "the send in flight")
    await bot.shutdown()
    assert [m.plain for m in bot.server.sent_to(alice.id)] == ["Hi <all>"]
    assert await statuses(bot) == ["sent"]


async def test_a_refused_file_id_is_replaced_by_one_new_upload(bot: Harness) -> None:
    """The stored id came from another bot (the token changed): Telegram refuses it,
    the picture is uploaded again once, every recipient gets it, and the new id
    replaces the old one for later sends."""
    people = [bot.user(f"U{n}", 6000 + n) for n in range(6)]
    stale = "AgACAgIAAxkBAAIBOWd-another-bot"
    await queue(bot, [p.id for p in people], PNG, file_ids={"telegram": stale})
    for person in people:
        [message] = await bot.server.wait_for_messages(person.id, 1, timeout=15)
        assert message.plain == "Hi <all>" and message.photo_file_id
    [upload] = bot.server.uploads
    assert {bot.server.sent_to(p.id)[0].photo_file_id for p in people} == {upload.file_id}
    assert 1 <= bot.server.count("sendPhoto", 400) <= len(people)  # the refusals
    await all_sent(bot, len(people))
    async with bot.app.services.db.session() as session:
        [file_ids] = (await session.execute(select(Notification.file_ids))).scalars()
    assert file_ids == {"telegram": upload.file_id}
