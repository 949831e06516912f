"""/analyze, /signals, /follow, /unfollow, /following through the dispatcher."""

from __future__ import annotations

import pytest

from handlers.dispatch import dispatch
from handlers.scan import ScanState, scan
from storage import follows
from tests.helpers import png_size


async def test_analyze_shows_regime_readings_levels_setup_and_a_chart(make_context):
    ctx = await make_context()
    reply = await dispatch(ctx, "/analyze BTC 4h")
    assert not reply.is_error, reply.plain_text()
    names = [f.name for f in reply.fields]
    for name in ("Regime", "RSI 14", "MACD", "Bollinger %B", "Supports", "Resistances", "Setup"):
        assert name in names
    regime = next(f.value for f in reply.fields if f.name == "Regime")
    assert regime.split(" ")[0] in ("BULL", "BEAR", "SIDEWAYS", "TRANSITION")
    assert "confidence" in regime
    supports = next(f.value for f in reply.fields if f.name == "Supports")
    assert "strength" in supports
    assert png_size(reply.image.png) == (1200, 800)
    assert [b.action for b in reply.buttons[0]] == ["follow BTC/USDT 4h", "signals BTC/USDT"]


async def test_analyze_in_indonesian(make_context):
    ctx = await make_context(language_hint="id")
    reply = await dispatch(ctx, "/analyze ETH")
    assert "Rezim" in [f.name for f in reply.fields]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/analyze", "Missing SYMBOL"),
        ("/analyze BTC 9h", "is not a timeframe"),
        ("/analyze DOGEZ", "I don't know the market"),
        ("/follow BTC 9h", "is not a timeframe"),
        ("/follow BTC 1h foo", "is not valid here"),
        ("/follow BTC 1h rsi extra", "Too many arguments"),
        ("/unfollow BTC", "does not follow"),
    ],
)
async def test_bad_input_is_explained_and_changes_nothing(make_context, services, text, expected):
    ctx = await make_context()
    reply = await dispatch(ctx, text)
    assert reply.is_error and expected in reply.text
    async with services.db.session() as session:
        assert await follows.chat_follows(session, ctx.chat.id) == []


async def test_follow_list_and_unfollow(make_context, services):
    ctx = await make_context()
    assert (
        "Following BTC/USDT · every timeframe · pulsewave"
        in (await dispatch(ctx, "/follow btc")).title
    )
    assert "ETH/USDT · 4h · rsi" in (await dispatch(ctx, "/follow eth-usdt 4h rsi")).title
    assert "already follows" in (await dispatch(ctx, "/follow BTC")).text
    assert "ut_bot" in (await dispatch(ctx, "/follow BTC ut_bot")).title  # TF left out
    listing = await dispatch(ctx, "/following")
    assert listing.title == "Following (3)"
    actions = [row[0].action for row in listing.buttons]
    assert actions == [
        "unfollow BTC/USDT pulsewave",
        "unfollow BTC/USDT ut_bot",
        "unfollow ETH/USDT 4h rsi",
    ]
    reply = await dispatch(ctx, "/" + actions[2])  # pressing the button
    assert reply.text == "Stopped 1 follow of ETH/USDT."
    assert (await dispatch(ctx, "/unfollow BTC")).text == "Stopped 2 follows of BTC/USDT."
    assert "follows no signals" in (await dispatch(ctx, "/following")).text


async def test_group_members_who_are_not_admins_cannot_change_follows(make_context, services):
    admin = await make_context(user_id="1", chat_id="-100", kind="supergroup", manages_chat=True)
    member = await make_context(user_id="2", chat_id="-100", kind="supergroup")
    assert not (await dispatch(admin, "/follow BTC")).is_error
    refused = await dispatch(member, "/unfollow BTC")
    assert refused.is_error and "admins" in refused.text
    listing = await dispatch(member, "/following")  # anyone may look
    assert listing.title == "Following (1)" and listing.buttons == []


async def test_follow_limit(make_context, services):
    ctx = await make_context()
    limit = services.config.max_follows_per_chat
    async with services.db.session() as session:
        for i in range(limit):
            await follows.add_follow(session, ctx.chat.id, "BTC/USDT", "*", f"s{i}")
    reply = await dispatch(ctx, "/follow ETH")
    assert reply.is_error and str(limit) in reply.text


async def test_signals_lists_recent_signals_and_the_track_record(make_context, services):
    ctx = await make_context()
    assert "No signals yet" in (await dispatch(ctx, "/signals")).text
    await scan(services, "1h", ScanState())  # records the watchlist's history
    reply = await dispatch(ctx, "/signals BTC")
    assert not reply.is_error
    lines = reply.text.splitlines()
    assert 0 < len(lines) <= 8 and all("BTC/USDT 1h" in line for line in lines)
    assert reply.fields[0].name == "Track record"
    assert "closed signals only" in reply.footer
