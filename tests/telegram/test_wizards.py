"""The /follow and /alarm wizards: buttons, typed answers, bad input, cancel."""

from __future__ import annotations

import pytest

from tests.telegram.conftest import Harness
from tests.telegram_server import SentMessage, SimUser

needs_alarms = pytest.mark.skipif(
    "alarm" not in __import__("handlers").build_registry().names(),
    reason="the /alarm command is not registered in this version",
)


async def chat_follows(bot: Harness, user: SimUser) -> list[tuple[str, str, str]]:
    from storage import follows
    from storage.accounts import touch_chat

    async with bot.app.services.db.session() as session:
        chat = await touch_chat(session, "telegram", str(user.id), kind="private")
        rows = await follows.chat_follows(session, chat.id)
    return [(f.symbol, f.timeframe, f.strategy) for f in rows]


async def test_follow_wizard_with_buttons(bot: Harness) -> None:
    alice = bot.user("Alice", 1001)
    [prompt] = await bot.say(alice, "/follow")
    assert "Follow signals (1/3)" in prompt.plain and "Which market?" in prompt.plain
    assert [b["text"] for b in prompt.buttons] == ["BTC", "ETH", "✖ Cancel"]
    await bot.press(alice, prompt, "ETH")
    assert "(2/3)" in prompt.plain and "ETH/USDT: signals of which timeframe?" in prompt.plain
    assert [b["text"] for b in prompt.buttons][:3] == ["Every timeframe", "1h", "4h"]
    await bot.press(alice, prompt, "4h")
    assert "(3/3)" in prompt.plain
    [done] = await bot.press(alice, prompt, "rsi", count=1)
    assert "Following ETH/USDT · 4h · rsi" in done.plain
    assert prompt.buttons == [] and "/follow ETH/USDT 4h rsi" in prompt.plain
    assert await chat_follows(bot, alice) == [("ETH/USDT", "4h", "rsi")]
    assert len(bot.server.sent_to(alice.id)) == 2  # the prompt was edited in place


async def test_follow_wizard_typed_with_bad_input(bot: Harness) -> None:
    alice = bot.user("Alice", 1001)
    await bot.say(alice, "/follow")
    [again] = await bot.say(alice, "XYZQ")
    assert "I don't know the market XYZQ/USDT" in again.plain and "(1/3)" in again.plain
    [again] = await bot.say(alice, "<b>")
    assert "is not a market symbol" in again.plain and "<b>" in again.plain
    [step2] = await bot.say(alice, "btc")
    assert "BTC/USDT: signals of which timeframe?" in step2.plain
    [again] = await bot.say(alice, "3h")
    assert "“3h” is not a timeframe" in again.plain and "(2/3)" in again.plain
    [step3] = await bot.say(alice, "any")
    assert "(3/3)" in step3.plain
    [again] = await bot.say(alice, "magic")
    assert "is not valid here" in again.plain
    [done] = await bot.say(alice, "pulsewave")
    assert "Following BTC/USDT" in done.plain
    assert await chat_follows(bot, alice) == [("BTC/USDT", "*", "pulsewave")]


@pytest.mark.parametrize("how", ["button", "/cancel", "typed"])
@pytest.mark.parametrize("step", [0, 1, 2])
async def test_follow_wizard_cancels_at_every_step(bot: Harness, how: str, step: int) -> None:
    alice = bot.user("Alice", 1001)
    [prompt] = await bot.say(alice, "/follow")
    for answer in ("BTC", "1h")[:step]:
        await bot.press(alice, prompt, answer)
    if how == "button":
        await bot.press(alice, prompt, "✖ Cancel")
        assert prompt.plain == "Cancelled: nothing was changed." and prompt.buttons == []
    else:
        [said] = await bot.say(alice, "/cancel" if how == "/cancel" else "cancel")
        assert said.plain == "Cancelled: nothing was changed."
    assert await chat_follows(bot, alice) == []
    [nothing] = await bot.say(alice, "/cancel")
    assert nothing.plain == "There is nothing to cancel."


async def test_a_command_ends_the_wizard_and_stale_buttons_close(bot: Harness) -> None:
    alice = bot.user("Alice", 1001)
    [prompt] = await bot.say(alice, "/follow")
    [price] = await bot.say(alice, "/price BTC")
    assert "BTC/USDT" in price.plain
    [reply] = await bot.say(alice, "ETH")  # no wizard any more: just a (bad) command
    assert "There is no command /eth" in reply.plain
    update = await bot.server.press_button(alice, prompt, text="ETH")
    await bot.idle()
    assert bot.server.callback_answer(update).text == "That question is closed."
    assert bot.server.callback_answer(update).show_alert


async def test_wizard_in_a_group_is_for_admins(bot: Harness) -> None:
    owner = bot.user("Owner", 3001)
    member = bot.user("Member", 3002)
    group = bot.server.group(-1003, "Traders", {owner.id: "creator", member.id: "member"})
    [refused] = await bot.say(member, "/follow@pulsewave_bot", chat=group)
    assert refused.plain == "Only the chat's admins can change what this chat follows."
    [prompt] = await bot.say(owner, "/follow@pulsewave_bot", chat=group)
    assert "Reply to this message" in prompt.plain
    await bot.press(owner, prompt, "BTC")
    before = len(bot.server.sent_to(group.id))
    await bot.server.send_text(owner, "4h", chat=group, reply_to=prompt)
    [step3] = (await bot.server.wait_for_messages(group.id, before + 1))[before:]
    assert "(3/3)" in step3.plain
    [done] = await bot.press(owner, step3, "ma_cross", count=1)
    assert "Following BTC/USDT · 4h · ma_cross" in done.plain


async def alarm_prompt(bot: Harness, user: SimUser) -> SentMessage:
    [prompt] = await bot.say(user, "/alarm")
    assert "New alarm (1/3)" in prompt.plain
    return prompt


@needs_alarms
async def test_alarm_wizard_price_and_change(bot: Harness) -> None:
    alice = bot.user("Alice", 1001)
    prompt = await alarm_prompt(bot, alice)
    await bot.press(alice, prompt, "BTC")
    assert "BTC/USDT: alert me when the price…" in prompt.plain
    await bot.press(alice, prompt, "⬆️ rises to")
    assert "BTC/USDT is at 84,349.94 now. At what price?" in prompt.plain
    [again] = await bot.say(alice, "lots")
    assert "is not a number" in again.plain and "(3/3)" in again.plain
    [done] = await bot.say(alice, "90k")
    assert "Alarm #1 set" in done.plain
    prompt = await alarm_prompt(bot, alice)
    await bot.press(alice, prompt, "ETH")
    await bot.press(alice, prompt, "📊 moves by %")
    [done] = await bot.press(alice, prompt, "5%", count=1)
    assert "Alarm #2 set" in done.plain
    [listing] = await bot.say(alice, "/alarms")
    assert "#1" in listing.plain and "#2" in listing.plain


@needs_alarms
@pytest.mark.parametrize("step", [0, 1, 2])
async def test_alarm_wizard_cancels_at_every_step(bot: Harness, step: int) -> None:
    alice = bot.user("Alice", 1001)
    prompt = await alarm_prompt(bot, alice)
    for answer in ("BTC", "↕️ crosses")[:step]:
        await bot.press(alice, prompt, answer)
    await bot.press(alice, prompt, "✖ Cancel")
    assert prompt.plain == "Cancelled: nothing was changed."
    [listing] = await bot.say(alice, "/alarms")
    assert "no alarms yet" in listing.plain
