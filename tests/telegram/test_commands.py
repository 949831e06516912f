"""Scripted conversations with the real bot: commands, the menu, languages, charts."""

from __future__ import annotations

from handlers.i18n import SUPPORTED_LANGUAGES, Translator
from handlers.reply import Document, Reply
from tests.telegram.conftest import ADMIN_ID, Harness
from tests.telegram_server import parse_html, png_bytes

APOLOGY = "something went wrong"


async def test_start_menu_and_command_lists(bot: Harness) -> None:
    alice = bot.user("Alice", 1001)
    [welcome] = await bot.say(alice, "/start")
    assert "Welcome to PulseWave, Alice!" in welcome.plain
    assert "not financial advice" in welcome.plain
    assert welcome.plain.startswith("🧪 DEMO · replayed market at")
    labels = [b["text"] for b in welcome.buttons]
    assert {"English", "Bahasa Indonesia", "Türkçe"} <= set(labels)
    assert {"💰 BTC price", "📈 BTC chart", "🔔 Alarms", "📋 Signals", "❓ Help"} <= set(labels)
    assert all(len(d.encode()) <= 64 for d in welcome.callback_data)

    server = bot.server
    registry = bot.app.services.registry
    public = [c.name for c in registry.visible(False)]
    assert [c["command"] for c in server.commands_for()] == public
    for code in SUPPORTED_LANGUAGES:
        listed = server.commands_for("default", code)
        assert [c["command"] for c in listed] == public
        tr = Translator(code)
        assert listed[0]["description"] == tr.gettext(registry.find(public[0]).summary)
    indonesian = {c["command"]: c["description"] for c in server.commands_for("default", "id")}
    english = {c["command"]: c["description"] for c in server.commands_for()}
    assert indonesian["price"] != english["price"]

    [linked] = await bot.say(alice, "/start campaign42")  # a deep link's payload
    assert "Welcome to PulseWave, Alice!" in linked.plain
    [menu_price] = await bot.press(alice, welcome, "💰 BTC price", count=1)
    assert "BTC/USDT" in menu_price.plain and "24h change" in menu_price.plain


async def test_every_command_in_the_registry_answers(bot: Harness) -> None:
    admin = bot.user("Root", ADMIN_ID)
    for command in bot.app.services.registry.commands:
        lines = list(command.examples) or [f"/{command.name}"]
        for line in lines:
            replies = await bot.say(admin, line)
            await bot.idle()
            assert replies[0].plain, line
            for message in bot.server.sent_to(admin.id)[-3:]:
                assert APOLOGY not in (message.plain or ""), (line, message.plain)
    errors = [r for r in bot.server.requests if r.status >= 400 and r.method != "getUpdates"]
    assert errors == []


async def test_languages_from_language_code_until_lang(bot: Harness) -> None:
    budi = bot.user("Budi", 2001, language_code="id")
    ayse = bot.user("Ayse", 2002, language_code="tr-TR")
    for person, code in ((budi, "id"), (ayse, "tr")):
        tr = Translator(code)
        [welcome] = await bot.say(person, "/start")
        assert (
            tr.gettext("👋 Welcome to PulseWave, {name}!", name=person.first_name) in welcome.plain
        )
        [price] = await bot.say(person, "/price BTC")
        assert tr.gettext("24h change") in price.plain
        assert "84.349,94" in price.plain  # their number format
    [switched] = await bot.say(budi, "/lang en")
    assert switched.plain.endswith("Language set to English.")
    [price] = await bot.say(budi, "/price BTC")
    assert "24h change" in price.plain and "84,349.94" in price.plain
    # a language button of /lang edits the question in place
    [question] = await bot.say(ayse, "/lang")
    await bot.press(ayse, question, "English")
    assert "Language set to English." in question.plain and question.edited


async def test_chart_switcher_edits_the_photo_in_place(bot: Harness) -> None:
    alice = bot.user("Alice", 1001)
    [chart] = await bot.say(alice, "/chart BTC")
    assert chart.photo_file_id and chart.uploaded
    assert bot.server.chat_actions == [(alice.id, "upload_photo")]  # while it is drawn
    assert "BTC/USDT · 1h" in chart.caption
    assert "• 1h" in [b["text"] for b in chart.buttons]
    uploads = len(bot.server.uploads)
    await bot.press(alice, chart, "4h")
    assert chart.edited and "BTC/USDT · 4h" in (chart.plain or "")
    assert "• 4h" in [b["text"] for b in chart.buttons]
    assert [e.method for e in bot.server.edits] == ["editMessageMedia"]
    assert len(bot.server.sent_to(alice.id)) == 1  # no new message
    assert len(bot.server.uploads) == uploads + 1
    await bot.press(alice, chart, "1h")  # drawn before: sent again by its file id
    assert len(bot.server.uploads) == uploads + 1
    assert "BTC/USDT · 1h" in (chart.plain or "")
    await bot.press(alice, chart, "• 1h")  # the same picture: "not modified" is fine
    assert len(bot.server.sent_to(alice.id)) == 1


async def test_price_refresh_and_chart_button(bot: Harness) -> None:
    alice = bot.user("Alice", 1001)
    [price] = await bot.say(alice, "/price eth")
    assert bot.server.chat_actions == []  # nothing drawn: no "sending a photo…"
    answers = len(bot.server.callback_answers)
    await bot.press(alice, price, "🔄 Refresh")  # a frozen market: same text, no error
    assert len(bot.server.callback_answers) == answers + 1
    assert len(bot.server.sent_to(alice.id)) == 1
    [chart] = await bot.press(alice, price, "📈 Chart", count=1)
    assert chart.photo_file_id and "ETH/USDT · 1h" in (chart.caption or "")


async def test_user_input_is_escaped_and_errors_are_explained(bot: Harness) -> None:
    alice = bot.user("Alice", 1001)
    [reply] = await bot.say(alice, "/price <b>&amp;</b>")
    assert "<b>&amp;</b>" in reply.plain or "&lt;b&gt;" in reply.text
    assert "is not a market symbol" in reply.plain and "Usage: /price SYMBOL" in reply.plain
    parse_html(reply.text)  # well-formed
    [unknown] = await bot.say(alice, "/prcie BTC")
    assert "Did you mean /price?" in unknown.plain
    [plain_text] = await bot.say(alice, "price btc")  # no slash in a private chat
    assert "BTC/USDT" in plain_text.plain
    await bot.server.send_photo(alice, png_bytes(8, 8))
    await bot.server.wait_for_messages(alice.id, 4)
    assert "text commands only" in bot.server.last_sent(alice.id).plain


async def test_long_replies_are_split(bot: Harness) -> None:
    """A reply beyond 4,096 characters goes out as several valid messages."""
    alice = bot.user("Alice", 1001)
    await bot.say(alice, "/help")
    presenter = bot.app.telegram.presenter
    text = "\n".join(f"{n:04d} <{'x' * 60}>" for n in range(300))
    sent = await presenter.send(alice.id, Reply(title="Long", text=text), kind="private")
    assert len(sent) == 5
    shown = [m.plain for m in bot.server.sent_to(alice.id)[-5:]]
    assert "\n".join(shown) == "Long\n" + text
    document = Reply(title="Export", document=Document(b"a,b\n1,2\n", "trades.csv", "text/csv"))
    [sent] = await presenter.send(alice.id, document, kind="private")
    record = bot.server.sent_to(alice.id)[-1]
    assert record.document_name == "trades.csv" and record.plain == "Export"
    assert bot.server.file_content(record.document_file_id) == b"a,b\n1,2\n"
    del sent
