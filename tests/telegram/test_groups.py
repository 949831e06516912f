"""Groups and supergroups: commands addressed to the bot, admins and members."""

from __future__ import annotations

from handlers.i18n import Translator
from tests.telegram.conftest import Harness
from tests.telegram.test_wizards import needs_alarms


async def test_group_commands_and_admin_rights(bot: Harness) -> None:
    owner = bot.user("Owner", 3001)
    admin = bot.user("Admin", 3002)
    member = bot.user("Member", 3003, language_code="id")
    group = bot.server.group(
        -1001234,
        "Traders <&>",
        {owner.id: "creator", admin.id: "administrator", member.id: "member"},
        kind="supergroup",
    )
    [price] = await bot.say(member, "/price@pulsewave_bot BTC", chat=group)
    assert "BTC/USDT" in price.plain
    assert price.reply_to_message_id is not None  # answers the command it was given
    [refused] = await bot.say(member, "/follow@pulsewave_bot BTC", chat=group)
    indonesian = Translator("id")
    assert indonesian.gettext("Only the chat's admins can change what this chat follows.") in (
        refused.plain
    )
    [followed] = await bot.say(admin, "/follow@pulsewave_bot BTC 4h", chat=group)
    assert "Following BTC/USDT · 4h · pulsewave" in followed.plain
    [listing] = await bot.say(member, "/following@pulsewave_bot", chat=group)
    assert "BTC/USDT" in listing.plain and listing.buttons == []  # members see no buttons
    [listing] = await bot.say(owner, "/following", chat=group)
    assert listing.buttons  # admins may unfollow from the list
    # a member pressing an admin's button is refused in an alert
    update = await bot.server.press_button(member, listing, text="BTC/USDT")
    await bot.idle()
    answer = bot.server.callback_answer(update)
    assert answer is not None and answer.show_alert and "admin" in (answer.text or "")
    checks = bot.server.count("getChatMember")
    await bot.say(admin, "/price BTC", chat=group)
    assert bot.server.count("getChatMember") == checks  # cached


async def test_commands_for_other_bots_are_ignored(bot: Harness) -> None:
    owner = bot.user("Owner", 3001)
    group = bot.server.group(
        -1005678, "Open", {owner.id: "creator"}, kind="supergroup", bot_status="administrator"
    )  # an admin bot sees every message
    await bot.server.send_text(owner, "/price@other_bot BTC", chat=group)
    await bot.server.send_text(owner, "hello everyone", chat=group)
    await bot.idle()
    assert bot.server.sent_to(group.id) == []
    [reply] = await bot.say(owner, "/price btc", chat=group)
    assert "BTC/USDT" in reply.plain


@needs_alarms
async def test_group_alarms_are_for_admins(bot: Harness) -> None:
    owner = bot.user("Owner", 3001)
    member = bot.user("Member", 3003)
    group = bot.server.group(-1009, "Whales", {owner.id: "creator", member.id: "member"})
    [refused] = await bot.say(member, "/alarm BTC above 90000", chat=group)
    assert "Only the chat's admins can change this chat's alarms." in refused.plain
    [refused] = await bot.say(member, "/alarm", chat=group)
    assert "Only the chat's admins" in refused.plain
    [made] = await bot.say(owner, "/alarm BTC above 90000", chat=group)
    assert "Alarm #1 set" in made.plain
    [listing] = await bot.say(member, "/alarms", chat=group)
    assert "#1" in listing.plain and listing.buttons == []
    [refused] = await bot.say(member, "/delalarm 1", chat=group)
    assert "Only the chat's admins" in refused.plain
