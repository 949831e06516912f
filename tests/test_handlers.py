"""Commands end to end through the dispatcher with the real services
(SQLite, replayed market frozen at 2025-03-01 00:00 UTC)."""

import pytest
from sqlalchemy import func, select

from handlers.dispatch import dispatch
from handlers.reply import Tone
from storage.models import User
from tests.helpers import png_size, raw_rows

HOSTILE = [
    "/price",
    "/price ''",
    "/price BTC ETH",
    "/price '; DROP TABLE users;--",
    "/price <b>BTC</b>",
    "/price ₿",
    "/price " + "A" * 5000,
    "/chart BTC 999h",
    "/chart BTC 4h extra words",
    "/chart",
    "/lang xx",
    "/lang ' OR 1=1 --",
    "/help nosuchcommand",
    "/" + "x" * 300,
    "/price\x00BTC",
    "/price 🚀🚀🚀",
    "/price 1e400",
    "/ price",
    "/price BTC\u202eDSU",
    "/price" + " " * 5000 + "BTC",
]


async def test_price_reply(make_context):
    ctx = await make_context()
    reply = await dispatch(ctx, "/price btc")
    assert reply.tone in (Tone.UP, Tone.DOWN)
    last = next(r for r in raw_rows("BTC_USDT-5m.csv.gz") if r[0] == 1740786900000)[4]
    assert reply.title.endswith(ctx.tr.price(last))
    assert reply.demo and "DEMO" in reply.demo
    assert [f.name for f in reply.fields] == [
        "24h change",
        "24h high",
        "24h low",
        "24h volume",
        "Data age",
    ]
    assert reply.buttons[0][1].action == "chart BTC/USDT 1h"


async def test_chart_reply_is_a_png_with_timeframe_buttons(make_context):
    ctx = await make_context()
    reply = await dispatch(ctx, "/chart eth-usdt 4h")
    assert not reply.is_error, reply.text
    assert png_size(reply.image.png) == (1200, 800)
    assert reply.title == "ETH/USDT · 4h"
    labels = [b.label for b in reply.buttons[0]]
    assert "• 4h" in labels and "1d" in labels
    again = await dispatch(ctx, "/chart ETH 4h")
    assert again.image.cache_key == reply.image.cache_key  # rendered once, reused


async def test_default_timeframe_is_1h(make_context):
    reply = await dispatch(await make_context(), "/chart BTC")
    assert reply.title == "BTC/USDT · 1h"


@pytest.mark.parametrize("text", HOSTILE)
async def test_hostile_input_gets_a_clear_error_and_changes_nothing(make_context, services, text):
    ctx = await make_context()
    async with services.db.session() as session:
        before = (await session.execute(select(func.count()).select_from(User))).scalar_one()
    reply = await dispatch(ctx, text)
    assert reply is not None and reply.is_error
    assert "went wrong" not in reply.text  # a validation message, not a crash
    assert len(reply.text) < 600
    async with services.db.session() as session:
        after = (await session.execute(select(func.count()).select_from(User))).scalar_one()
        user = await session.get(User, ctx.user.id)
    assert after == before and user.language is None


async def test_errors_show_usage_and_example(make_context):
    reply = await dispatch(await make_context(), "/chart BTC 2h")
    assert "“2h” is not a timeframe" in reply.text
    assert "Usage: /chart SYMBOL [TF]" in reply.text
    assert "Example: /chart BTC" in reply.text


async def test_unknown_symbol_lists_close_matches(make_context):
    reply = await dispatch(await make_context(), "/price ETC")
    assert reply.text.startswith("I don't know the market ETC/USDT. Did you mean: ")
    assert "ETH/USDT" in reply.text


async def test_unknown_command_suggests(make_context):
    reply = await dispatch(await make_context(), "/prise BTC")
    assert reply.text == "There is no command /prise. Did you mean /price?"


async def test_empty_input_is_ignored(make_context):
    assert await dispatch(await make_context(), "   ") is None


async def test_help_lists_every_command_and_details_one(make_context, services):
    ctx = await make_context()
    listing = await dispatch(ctx, "/help")
    for command in services.registry.commands:
        assert command.usage in listing.text
    detail = await dispatch(ctx, "/help /chart")
    assert detail.title == "/chart"
    assert "Usage: /chart SYMBOL [TF]" in detail.text
    assert "/chart ETH 4h" in detail.text


async def test_start_has_disclaimer_language_and_menu_buttons(make_context):
    reply = await dispatch(await make_context(), "/start")
    assert "not financial advice" in reply.text
    actions = [b.action for row in reply.buttons for b in row]
    assert {"lang en", "lang id", "lang tr", "price BTC", "chart BTC", "help"} <= set(actions)


async def test_a_crashing_handler_gives_an_error_id(make_context, services, monkeypatch):
    async def broken(symbol):
        raise RuntimeError("boom")

    monkeypatch.setattr(services.market, "ticker", broken)
    reply = await dispatch(await make_context(), "/price BTC")
    assert reply.is_error and "error id" in reply.text


async def test_registry_contract(services):
    for command in services.registry.commands:
        assert command.summary and command.examples, command.name
        for example in command.examples:
            assert example.startswith(f"/{command.name}")
    assert {"start", "help", "lang", "price", "chart"} <= set(services.registry.names())


async def test_every_example_runs_without_error(make_context, services):
    ctx = await make_context()
    for command in services.registry.commands:
        for example in command.examples:
            reply = await dispatch(ctx, example)
            assert not reply.is_error, (example, reply.text)
