"""Throttling, Telegram's 429 during a reply, the error handler, graceful shutdown."""

from __future__ import annotations

import asyncio
import re

from structlog.testing import capture_logs

from bot.telegram.middlewares import APOLOGY
from bot.telegram.routers import buttons, commands
from handlers.i18n import Translator
from tests.telegram.conftest import Harness, StartBot

SLOW_DOWN = "You are sending requests faster than I can answer them."


async def test_throttling_per_user(start_bot: StartBot) -> None:
    bot = await start_bot(throttle_per_minute=3)
    alice = bot.user("Alice", 1001)
    bob = bot.user("Bob", 1002)
    for n in range(3):
        [reply] = await bot.say(alice, "/price BTC")
        assert "BTC/USDT" in reply.plain, n
    [notice] = await bot.say(alice, "/price BTC")
    assert notice.plain.startswith(SLOW_DOWN)
    await bot.server.send_text(alice, "/price ETH")  # still too fast: silence
    await bot.idle()
    assert len(bot.server.sent_to(alice.id)) == 4
    update = await bot.server.press_button(alice, bot.server.sent_to(alice.id)[0], text="Chart")
    await bot.idle()
    answered = bot.server.callback_answer(update)
    assert answered is not None and not answered.text  # answered, nothing done
    assert len(bot.server.sent_to(alice.id)) == 4
    [other] = await bot.say(bob, "/price BTC")  # per user: Bob is fine
    assert "BTC/USDT" in other.plain


async def test_a_429_during_a_reply_is_waited_out(bot: Harness) -> None:
    alice = bot.user("Alice", 1001)
    bot.server.fail_next("sendMessage", 429, retry_after=1, chat_id=alice.id)
    started = asyncio.get_running_loop().time()
    [reply] = await bot.say(alice, "/price BTC")
    assert "BTC/USDT" in reply.plain
    assert asyncio.get_running_loop().time() - started >= 1.0
    assert bot.server.count("sendMessage", 429) == 1
    bot.server.fail_next("sendPhoto", 429, retry_after=1, chat_id=alice.id)
    [chart] = await bot.say(alice, "/chart BTC")
    assert chart.photo_file_id and bot.server.count("sendPhoto", 429) == 1


async def test_errors_get_an_apology_with_an_id(bot: Harness, monkeypatch) -> None:
    alice = bot.user("Alice", 1001)
    [menu] = await bot.say(alice, "/start")

    async def broken(*args, **kwargs):
        raise RuntimeError("kaboom")

    monkeypatch.setattr(commands, "run_command", broken)
    monkeypatch.setattr(buttons, "run_command", broken)
    with capture_logs() as logs:
        [apology] = await bot.say(alice, "/price BTC")
        update = await bot.server.press_button(alice, menu, text="💰 BTC price")
        await bot.idle()
    found = re.search(r"error id (\w{8})", apology.plain)
    assert apology.plain.startswith("Sorry, something went wrong on my side") and found
    failures = [e for e in logs if e["event"] == "telegram_update_failed"]
    assert failures[0]["error_id"] == found[1] and failures[0]["exc_info"]
    alert = bot.server.callback_answer(update)
    assert alert is not None and alert.show_alert and "error id" in (alert.text or "")
    assert len(failures) == 2


async def test_errors_speak_the_users_language(bot: Harness, monkeypatch) -> None:
    ayse = bot.user("Ayse", 1003, language_code="tr")

    async def broken(*args, **kwargs):
        raise RuntimeError("kaboom")

    monkeypatch.setattr(commands, "run_command", broken)
    [apology] = await bot.say(ayse, "/price BTC")
    error_id = re.findall(r"[0-9a-f]{8}", apology.plain)[-1]
    assert apology.plain == Translator("tr").gettext(APOLOGY, id=error_id)
    assert "error id" not in apology.plain


async def test_graceful_shutdown_finishes_the_update_in_flight(bot: Harness) -> None:
    alice = bot.user("Alice", 1001)
    bot.server.delay(0.6, method="sendMessage", times=1)
    await bot.server.send_text(alice, "/price BTC")
    frontend = bot.app.telegram
    await bot.server.wait_for(lambda: frontend.inflight.count > 0, 10, "the update in flight")
    await bot.shutdown()
    [reply] = bot.server.sent_to(alice.id)
    assert "BTC/USDT" in reply.plain
    assert bot.server.pending_updates == 0  # confirmed: a restart will not answer it again
    assert bot.server.webhook is None
