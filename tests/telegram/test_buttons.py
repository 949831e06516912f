"""Keyboards: follow/unfollow toggles, deleting an alarm with a confirmation, paged
lists, and buttons whose server-side data expired."""

from __future__ import annotations

import pytest

from tests.telegram.conftest import Harness
from tests.telegram.test_wizards import chat_follows, needs_alarms


async def test_follow_unfollow_toggles(bot: Harness) -> None:
    alice = bot.user("Alice", 1001)
    [followed] = await bot.say(alice, "/follow BTC 4h")
    assert "Following BTC/USDT · 4h · pulsewave" in followed.plain
    await bot.press(alice, followed, "🔕 Unfollow")
    answer = bot.server.callback_answers[-1]
    assert answer.text == "Stopped 1 follow of BTC/USDT." and not answer.show_alert
    assert [b["text"] for b in followed.buttons] == ["🔔 Follow signals", "🔔 Following"]
    assert await chat_follows(bot, alice) == []
    await bot.press(alice, followed, "🔔 Follow signals")
    assert "Following BTC/USDT" in (bot.server.callback_answers[-1].text or "")
    assert followed.buttons[0]["text"] == "🔕 Unfollow"
    assert await chat_follows(bot, alice) == [("BTC/USDT", "4h", "pulsewave")]
    assert len(bot.server.sent_to(alice.id)) == 1  # all in place

    [listing] = await bot.say(alice, "/following")
    row = "🔕 BTC/USDT · 4h · pulsewave"
    await bot.press(alice, listing, row)
    assert [b["text"] for b in listing.buttons] == ["🔔 BTC/USDT · 4h · pulsewave"]
    await bot.press(alice, listing, "🔔 BTC/USDT · 4h · pulsewave")
    assert [b["text"] for b in listing.buttons] == [row]
    await bot.press(alice, listing, row)
    await bot.press(alice, listing, "🔔 BTC/USDT · 4h · pulsewave")
    assert len(await chat_follows(bot, alice)) == 1


async def test_long_lists_page_in_place(bot: Harness) -> None:
    alice = bot.user("Alice", 1001)
    strategies = ("pulsewave", "rsi", "ma_cross", "ut_bot", "tradingview", "all")
    for symbol in ("BTC", "ETH"):
        for strategy in strategies:
            await bot.say(alice, f"/follow {symbol} {strategy}")
    [listing] = await bot.say(alice, "/following")
    labels = [b["text"] for b in listing.buttons]
    assert len(labels) == 8 + 2 and labels[-2:] == ["1/2", "▶"]
    await bot.press(alice, listing, "▶")
    labels = [b["text"] for b in listing.buttons]
    assert len(labels) == 4 + 2 and labels[-2:] == ["◀", "2/2"]
    assert "🔕 ETH/USDT · every timeframe · ut_bot" in labels
    await bot.press(alice, listing, "2/2")  # the counter does nothing
    await bot.press(alice, listing, "◀")
    assert [b["text"] for b in listing.buttons][-2:] == ["1/2", "▶"]
    assert len(bot.server.sent_to(alice.id)) == 13


@needs_alarms
@pytest.mark.parametrize("answer", ["✅ Yes", "✖ No"])
async def test_deleting_an_alarm_asks_first(bot: Harness, answer: str) -> None:
    alice = bot.user("Alice", 1001)
    await bot.say(alice, "/alarm BTC above 90000")
    await bot.say(alice, "/alarm ETH below 1500")
    [listing] = await bot.say(alice, "/alarms")
    first = next(b["text"] for b in listing.buttons if b["text"].startswith("🗑 #1"))
    [question] = await bot.press(alice, listing, first, count=1)
    assert question.plain == f"Are you sure? {first}"
    assert question.reply_to_message_id == listing.message_id
    await bot.press(alice, question, answer)
    if answer == "✅ Yes":
        assert "Deleted alarm #1: BTC/USDT" in question.plain
        # The list is refreshed after the answer (idle can be declared in between
        # on a busy machine): wait for that edit.
        await bot.server.wait_for(lambda: listing.edited, 15, "the list refreshed")
        assert "#1" not in " ".join(b["text"] for b in listing.buttons)
    else:
        assert question.deleted and not listing.edited
    [after] = await bot.say(alice, "/alarms")
    assert ("#1 " in after.plain) is (answer == "✖ No")
    if answer == "✖ No":  # no late refresh landed meanwhile either
        assert not listing.edited


@needs_alarms
async def test_delete_all_uses_the_commands_own_confirmation(bot: Harness) -> None:
    alice = bot.user("Alice", 1001)
    await bot.say(alice, "/alarm BTC above 90000")
    await bot.say(alice, "/alarm ETH below 1500")
    [listing] = await bot.say(alice, "/alarms")
    [question] = await bot.press(alice, listing, "🗑 Delete all", count=1)
    assert "Delete all 2 of this chat's alarms?" in question.plain
    await bot.press(alice, question, "🗑 Yes, delete all")  # the same command: in place
    assert "Delete all" not in question.plain and question.edited
    [after] = await bot.say(alice, "/alarms")
    assert "no alarms yet" in after.plain


async def test_expired_buttons_say_so(bot: Harness) -> None:
    alice = bot.user("Alice", 1001)
    [welcome] = await bot.say(alice, "/start")
    store = bot.app.telegram.presenter.store
    from bot.telegram.keyboards import Mode, Press, encode

    async def press_long(action: str) -> tuple[str, bool]:
        """A long button on the welcome message, pressed: the toast it got."""
        data = encode(Press(m=Mode.NEW, a=action), store)
        await store.close()  # written to the database
        store._items.clear()  # the process restarted: its memory is empty
        bot.server.message(alice.id, welcome.message_id).reply_markup = {
            "inline_keyboard": [[{"text": "Old", "callback_data": data}]]
        }
        update = await bot.server.press_button(alice, welcome, data)
        await bot.idle()
        answer = bot.server.callback_answer(update)
        assert answer is not None
        return answer.text or "", bool(answer.show_alert)

    # Kept in the database: it still works after a restart (the command runs).
    assert "Too many arguments" in (await press_long("price BTC " + "x" * 80))[0]
    store.ttl = 0.0  # a payload kept for no time: expired when pressed
    expired, alert = await press_long("price ETH " + "y" * 80)
    assert expired == "This button has expired. Please send the command again." and alert
