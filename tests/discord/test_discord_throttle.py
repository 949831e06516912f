"""Per-user throttling on Discord (`THROTTLE_PER_MINUTE`, `handlers.throttle`): past
the rate, commands and button presses are answered "slow down" privately, in the
user's language, and change nothing; other users are not affected."""

from __future__ import annotations

from typing import Any

from bot.app import App
from storage.models import Alarm
from tests.db_helpers import count
from tests.discord_payloads import MANAGE_CHANNELS, MEMBER_PERMISSIONS
from tests.discord_server import DiscordServer

CHANNEL = 501
MANAGER = MEMBER_PERMISSIONS | MANAGE_CHANNELS
SLOW_DOWN = "You are sending requests faster than I can answer them."


async def test_past_the_rate_commands_and_presses_are_refused_privately(
    app: App, start_frontend: Any, discord_server: DiscordServer
) -> None:
    await start_frontend(throttle_per_minute=2)
    server = discord_server
    ann, bob = server.user(4001, "Ann"), server.user(4002, "Bob")
    values = {"symbol": "BTC", "condition": "above", "value": "90k"}
    first = await server.answer(
        await server.command(ann, CHANNEL, "alarm", values, permissions=MANAGER)
    )
    assert "Alarm #1 set" in first.text
    price = await server.answer(await server.command(ann, CHANNEL, "price", {"symbol": "BTC"}))
    assert not price.ephemeral

    refused = await server.answer(
        await server.command(ann, CHANNEL, "alarm", values, permissions=MANAGER)
    )
    assert refused.ephemeral and refused.text.startswith(SLOW_DOWN)
    assert await count(app.services.db, Alarm) == 1  # the refused command changed nothing
    pressed = await server.answer(await server.press(ann, price, "🔄 Refresh"))
    assert pressed.ephemeral and pressed.text.startswith(SLOW_DOWN)  # every refusal is answered
    assert price.edits == 0

    other = await server.answer(await server.command(bob, CHANNEL, "price", {"symbol": "ETH"}))
    assert not other.ephemeral and "ETH/USDT" in other.embed["title"]  # Bob is not affected


async def test_the_refusal_speaks_the_users_language(
    start_frontend: Any, discord_server: DiscordServer
) -> None:
    await start_frontend(throttle_per_minute=1)
    server = discord_server
    siti = server.user(4003, "Siti")
    await server.answer(
        await server.command(siti, CHANNEL, "price", {"symbol": "BTC"}, locale="id")
    )
    refused = await server.answer(
        await server.command(siti, CHANNEL, "price", {"symbol": "BTC"}, locale="id")
    )
    assert refused.ephemeral and not refused.text.startswith(SLOW_DOWN)
    assert refused.text.startswith("Anda")


async def test_no_limit_by_default(start_frontend: Any, discord_server: DiscordServer) -> None:
    frontend = await start_frontend()  # the frontend's default; the App passes THROTTLE_PER_MINUTE
    assert frontend.responder.throttle.per_minute == 0  # 0: no limit
    server = discord_server
    ann = server.user(4001, "Ann")
    for _ in range(5):
        answer = await server.answer(await server.command(ann, CHANNEL, "price", {"symbol": "BTC"}))
        assert not answer.ephemeral
