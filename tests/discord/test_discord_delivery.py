"""Deliveries to Discord through the outbox worker and `DiscordSender`: channels and
DMs (opened once), charts attached to every message, rate limits handled by
discord.py's own HTTP client from the emulator's headers and 429 bodies (nothing
lost, nothing sent twice), and chats that are gone deactivated like a block."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import select

from bot.delivery import DeliveryWorker, Outgoing, RetryAfter
from bot.discord.app import DiscordFrontend
from engine.market.clock import to_ms
from handlers.alarm_engine import alarm_service
from handlers.context import Services
from handlers.reply import Reply
from storage import outbox
from storage.accounts import touch_chat
from storage.models import Chat, OutboxMessage
from tests.conftest import REPLAY_START
from tests.discord_payloads import MANAGE_CHANNELS, MEMBER_PERMISSIONS
from tests.discord_server import DiscordServer
from tests.helpers import png_size

CHANNEL = 501
MESSAGES = r"/channels/\d+/messages"


async def queue(services: Services, key: str, chats: list[tuple[str, str]], text: str) -> None:
    async with services.db.session() as session:
        ids = [(await touch_chat(session, "discord", c, kind=k)).id for c, k in chats]
        nid = await outbox.create_notification(session, key, "broadcast", {"text": text})
        assert nid is not None
        await outbox.enqueue(session, nid, ids)


async def outbox_rows(services: Services) -> list[tuple[str, str, str]]:
    async with services.db.session() as session:
        query = select(Chat.external_id, OutboxMessage.status, Chat.active).join(Chat)
        return [tuple(map(str, row)) for row in await session.execute(query)]  # type: ignore[misc]


def texts(server: DiscordServer, channel_id: int) -> list[str]:
    return [m.embed.get("description", "") for m in server.sent_to(channel_id)]


async def test_a_notification_with_a_chart_reaches_a_channel(
    frontend: DiscordFrontend, discord_server: DiscordServer
) -> None:
    png = (await frontend.services.charts.candle_chart("BTC/USDT", "1h"))[0].png
    reply = Reply(title="🔔 BTC/USDT above 90,000", text="Alarm #1 fired.")
    sent = await frontend.sender.send(
        Outgoing(str(CHANNEL), "guild", reply, image=png, image_name="BTC/USDT 1h.png")
    )
    [message] = discord_server.sent_to(CHANNEL)
    assert sent.message_id == str(message.id) and sent.file_id is None  # no file ids here
    assert message.embed["image"]["url"] == "attachment://BTC_USDT_1h.png"
    assert png_size(message.attachments[0].data) == png_size(png)


async def test_a_dm_is_opened_once_and_used_for_every_message(
    frontend: DiscordFrontend, discord_server: DiscordServer
) -> None:
    server = discord_server
    ann = server.user(5001, "Ann")
    for n in range(3):
        await frontend.sender.send(Outgoing("5001", "dm", Reply(text=f"dm {n}")))
    assert texts(server, server.dm(ann)) == ["dm 0", "dm 1", "dm 2"]
    assert [r[:2] for r in server.requests].count(("POST", "/users/@me/channels")) == 1


@pytest.mark.parametrize("glob", [False, True])
async def test_a_429_is_waited_out_by_discord_py_and_the_message_sent_once(
    frontend: DiscordFrontend, discord_server: DiscordServer, glob: bool
) -> None:
    discord_server.rate_limit_next("POST", MESSAGES, 0.3, glob=glob)
    started = asyncio.get_running_loop().time()
    await frontend.sender.send(Outgoing(str(CHANNEL), "guild", Reply(text="after the wait")))
    assert asyncio.get_running_loop().time() - started >= 0.3
    assert texts(discord_server, CHANNEL) == ["after the wait"]
    statuses = [s for m, p, s in discord_server.requests if p == f"/channels/{CHANNEL}/messages"]
    assert statuses == [429, 200]


async def test_a_long_retry_after_goes_back_to_the_worker(
    frontend: DiscordFrontend, discord_server: DiscordServer
) -> None:
    discord_server.rate_limit_next("POST", MESSAGES, 45.0)
    with pytest.raises(RetryAfter) as raised:
        await frontend.sender.send(Outgoing(str(CHANNEL), "guild", Reply(text="later")))
    assert raised.value.seconds == 45.0 and discord_server.sent_to(CHANNEL) == []


async def test_a_burst_keeps_to_the_channels_bucket(
    frontend: DiscordFrontend, discord_server: DiscordServer
) -> None:
    """12 messages at once to one channel (5 per window): discord.py reads the
    X-RateLimit headers and waits for the bucket's reset; all arrive, once each."""
    sender = frontend.sender
    await asyncio.gather(
        *(sender.send(Outgoing(str(CHANNEL), "guild", Reply(text=f"m{n}"))) for n in range(12))
    )
    assert sorted(texts(discord_server, CHANNEL), key=lambda t: int(t[1:])) == [
        f"m{n}" for n in range(12)
    ]


async def test_the_worker_delivers_once_and_deactivates_chats_that_are_gone(
    frontend: DiscordFrontend, discord_server: DiscordServer
) -> None:
    server = discord_server
    services = frontend.services
    server.user(5001, "Ann")
    closed = server.user(5002, "Cid")
    server.close_dms(int(closed["id"]))
    server.channel(502, 500, "deleted-soon")
    server.delete_channel(502)
    chats = [(str(CHANNEL), "guild"), ("5001", "dm"), ("5002", "dm"), ("502", "guild")]
    for n in range(3):
        await queue(services, f"b{n}", chats, f"news {n}")
    server.rate_limit_next("POST", MESSAGES, 0.2)  # one 429 on the way
    stats = await DeliveryWorker(services, [frontend.sender]).run_until_idle()
    assert texts(server, CHANNEL) == ["news 0", "news 1", "news 2"]
    assert texts(server, server.dm(server.users[5001])) == ["news 0", "news 1", "news 2"]
    assert stats.sent == 6 and stats.dropped == 2
    rows = await outbox_rows(services)
    assert sorted(rows) == sorted(
        [(str(CHANNEL), "sent", "True")] * 3
        + [("5001", "sent", "True")] * 3
        + [("5002", "dropped", "False")] * 3
        + [("502", "dropped", "False")] * 3
    )


async def test_an_alarm_set_in_a_channel_fires_into_it(
    frontend: DiscordFrontend, discord_server: DiscordServer
) -> None:
    server = discord_server
    ann = server.user(5001, "Ann")
    values: dict[str, Any] = {"symbol": "BTC", "condition": "above", "value": "90000"}
    permissions = MEMBER_PERMISSIONS | MANAGE_CHANNELS
    interaction = await server.command(ann, CHANNEL, "alarm", values, permissions=permissions)
    assert "Alarm #1 set" in (await server.answer(interaction)).text
    service = await alarm_service(frontend.services)
    assert await service.on_tick("BTC/USDT", 90_010.0, to_ms(REPLAY_START) + 1_000) == 1
    await DeliveryWorker(frontend.services, [frontend.sender]).run_until_idle()
    fired = server.sent_to(CHANNEL)[-1]
    assert fired.kind == "channel" and fired.embed["title"] == "🔔 BTC/USDT at or above 90,000.00"
    assert fired.attachments and fired.embed["image"]["url"].startswith("attachment://")
    assert set(fired.buttons) >= {"🔔 Alarms"}
