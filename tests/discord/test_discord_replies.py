"""Replies on Discord: embeds (fields, colour by direction, DEMO footer), chart
attachments, buttons (the timeframe switcher edits its message, alarm deletion
refreshes the list), ephemeral errors, deferred replies, and the Manage Channels
rule for a channel's alarms and follows."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from bot.discord.app import DiscordFrontend
from storage.models import Alarm, Chat
from tests.discord_payloads import MANAGE_CHANNELS, MEMBER_PERMISSIONS, Message
from tests.discord_server import DiscordServer
from tests.helpers import png_size

CHANNEL = 501
MANAGER = MEMBER_PERMISSIONS | MANAGE_CHANNELS
ADMINISTRATOR = MEMBER_PERMISSIONS | (1 << 3)


async def test_a_price_is_an_embed_with_fields_and_buttons(
    frontend: DiscordFrontend, discord_server: DiscordServer
) -> None:
    server = discord_server
    ann = server.user(4001, "Ann")
    message = await server.answer(await server.command(ann, CHANNEL, "price", {"symbol": "BTC"}))
    embed = message.embed
    assert embed["title"].endswith("BTC/USDT  84,349.94")
    names = [f["name"] for f in embed["fields"]]
    assert names[:4] == ["24h change", "24h high", "24h low", "24h volume"]
    assert embed["fields"][0]["value"] == "−0.42%" and embed["fields"][0]["inline"]
    assert embed["color"] == 0xE74C3C  # down on the day
    assert embed["footer"]["text"].startswith("🧪 DEMO · replayed market at")
    assert list(message.buttons) == ["🔄 Refresh", "📈 Chart"]
    assert not message.ephemeral and not message.attachments


async def test_a_chart_is_attached_and_its_buttons_switch_the_timeframe(
    frontend: DiscordFrontend, discord_server: DiscordServer
) -> None:
    server = discord_server
    ann = server.user(4001, "Ann")
    values = {"symbol": "BTC", "timeframe": "4h"}
    message = await server.answer(await server.command(ann, server.dm(ann), "chart", values))
    [png] = message.attachments
    assert png.filename == "BTCUSDT_4h.png" and png_size(png.data)[0] > 500
    assert message.embed["image"]["url"] == "attachment://BTCUSDT_4h.png"
    assert list(message.buttons) == ["15m", "1h", "• 4h", "1d", "1w"]
    edits = message.edits  # 1 if the chart took long enough to be deferred
    press = await server.press(ann, message, "1d")
    edited = await server.answer(press)
    assert edited.id == message.id and edited.edits == edits + 1  # replaced in place
    assert [a.filename for a in edited.attachments] == ["BTCUSDT_1d.png"]
    assert edited.embed["title"] == "BTC/USDT · 1d" and "• 1d" in edited.buttons
    assert len(server.sent_to(server.dm(ann))) == 1


async def test_errors_are_ephemeral(
    frontend: DiscordFrontend, discord_server: DiscordServer
) -> None:
    server = discord_server
    ann = server.user(4001, "Ann")
    interaction = await server.command(ann, CHANNEL, "chart", {"symbol": "XYZ"})
    message = await server.answer(interaction)
    assert message.ephemeral and "I don't know the market XYZ/USDT" in message.text
    assert message.embed["color"] == 0xF39C12 and not message.attachments


async def test_slow_replies_are_deferred_then_followed_up(
    start_frontend: Any, discord_server: DiscordServer
) -> None:
    await start_frontend(defer_after=0.0)
    server = discord_server
    ann = server.user(4001, "Ann")
    interaction = await server.command(ann, CHANNEL, "analyze", {"symbol": "ETH"})
    message = await server.answer(interaction)
    assert interaction.responses == [5]  # "thinking…" first
    assert [e[0] for e in interaction.events] == ["loading", "edit"]
    assert message.embed["title"] == "Analysis of ETH/USDT · 1h" and message.attachments
    assert not message.ephemeral
    # A deferred error: the public "thinking…" goes, the error is for the caller only.
    interaction = await server.command(ann, CHANNEL, "price", {"symbol": "NOPE"})
    message = await server.answer(interaction)
    assert [e[0] for e in interaction.events] == ["loading", "delete", "create"]
    assert message.ephemeral and "NOPE/USDT" in message.text
    assert [m.kind for m in server.sent_to(CHANNEL)] == ["response", "followup"]


async def test_quick_replies_answer_at_once(
    start_frontend: Any, discord_server: DiscordServer
) -> None:
    await start_frontend(defer_after=5.0)
    server = discord_server
    ann = server.user(4001, "Ann")
    interaction = await server.command(ann, CHANNEL, "start")
    await server.answer(interaction)
    assert interaction.responses == [4]


async def test_channel_alarms_need_manage_channels(
    frontend: DiscordFrontend, discord_server: DiscordServer
) -> None:
    server = discord_server
    ann = server.user(4001, "Ann")
    values = {"symbol": "BTC", "condition": "above", "value": "90k"}
    for name, args in (("alarm", values), ("follow", {"symbol": "ETH"})):
        message = await server.answer(await server.command(ann, CHANNEL, name, args))
        assert message.ephemeral and "Only the chat's admins" in message.text
    for permissions in (MANAGER, ADMINISTRATOR):
        interaction = await server.command(ann, CHANNEL, "alarm", values, permissions=permissions)
        assert "Alarm #" in (await server.answer(interaction)).text
    dm = await server.command(ann, server.dm(ann), "alarm", values)  # no permissions in a DM
    assert "Alarm #3 set" in (await server.answer(dm)).text
    async with frontend.services.db.session() as session:
        rows = (await session.execute(select(Alarm, Chat).join(Chat))).all()
    assert sorted((chat.external_id, chat.kind) for _, chat in rows) == [
        ("4001", "dm"),
        (str(CHANNEL), "guild"),
        (str(CHANNEL), "guild"),
    ]
    listing = await server.answer(await server.command(ann, CHANNEL, "alarms"))
    assert "2 active" in listing.text and not listing.buttons  # members see, cannot delete


async def alarm_list(server: DiscordServer, user: dict, count: int) -> Message:
    for level in range(count):
        values = {"symbol": "BTC", "condition": "above", "value": f"{90 + level}k"}
        interaction = await server.command(user, CHANNEL, "alarm", values, permissions=MANAGER)
        await server.answer(interaction)
    interaction = await server.command(user, CHANNEL, "alarms", permissions=MANAGER)
    return await server.answer(interaction)


async def test_alarm_buttons_delete_and_refresh_the_list(
    frontend: DiscordFrontend, discord_server: DiscordServer
) -> None:
    server = discord_server
    ann, bob = server.user(4001, "Ann"), server.user(4002, "Bob")
    listing = await alarm_list(server, ann, 3)
    first = next(label for label in listing.buttons if label.startswith("🗑 #1"))
    refused = await server.press(bob, listing, first)  # Bob may not manage the channel
    answer = await server.answer(refused)
    assert answer.ephemeral and "Only the chat's admins" in answer.text
    assert listing.edits == 0
    press = await server.press(ann, listing, first, permissions=MANAGER)
    result = await server.answer(press, 1)
    assert result.ephemeral and "Deleted alarm #1" in result.text.replace("\\", "")
    refreshed = await server.answer(press, 2)
    assert refreshed.id == listing.id and "2 active" in refreshed.text
    assert not any(label.startswith("🗑 #1") for label in refreshed.buttons)
    press = await server.press(ann, refreshed, "🗑 Delete all", permissions=MANAGER)
    question = await server.answer(press)
    assert question.ephemeral and "Delete all 2 of this chat's alarms?" in question.text
    confirm = await server.press(ann, question, "🗑 Yes, delete all", permissions=MANAGER)
    done = await server.answer(confirm)
    assert done.id == question.id and "Deleted 2 alarms" in done.text


async def test_a_button_whose_action_is_gone_says_so(
    frontend: DiscordFrontend, discord_server: DiscordServer
) -> None:
    server = discord_server
    ann = server.user(4001, "Ann")
    price = await server.answer(await server.command(ann, CHANNEL, "price", {"symbol": "BTC"}))
    # A long payload kept by a key this process does not know (a restart, another process).
    price.payload["components"][0]["components"][0]["custom_id"] = "pk:AAAAAAAAAAA:0"
    answer = await server.answer(await server.press(ann, price, "🔄 Refresh", locale="tr"))
    assert answer.ephemeral and answer.text.startswith("Bu düğmenin süresi doldu")
    answer = await server.answer(await server.press(ann, price, "🔄 Refresh"))
    assert answer.ephemeral and answer.text.startswith("This button has expired.")
    assert price.edits == 0


async def test_replies_speak_the_users_discord_language(
    frontend: DiscordFrontend, discord_server: DiscordServer
) -> None:
    server = discord_server
    ayse = server.user(4003, "Ayşe")
    values = {"symbol": "BTC"}
    message = await server.answer(await server.command(ayse, CHANNEL, "price", values, locale="tr"))
    assert message.embed["fields"][0]["name"] == "24s değişim"
