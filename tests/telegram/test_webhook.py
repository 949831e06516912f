"""Webhook mode: the embedded web server receives Telegram's updates, checking the
secret on every request."""

from __future__ import annotations

import socket

import aiohttp
import pytest

from bot.app import StartupError
from tests.telegram.conftest import StartBot

SECRET = "s3cret_Token-42"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def test_webhook_mode_with_right_and_wrong_secret(start_bot: StartBot) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/telegram/hook"
    bot = await start_bot(telegram_webhook_url=url, telegram_webhook_secret=SECRET, web_port=port)
    server = bot.server
    assert server.webhook is not None and server.webhook.url == url
    assert server.webhook.secret_token == SECRET
    assert server.count("getUpdates") == 0
    alice = bot.user("Alice", 1001)
    [welcome] = await bot.say(alice, "/start")
    assert "Welcome to PulseWave" in welcome.plain
    [chart] = await bot.say(alice, "/chart ETH")
    await bot.press(alice, chart, "4h")  # callback queries come by webhook too
    assert "ETH/USDT · 4h" in (chart.plain or "")
    assert all(d.status == 200 for d in server.webhook_deliveries)

    update = {
        "update_id": 1,
        "message": {
            "message_id": 99,
            "date": 0,
            "chat": {"id": alice.id, "type": "private", "first_name": "Alice"},
            "from": {"id": alice.id, "is_bot": False, "first_name": "Alice"},
            "text": "/price BTC",
        },
    }
    before = len(server.sent_to(alice.id))
    async with aiohttp.ClientSession() as http:
        for headers in ({}, {"X-Telegram-Bot-Api-Secret-Token": "wrong"}):
            async with http.post(url, json=update, headers=headers) as response:
                assert response.status == 401
        await bot.idle()
        assert len(server.sent_to(alice.id)) == before  # nothing was handled
        headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
        async with http.post(url, json=update, headers=headers) as response:
            assert response.status == 200
    [price] = (await server.wait_for_messages(alice.id, before + 1))[before:]
    assert "BTC/USDT" in price.plain
    await bot.shutdown()
    assert server.webhook is not None  # left set: other processes may still serve it


async def test_webhook_needs_a_secret(start_bot: StartBot) -> None:
    bot = await start_bot(wait_ready=False, telegram_webhook_url="https://example.com/hook")
    with pytest.raises(StartupError, match="TELEGRAM_WEBHOOK_SECRET: required"):
        await bot.task


def test_webhook_secret_must_be_telegrams_alphabet() -> None:
    from pydantic import ValidationError

    from settings import Settings, describe_error

    with pytest.raises(ValidationError) as error:
        Settings(_env_file=None, telegram_webhook_secret="has spaces!")  # type: ignore[call-arg]
    line = describe_error(error.value)
    assert "TELEGRAM_WEBHOOK_SECRET" in line and "has spaces" not in line
    assert "x" * 3 in Settings(_env_file=None, telegram_webhook_secret="xxx").secrets()  # type: ignore[call-arg]


async def test_a_bad_token_is_a_clear_startup_error(start_bot: StartBot) -> None:
    bot = await start_bot(wait_ready=False, telegram_bot_token="123:wrong")
    with pytest.raises(StartupError, match="TELEGRAM_BOT_TOKEN: Telegram rejected the token"):
        await bot.task
