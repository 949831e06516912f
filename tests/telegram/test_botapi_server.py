"""The local Bot API server (tests/telegram_server/), driven by aiogram's real client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiogram import Bot, Dispatcher, F
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.filters import Command, CommandStart
from aiogram.types import (
    BotCommand,
    BotCommandScopeAllGroupChats,
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaPhoto,
    LabeledPrice,
    Message,
)
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web

from tests.telegram_server import (
    EntityParseError,
    TelegramServer,
    parse_html,
    parse_markdown_v2,
    png_bytes,
    utf16_len,
)

PNG = png_bytes(64, 48)


async def close(bot: Bot) -> None:
    """Close the bot's HTTP session (`AiohttpSession.close()` also sleeps 0.25 s for TLS
    connections to wind down, of which there are none here)."""
    await (await bot.session.create_session()).close()


def keyboard(*pairs: tuple[str, str]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text=t, callback_data=d) for t, d in pairs]]
    )


@pytest.fixture
async def server() -> AsyncIterator[TelegramServer]:
    async with TelegramServer(bot_username="pulsewave_bot") as telegram:
        yield telegram


@pytest.fixture
async def bot(server: TelegramServer) -> AsyncIterator[Bot]:
    session = AiohttpSession(api=TelegramAPIServer.from_base(server.base_url))
    client = Bot(server.token, session=session)
    yield client
    await close(client)


@pytest.fixture
def alice(server: TelegramServer) -> int:
    user = server.user(1001, "Alice", username="alice", language_code="en")
    return server.private_chat(user).id


async def start_http(handler: Any, path: str = "/hook") -> tuple[web.AppRunner, str]:
    app = web.Application()
    app.router.add_post(path, handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}{path}"


# -- basics ------------------------------------------------------------------------------------


async def test_get_me_and_wrong_token(server: TelegramServer, bot: Bot) -> None:
    me = await bot.get_me()
    assert (me.id, me.username, me.is_bot) == (server.bot_id, "pulsewave_bot", True)

    other = Bot("42:wrong", session=AiohttpSession(api=server.api_server()))
    with pytest.raises(TelegramUnauthorizedError):
        await other.get_me()
    await close(other)
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{server.base_url}/bot{server.token}/noSuchMethod") as response,
    ):
        assert response.status == 404
        assert await response.json() == {"ok": False, "error_code": 404, "description": "Not Found"}
        async with http.post(  # curl-style JSON bodies work too
            f"{server.base_url}/bot{server.token}/sendMessage",
            json={"chat_id": 5, "text": "hi", "reply_markup": {"inline_keyboard": []}},
        ) as response:
            body = await response.json()
            assert (response.status, body["description"]) == (400, "Bad Request: chat not found")
    assert [(r.method, r.status) for r in server.requests] == [
        ("getMe", 200),
        ("getMe", 401),
        ("noSuchMethod", 404),
        ("sendMessage", 400),
    ]


async def test_send_message_html_and_its_errors(
    server: TelegramServer, bot: Bot, alice: int
) -> None:
    sent = await bot.send_message(
        alice,
        "<b>BTC</b> is up &amp; <i>rising</i> 🚀 <a href='https://example.com'>chart</a>",
        parse_mode="HTML",
        reply_markup=keyboard(("Refresh", "refresh:BTC")),
    )
    assert sent.text == "BTC is up & rising 🚀 chart"
    assert [(e.type, e.offset, e.length) for e in sent.entities or []] == [
        ("bold", 0, 3),
        ("italic", 12, 6),
        ("text_link", 22, 5),  # the rocket counts twice (UTF-16)
    ]
    assert sent.reply_markup.inline_keyboard[0][0].callback_data == "refresh:BTC"
    assert (sent.chat.id, sent.chat.first_name, sent.from_user.id) == (
        alice,
        "Alice",
        server.bot_id,
    )
    record = server.sent_to(alice)[0]
    assert record.text.startswith("<b>BTC</b>") and record.parse_mode == "HTML"
    assert record.reply_markup == {
        "inline_keyboard": [[{"text": "Refresh", "callback_data": "refresh:BTC"}]]
    }

    for bad, reason in [
        ("<b>bold</i>", 'Unmatched end tag at byte offset 7, expected "</b>", found "</i>"'),
        ("<div>x</div>", 'Unsupported start tag "div" at byte offset 0'),
        ("<b>open", 'Can\'t find end tag corresponding to start tag "b"'),
        ("1 <br> 2", 'Unsupported start tag "br" at byte offset 2'),
    ]:
        with pytest.raises(TelegramBadRequest) as error:
            await bot.send_message(alice, bad, parse_mode="HTML")
        assert error.value.message == f"Bad Request: can't parse entities: {reason}"

    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await bot.send_message(alice, "x" * 4097)
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await bot.send_message(alice, "🚀" * 2049)  # 4098 UTF-16 units
    await bot.send_message(alice, "<b>" + "x" * 4096 + "</b>", parse_mode="HTML")  # tags are free
    with pytest.raises(TelegramBadRequest, match="message text is empty"):
        await bot.send_message(alice, "<b> </b>", parse_mode="HTML")
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await bot.send_message(999, "hello")
    with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
        await bot.send_message(alice, "x", reply_markup=keyboard(("Go", "d" * 65)))
    with pytest.raises(TelegramBadRequest, match=r"Character '\.' is reserved"):
        await bot.send_message(alice, "Price: 1.5", parse_mode="MarkdownV2")
    assert len(server.sent_to(alice)) == 2


def test_entity_parsers() -> None:
    assert parse_html("a &lt;b&gt; &#128640; &nbsp;") == ("a <b> 🚀 &nbsp;", [])
    text, entities = parse_html('<pre><code class="language-python">x = 1</code></pre>')
    assert (text, entities) == (
        "x = 1",
        [{"offset": 0, "length": 5, "type": "pre", "language": "python"}],
    )
    assert parse_html('<span class="tg-spoiler">s</span>')[1][0]["type"] == "spoiler"
    text, entities = parse_markdown_v2(r"*BTC* _up_ 1\.5% [link](https://x\.y)")
    assert text == "BTC up 1.5% link"
    assert [e["type"] for e in entities] == ["bold", "italic", "text_link"]
    assert utf16_len("a🚀") == 3
    with pytest.raises(EntityParseError, match='Unsupported start tag "" at byte offset 6'):
        parse_html("price < 5")  # a bare "<" must be written &lt;


# -- files -------------------------------------------------------------------------------------


async def test_photo_upload_then_file_id(server: TelegramServer, bot: Bot, alice: int) -> None:
    first = await bot.send_photo(
        alice,
        BufferedInputFile(PNG, filename="chart.png"),
        caption="<b>BTC</b> 4h",
        parse_mode="HTML",
    )
    assert first.caption == "BTC 4h"
    largest = first.photo[-1]
    assert (largest.width, largest.height, largest.file_size) == (64, 48, len(PNG))
    second = await bot.send_photo(alice, largest.file_id, caption="again")
    assert second.photo[-1].file_id == largest.file_id
    assert [m.uploaded for m in server.sent_to(alice)] == [True, False]
    assert len(server.uploads) == 1 and server.uploads[0].size == len(PNG)
    assert server.uploads[0].file_name == "chart.png"

    with pytest.raises(TelegramBadRequest, match="IMAGE_PROCESS_FAILED"):
        await bot.send_photo(alice, BufferedInputFile(b"not an image", filename="x.png"))
    with pytest.raises(TelegramBadRequest, match="wrong file identifier/HTTP URL specified"):
        await bot.send_photo(alice, "AgACAgIAAxkBAAIunknown")
    with pytest.raises(TelegramBadRequest, match="message caption is too long"):
        await bot.send_photo(alice, largest.file_id, caption="c" * 1025)
    assert len(server.uploads) == 1


async def test_edit_message_media_and_other_edits(
    server: TelegramServer, bot: Bot, alice: int
) -> None:
    server.rate_limits.enabled = False  # more than 3 sends and edits in a second
    photo = await bot.send_photo(
        alice, BufferedInputFile(PNG, "a.png"), reply_markup=keyboard(("1h", "tf:1h"))
    )
    edited = await bot.edit_message_media(
        chat_id=alice,
        message_id=photo.message_id,
        media=InputMediaPhoto(media=BufferedInputFile(png_bytes(80, 60), "b.png"), caption="4h"),
        reply_markup=keyboard(("4h", "tf:4h")),
    )
    assert isinstance(edited, Message)
    assert edited.photo[-1].width == 80 and edited.caption == "4h"
    record = server.sent_to(alice)[0]
    assert record.edited and record.caption == "4h" and record.callback_data == ["tf:4h"]
    assert record.versions[0].photo_file_id == photo.photo[-1].file_id
    assert [e.method for e in server.edits] == ["editMessageMedia"]
    assert len(server.uploads) == 2

    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_caption(
            chat_id=alice,
            message_id=photo.message_id,
            caption="4h",
            reply_markup=keyboard(("4h", "tf:4h")),
        )
    await bot.edit_message_reply_markup(chat_id=alice, message_id=photo.message_id)
    assert server.sent_to(alice)[0].reply_markup is None

    text = await bot.send_message(alice, "v1", reply_markup=keyboard(("x", "x")))
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_text(
            "v1", chat_id=alice, message_id=text.message_id, reply_markup=keyboard(("x", "x"))
        )
    again = await bot.edit_message_text("v1", chat_id=alice, message_id=text.message_id)
    assert again.reply_markup is None  # an edit without reply_markup drops the keyboard
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await bot.edit_message_text("x", chat_id=alice, message_id=999)
    assert await bot.delete_message(alice, text.message_id)
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await bot.edit_message_text("v2", chat_id=alice, message_id=text.message_id)
    assert server.deleted == [(alice, text.message_id)]


async def test_user_document_is_downloadable(server: TelegramServer, bot: Bot, alice: int) -> None:
    await server.send_document(alice, "trades.csv", b"time,price\n1,100\n", caption="my trades")
    [update] = await bot.get_updates()
    document = update.message.document
    assert (document.file_name, document.mime_type, update.message.caption) == (
        "trades.csv",
        "text/csv",
        "my trades",
    )
    downloaded = await bot.download(document.file_id)
    assert downloaded is not None and downloaded.read() == b"time,price\n1,100\n"


# -- limits and faults ---------------------------------------------------------------------------


async def test_private_chat_rate_limit(server: TelegramServer, bot: Bot, alice: int) -> None:
    for n in range(3):  # the burst
        await bot.send_message(alice, f"#{n}")
    with pytest.raises(TelegramRetryAfter) as error:
        await bot.send_message(alice, "one too many")
    assert error.value.retry_after == 1
    assert "Too Many Requests: retry after 1" in error.value.message
    assert server.too_many_requests == 1 and server.too_many_requests_by_chat[alice] == 1
    assert len(server.sent_to(alice)) == 3


async def test_rate_limit_buckets_follow_the_clock() -> None:
    now = [1000.0]
    async with TelegramServer(clock=lambda: now[0]) as server:
        group = server.group(-100123, "Traders", {1: "creator"}, kind="supergroup").id
        users = [server.private_chat(server.user(i)).id for i in range(10, 45)]
        bot = server.make_bot()
        try:
            for n in range(20):
                await bot.send_message(group, f"#{n}")
            with pytest.raises(TelegramRetryAfter) as error:
                await bot.send_message(group, "21st in a minute")
            assert error.value.retry_after == 3  # 20/min: one token every 3 s
            now[0] += 3
            await bot.send_message(group, "after waiting")

            for chat in users[:29]:  # 1 + 29 = 30 this second
                await bot.send_message(chat, "hi")
            with pytest.raises(TelegramRetryAfter):
                await bot.send_message(users[29], "the 31st message this second")
            now[0] += 1
            await bot.send_message(users[29], "next second")

            server.rate_limits.enabled = False
            for chat in users:
                await bot.send_message(chat, "unlimited")
        finally:
            await close(bot)
    assert server.too_many_requests == 2


async def test_injected_faults(server: TelegramServer, bot: Bot, alice: int) -> None:
    server.fail_next("sendMessage", 502)
    with pytest.raises(TelegramServerError, match="Bad Gateway"):
        await bot.send_message(alice, "lost")
    server.fail_next("sendMessage", 429, retry_after=7, chat_id=alice)
    with pytest.raises(TelegramRetryAfter) as error:
        await bot.send_message(alice, "throttled")
    assert error.value.retry_after == 7
    server.fail_next("sendMessage", 500, disconnect=True)
    with pytest.raises(TelegramNetworkError):
        await bot.send_message(alice, "dropped")
    server.fail_next("sendMessage", 502, processed=True)  # sent, but the answer is lost
    with pytest.raises(TelegramServerError):
        await bot.send_message(alice, "delivered anyway")
    assert [m.plain for m in server.sent_to(alice)] == ["delivered anyway"]

    server.block_chat(alice)
    with pytest.raises(TelegramForbiddenError, match="bot was blocked by the user"):
        await bot.send_message(alice, "blocked")
    server.unblock_chat(alice)
    await bot.send_message(alice, "back")

    server.group(-500, "Old group", {1001: "creator"})
    server.migrate_group(-500, -1000000000500)
    with pytest.raises(TelegramMigrateToChat) as migrated:
        await bot.send_message(-500, "hi")
    assert migrated.value.migrate_to_chat_id == -1000000000500
    assert [(r.status) for r in server.calls("sendMessage")] == [502, 429, 0, 502, 403, 200, 400]


async def test_slow_answers_time_out(server: TelegramServer, alice: int) -> None:
    session = AiohttpSession(api=server.api_server(), timeout=0.1)
    bot = Bot(server.token, session=session)
    try:
        server.delay(0.3, method="sendMessage", times=1)
        with pytest.raises(TelegramNetworkError, match="timeout"):
            await bot.send_message(alice, "too slow")
        await server.wait_for(lambda: server.count("sendMessage", 499), what="the dropped call")
        assert server.sent_to(alice) == []  # the client had gone: not processed

        server.delay(0.3, method="sendMessage", times=1, after=True)
        with pytest.raises(TelegramNetworkError):
            await bot.send_message(alice, "sent, answer late")
        assert [m.plain for m in server.sent_to(alice)] == ["sent, answer late"]
    finally:
        await close(bot)


# -- updates ---------------------------------------------------------------------------------------


async def test_long_polling(server: TelegramServer, bot: Bot, alice: int) -> None:
    first = await server.send_text(alice, "/price BTC")
    [update] = await bot.get_updates(timeout=0)
    assert update.update_id == first
    message = update.message
    assert (message.text, message.from_user.first_name, message.chat.type) == (
        "/price BTC",
        "Alice",
        "private",
    )
    assert [(e.type, e.offset, e.length) for e in message.entities] == [("bot_command", 0, 6)]
    assert await bot.get_updates(offset=first + 1, timeout=0) == []
    assert server.pending_updates == 0

    poll = asyncio.create_task(bot.get_updates(offset=first + 1, timeout=10))
    await asyncio.sleep(0.05)
    group = server.group(-100777, "Traders", {1001: "member"}, kind="supergroup")
    assert await server.send_text(alice, "hello all", chat=group) is None  # privacy mode
    second = await server.send_text(alice, "/help@pulsewave_bot", chat=group)
    [update] = await asyncio.wait_for(poll, 2)  # woken at once, not after 10 s
    assert update.update_id == second
    assert update.message.entities[0].length == len("/help@pulsewave_bot")
    assert update.message.chat.title == "Traders"


async def test_dispatcher_answers_start_and_buttons(server: TelegramServer, bot: Bot) -> None:
    dispatcher = Dispatcher()

    @dispatcher.message(CommandStart())
    async def start(message: Message) -> None:
        await message.answer(
            f"Hi <b>{message.from_user.first_name}</b>!",
            parse_mode="HTML",
            reply_markup=keyboard(("Markets", "menu:markets")),
        )

    @dispatcher.callback_query(F.data == "menu:markets")
    async def markets(query: CallbackQuery) -> None:
        await query.answer("Loading…")
        await query.message.edit_text("BTC, ETH", reply_markup=None)

    bob = server.user(2002, "Bob", language_code="de")
    polling = asyncio.create_task(
        dispatcher.start_polling(
            bot, polling_timeout=1, handle_signals=False, close_bot_session=False
        )
    )
    try:
        await server.send_text(bob, "/start")
        [reply] = await server.wait_for_messages(bob.id, 1)
        assert reply.plain == "Hi Bob!" and reply.entities[0]["type"] == "bold"
        pressed = await server.press_button(bob, reply, "menu:markets")
        await server.wait_for(lambda: server.edits, what="the edit")
        await server.wait_idle()
        assert server.callback_answer(pressed).text == "Loading…"
        assert reply.plain == "BTC, ETH" and reply.versions[0].plain == "Hi Bob!"
    finally:
        await dispatcher.stop_polling()
        await polling


async def test_webhook_delivery_with_secret_and_retries(
    server: TelegramServer, bot: Bot, alice: int
) -> None:
    received: list[tuple[str | None, dict[str, Any]]] = []

    async def hook(request: web.Request) -> web.Response:
        received.append(
            (request.headers.get("X-Telegram-Bot-Api-Secret-Token"), await request.json())
        )
        return web.json_response({}, status=500 if len(received) == 1 else 200)

    runner, url = await start_http(hook)
    try:
        assert await bot.set_webhook(url, secret_token="s3cret-Token")
        with pytest.raises(TelegramConflictError):
            await bot.get_updates()
        update_id = await server.send_text(alice, "via webhook")
        await server.wait_for(lambda: len(received) == 2, what="a retried delivery")
        assert [r[0] for r in received] == ["s3cret-Token", "s3cret-Token"]
        assert received[1][1]["update_id"] == update_id
        assert received[1][1]["message"]["text"] == "via webhook"
        await server.wait_idle()
        info = await bot.get_webhook_info()
        assert (info.url, info.pending_update_count) == (url, 0)
        assert (
            info.last_error_message == "Wrong response from the webhook: 500 Internal Server Error"
        )
        assert await bot.delete_webhook()
        assert await bot.get_updates(timeout=0) == []
    finally:
        await runner.cleanup()


async def test_webhook_answer_is_executed(server: TelegramServer, bot: Bot, alice: int) -> None:
    dispatcher = Dispatcher()

    @dispatcher.message(Command("ping"))
    async def ping(message: Message) -> Any:
        return message.answer("pong")  # the method goes back in the webhook's answer

    handler = SimpleRequestHandler(dispatcher, bot, secret_token="abc", handle_in_background=False)
    runner, url = await start_http(handler.handle)
    try:
        await bot.set_webhook(url, secret_token="abc")
        await server.send_text(alice, "/ping")
        [reply] = await server.wait_for_messages(alice, 1)
        assert reply.plain == "pong"
        assert server.calls("sendMessage")[0].via == "webhook"
    finally:
        await runner.cleanup()


# -- bot settings, chats, payments ---------------------------------------------------------------


async def test_commands_per_scope_and_language(server: TelegramServer, bot: Bot) -> None:
    await bot.set_my_commands([BotCommand(command="start", description="Start")])
    await bot.set_my_commands(
        [BotCommand(command="start", description="Mulai")], language_code="id"
    )
    await bot.set_my_commands(
        [BotCommand(command="alerts", description="Group alerts")],
        scope=BotCommandScopeAllGroupChats(),
    )
    assert server.commands == {
        ("default", ""): [{"command": "start", "description": "Start"}],
        ("default", "id"): [{"command": "start", "description": "Mulai"}],
        ("all_group_chats", ""): [{"command": "alerts", "description": "Group alerts"}],
    }
    [command] = await bot.get_my_commands(language_code="id")
    assert command.description == "Mulai"
    await bot.delete_my_commands(language_code="id")
    assert await bot.get_my_commands(language_code="id") == []
    with pytest.raises(TelegramBadRequest, match="BOT_COMMAND_INVALID"):
        await bot.set_my_commands([BotCommand(command="Bad-Name", description="x")])


async def test_group_members_and_chat_info(server: TelegramServer, bot: Bot) -> None:
    server.group(
        -100200,
        "Whales",
        {1: "creator", 2: "administrator", 3: "member"},
        kind="supergroup",
        bot_status="administrator",
    )
    admins = await bot.get_chat_administrators(-100200)
    assert sorted(a.status for a in admins) == ["administrator", "administrator", "creator"]
    assert (await bot.get_chat_member(-100200, 3)).status == "member"
    assert (await bot.get_chat_member(-100200, server.bot_id)).status == "administrator"
    chat = await bot.get_chat(-100200)
    assert (chat.title, chat.type) == ("Whales", "supergroup")
    await bot.send_chat_action(-100200, "typing")
    assert server.chat_actions == [(-100200, "typing")]


async def test_stars_invoice_and_checkout(server: TelegramServer, bot: Bot, alice: int) -> None:
    invoice = await bot.send_invoice(
        alice,
        title="Pro",
        description="30 days of Pro",
        payload="pro-30",
        currency="XTR",
        prices=[LabeledPrice(label="Pro", amount=250)],
    )
    assert invoice.invoice.total_amount == 250
    update_id = await server.pre_checkout(alice, total_amount=250, payload="pro-30")
    query = server.updates[update_id]["pre_checkout_query"]
    assert await bot.answer_pre_checkout_query(query["id"], ok=True)
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await bot.answer_pre_checkout_query(query["id"], ok=True)
    await server.successful_payment(alice, total_amount=250, payload="pro-30", charge_id="ch1")
    updates = await bot.get_updates(offset=update_id + 1)
    assert updates[0].message.successful_payment.telegram_payment_charge_id == "ch1"
    assert await bot.refund_star_payment(alice, "ch1")
    assert [a.ok for a in server.pre_checkout_answers] == [True]
