"""/alarm, /alarms and /delalarm through the dispatcher with the real services
(SQLite, replayed market frozen at 2025-03-01 00:00 UTC, BTC at 84,349.94)."""

from __future__ import annotations

import dataclasses

import pytest

from engine.market.replay import ReplayFeed
from handlers.alarm_engine import alarm_service, at_candle_close
from handlers.dispatch import dispatch
from storage.models import Alarm
from tests.db_helpers import count, rows
from tests.helpers import raw_rows

BTC_NOW = next(r for r in raw_rows("BTC_USDT-5m.csv.gz") if r[0] == 1740786900000)[4]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("/alarm BTC above 90k", ("BTC/USDT", "above", 90_000, None, None, None)),
        ("/alarm btc-usdt below 70,000", ("BTC/USDT", "below", 70_000, None, None, None)),
        ("/alarm BTCUSDT cross 85000.5", ("BTC/USDT", "cross", 85_000.5, None, None, None)),
        ("/alarm BTC change 5%", ("BTC/USDT", "change", 5, "1h", None, None)),
        ("/alarm eth change 2.5 4h", ("ETH/USDT", "change", 2.5, "4h", None, None)),
        ("/alarm BTC rsi below 30", ("BTC/USDT", "indicator", 30, "1h", "rsi(14)", "below")),
        ("/alarm BTC RSI(7) ABOVE 70 4h", ("BTC/USDT", "indicator", 70, "4h", "rsi(7)", "above")),
        (
            "/alarm ETH ema(50) above 2k 1d",
            ("ETH/USDT", "indicator", 2000, "1d", "ema(50)", "above"),
        ),
        (
            "/alarm BTC macd_hist below -50 4h",
            ("BTC/USDT", "indicator", -50, "4h", "macd_hist", "below"),
        ),
        ("/alarm BTC bb_pct above 0.9", ("BTC/USDT", "indicator", 0.9, "1h", "bb_pct", "above")),
        (
            "/alarm BTC volume above 1.5k 1d",
            ("BTC/USDT", "indicator", 1500, "1d", "volume", "above"),
        ),
    ],
)
async def test_every_form_parses_and_is_stored(make_context, services, line, expected):
    ctx = await make_context()
    reply = await dispatch(ctx, line)
    assert not reply.is_error, reply.text
    (row,) = await rows(services.db, Alarm)
    stored = (row.symbol, row.kind, row.level, row.timeframe, row.indicator, row.direction)
    assert stored == expected
    assert (row.status, row.chat_id, row.created_by) == ("active", ctx.chat.id, ctx.user.id)
    assert row.reference is not None and row.reference > 0
    assert reply.title == f"🔔 Alarm #{row.id} set"
    assert [b.action for b in reply.buttons[0]] == [f"delalarm {row.id}", "alarms"]
    service = await alarm_service(services)
    assert service.armed(row.id)  # running at once, no restart needed


BAD = [
    ("/alarm", "Missing SYMBOL."),
    ("/alarm BTC", "Missing CONDITION."),
    ("/alarm BTC above", "Missing VALUE."),
    ("/alarm BTC above -5", "PRICE must be greater than zero."),
    ("/alarm BTC above 0", "PRICE must be greater than zero."),
    ("/alarm BTC above abc", "“abc” is not a number"),
    ("/alarm BTC above 1e400", "“1e400” is not a number"),
    ("/alarm BTC above 90000 now", "Too many arguments: “now”."),
    ("/alarm BTC above 50m", "more than 100 times away from the price of BTC/USDT"),
    ("/alarm BTC below 100", "more than 100 times away from the price of BTC/USDT"),
    ("/alarm BTC sideways 5", "“sideways” is not an alarm condition"),
    ("/alarm BTC 90000", "“90000” is not an alarm condition"),
    ("/alarm XYZ above 5", "I don't know the market XYZ/USDT"),
    ("/alarm BTC change 0", "is not a percentage between 0 and 100"),
    ("/alarm BTC change 500%", "is not a percentage between 0 and 100"),
    ("/alarm BTC change 0.01", "PCT must be at least 0.10%."),
    ("/alarm BTC change 5 2h", "“2h” is not a timeframe"),
    ("/alarm BTC change 5 4h more", "Too many arguments: “more”."),
    ("/alarm BTC rsi 30", "After rsi(14) write above or below and a value"),
    ("/alarm BTC rsi over 30", "After rsi(14) write above or below and a value"),
    ("/alarm BTC rsi above", "After rsi(14) write above or below and a value"),
    ("/alarm BTC rsi above 150", "RSI runs from 0 to 100"),
    ("/alarm BTC rsi above 70 4h extra", "Too many arguments: “extra”."),
    ("/alarm BTC rsi(1) above 50", "“rsi(1)” is not a valid indicator"),
    ("/alarm BTC ema above 50000", "“ema” is not a valid indicator"),
    ("/alarm BTC macd(5) above 1", "“macd(5)” is not a valid indicator"),
    ("/alarm BTC ema(50) above -1", "VALUE must be greater than zero."),
    ("/alarm BTC ema(50) above 10", "more than 100 times away"),
    ("/alarm ETH rsi above 70 1m", "ETH/USDT has no 1m data"),
]


@pytest.mark.parametrize(("line", "message"), BAD)
async def test_bad_input_says_what_is_wrong_and_creates_nothing(
    make_context, services, line, message
):
    reply = await dispatch(await make_context(), line)
    assert reply.is_error
    assert message in reply.text
    assert "went wrong" not in reply.text
    assert await count(services.db, Alarm) == 0


async def test_argument_errors_show_the_usage(make_context):
    reply = await dispatch(await make_context(), "/alarm BTC rsi over 30")
    assert "Usage: /alarm SYMBOL CONDITION VALUE…" in reply.text
    assert "Example: /alarm BTC above 70000" in reply.text


async def test_errors_are_in_the_users_language(make_context, services):
    reply = await dispatch(await make_context(language_hint="id"), "/alarm BTC above abc")
    assert reply.is_error
    assert "is not a number" not in reply.text  # the Indonesian catalogue's text
    assert "abc" in reply.text
    assert await count(services.db, Alarm) == 0


async def test_a_level_already_passed_says_it_fires_on_the_next_update(make_context):
    ctx = await make_context()
    warning = "the alarm fires on the next price update"
    above = await dispatch(ctx, f"/alarm BTC above {BTC_NOW * 0.95:.2f}")
    below = await dispatch(ctx, f"/alarm BTC below {BTC_NOW * 1.05:.2f}")
    fine = await dispatch(ctx, f"/alarm BTC above {BTC_NOW * 1.05:.2f}")
    assert warning in above.text and warning in below.text
    assert warning not in fine.text
    assert f"Price now: {ctx.tr.price(BTC_NOW)}." in fine.text


async def test_an_indicator_condition_that_already_holds_is_said(make_context):
    reply = await dispatch(await make_context(), "/alarm ETH ema(50) above 2k 1d")
    assert "ema(50) now: " in reply.text
    assert "already holds: the alarm fires at the next 1d close" in reply.text


async def test_stale_data_is_said_and_the_alarm_waits(make_context, services, monkeypatch):
    original = ReplayFeed.ticker

    async def stale_ticker(self, symbol):
        return dataclasses.replace(await original(self, symbol), stale=True)

    monkeypatch.setattr(ReplayFeed, "ticker", stale_ticker)
    reply = await dispatch(await make_context(), "/alarm BTC below 90000")
    assert not reply.is_error
    assert "stale right now: the alarm waits for fresh data" in reply.text
    service = await alarm_service(services)
    assert await service.poll() == 0  # stale prices fire nothing
    (row,) = await rows(services.db, Alarm)
    assert row.status == "active"


async def test_the_per_chat_limit_counts_active_alarms(make_context, services):
    services.config = dataclasses.replace(services.config, max_alarms_per_chat=2)
    ctx = await make_context()
    for level in ("90k", "95k"):
        assert not (await dispatch(ctx, f"/alarm BTC above {level}")).is_error
    refused = await dispatch(ctx, "/alarm BTC above 99k")
    assert refused.is_error
    assert "already has 2 active alarms" in refused.text
    assert await count(services.db, Alarm) == 2
    other = await dispatch(await make_context(user_id="2002"), "/alarm BTC above 99k")
    assert not other.is_error  # the limit is per chat
    first = (await rows(services.db, Alarm))[0]
    await dispatch(ctx, f"/delalarm {first.id}")
    assert not (await dispatch(ctx, "/alarm BTC above 99k")).is_error


async def test_in_a_group_only_admins_change_alarms(make_context, services):
    admin = await make_context(user_id="1", chat_id="g1", kind="group", manages_chat=True)
    member = await make_context(user_id="2", chat_id="g1", kind="group")
    created = await dispatch(admin, "/alarm BTC above 90k")
    assert not created.is_error
    (row,) = await rows(services.db, Alarm)
    for line in ("/alarm BTC below 80k", f"/delalarm {row.id}", "/delalarm all confirm"):
        refused = await dispatch(member, line)
        assert refused.is_error
        assert "Only the chat's admins can change this chat's alarms." in refused.text
    (still,) = await rows(services.db, Alarm)
    assert still.status == "active"
    listing = await dispatch(member, "/alarms")  # members may look
    assert f"#{row.id} · BTC/USDT at or above 90,000.00 · ⏳ active" in listing.text
    assert listing.buttons == []
    assert (await dispatch(admin, "/alarms")).buttons


async def test_another_chats_alarm_is_not_found(make_context, services):
    mine = await make_context(user_id="1")
    theirs = await make_context(user_id="2")
    await dispatch(mine, "/alarm BTC above 90k")
    (row,) = await rows(services.db, Alarm)
    for line in (f"/delalarm {row.id}", f"/delalarm #{row.id}"):
        reply = await dispatch(theirs, line)
        assert reply.is_error
        assert f"This chat has no alarm #{row.id}. See /alarms." in reply.text
    missing = await dispatch(mine, "/delalarm 999999")
    assert "This chat has no alarm #999999" in missing.text
    assert "no alarms yet" in (await dispatch(theirs, "/alarms")).text
    (row,) = await rows(services.db, Alarm)
    assert row.status == "active"
    assert (await alarm_service(services)).armed(row.id)


@pytest.mark.parametrize("line", ["/delalarm", "/delalarm x", "/delalarm -1", "/delalarm 1 yes"])
async def test_bad_delalarm_input_is_an_argument_error(make_context, line):
    reply = await dispatch(await make_context(), line)
    assert reply.is_error and "Usage: /delalarm ID|all [confirm]" in reply.text


async def test_alarms_lists_ids_states_and_delete_buttons(make_context, services):
    ctx = await make_context()
    await dispatch(ctx, "/alarm BTC above 90k")
    await dispatch(ctx, "/alarm ETH change 3% 4h")
    a, b = await rows(services.db, Alarm)
    reply = await dispatch(ctx, "/alarms")
    assert reply.title == "Alarms · 2 active of 10"
    assert reply.text.splitlines() == [
        f"#{a.id} · BTC/USDT at or above 90,000.00 · ⏳ active",
        f"#{b.id} · ETH/USDT moves 3.00% either way within 4h · ⏳ active",
    ]
    actions = [button.action for row in reply.buttons for button in row]
    assert actions == [f"delalarm {a.id}", f"delalarm {b.id}", "delalarm all"]


async def test_delete_one_then_all_with_confirmation(make_context, services):
    ctx = await make_context()
    for line in ("/alarm BTC above 90k", "/alarm BTC below 80k", "/alarm BTC rsi above 70"):
        await dispatch(ctx, line)
    first, second, third = await rows(services.db, Alarm)
    service = await alarm_service(services)
    deleted = await dispatch(ctx, f"/delalarm {first.id}")
    assert deleted.text == f"Deleted alarm #{first.id}: BTC/USDT at or above 90,000.00."
    assert not service.armed(first.id)
    again = await dispatch(ctx, f"/delalarm {first.id}")
    assert again.is_error  # already gone

    ask = await dispatch(ctx, "/delalarm all")
    assert not ask.is_error
    assert "Delete all 2 of this chat's alarms?" in ask.text
    assert ask.buttons[0][0].action == "delalarm all confirm"
    assert [r.status for r in await rows(services.db, Alarm)] == ["deleted", "active", "active"]

    done = await dispatch(ctx, ask.buttons[0][0].action)
    assert done.text == "Deleted 2 alarms."
    assert [r.status for r in await rows(services.db, Alarm)] == ["deleted"] * 3
    assert not service.armed(second.id) and not service.armed(third.id)
    assert service.known == {}
    assert "no alarms yet" in (await dispatch(ctx, "/alarms")).text
    assert "no alarms to delete" in (await dispatch(ctx, "/delalarm all")).text


async def test_help_shows_the_alarm_forms(make_context):
    reply = await dispatch(await make_context(), "/help alarm")
    assert "Usage: /alarm SYMBOL CONDITION VALUE…" in reply.text
    assert "/alarm BTC change 5% 4h" in reply.text
    assert "/alarm BTC rsi below 30 4h" in reply.text


async def test_candles_that_stopped_long_ago_are_stale(make_context, services):
    """The bundled BTC 1m candles end in April 2024: at the replay's March 2025
    they are far too old to act on, so the alarm says it waits and fires nothing."""
    reply = await dispatch(await make_context(), "/alarm BTC rsi above 1 1m")
    assert not reply.is_error
    assert "stale right now: the alarm waits for fresh data" in reply.text
    assert await at_candle_close(services, "1m") == 0
    (row,) = await rows(services.db, Alarm)
    assert row.status == "active"
