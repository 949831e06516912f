"""Alarms firing into the outbox, on SQLite and PostgreSQL: once per alarm however
many processes see the price, never for a deactivated chat, across restarts, and
for indicator alarms at candle closes of the replayed market."""

from __future__ import annotations

import asyncio
import dataclasses
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select

from bot.app import App
from bot.scheduler import build_scheduler
from engine.alarm_indicators import latest_value, parse_indicator
from engine.market.clock import to_ms
from handlers.alarm_engine import AlarmService, alarm_service, at_candle_close, poll_prices
from handlers.context import Context, Services
from handlers.dispatch import dispatch
from handlers.notify import render_notification
from handlers.session import PlatformChat, PlatformUser, open_context
from storage import alarms as alarm_store
from storage import outbox
from storage.accounts import touch_chat
from storage.db import Database
from storage.models import Alarm, Notification, OutboxMessage
from tests.conftest import REPLAY_START
from tests.db_helpers import rows
from tests.helpers import png_size, raw_rows

T0 = to_ms(REPLAY_START)
HOUR = 3_600_000


@pytest.fixture
def app(db_app: App) -> App:
    """The real composition on this test's database (emptied by `database`)."""
    return db_app


async def context(services: Services, chat: str = "1", kind: str = "private") -> Context:
    user = PlatformUser("test", chat, display_name=f"User {chat}")
    return await open_context(services, user, PlatformChat(chat, kind))


async def set_alarm(ctx: Context, line: str) -> int:
    reply = await dispatch(ctx, line)
    assert not reply.is_error, reply.text
    async with ctx.services.db.session() as session:
        return (await session.execute(select(func.max(Alarm.id)))).scalar_one()


async def test_a_tick_fires_an_alarm_once_with_its_message(app: App) -> None:
    services = app.services
    ctx = await context(services)
    alarm_id = await set_alarm(ctx, "/alarm BTC above 90000")
    service = await alarm_service(services)
    assert await service.on_tick("BTC/USDT", 89_999.0, T0) == 0
    assert await service.on_tick("BTC/USDT", 90_010.0, T0 + 1_000) == 1
    assert await service.on_tick("BTC/USDT", 90_500.0, T0 + 2_000) == 0
    assert not service.armed(alarm_id)

    (alarm,) = await rows(services.db, Alarm)
    assert (alarm.status, alarm.fired_price) == ("fired", 90_010.0)
    assert to_ms(alarm.fired_at) == T0 + 1_000
    (message,) = await rows(services.db, OutboxMessage)
    (notification,) = await rows(services.db, Notification)
    assert (message.chat_id, message.status) == (ctx.chat.id, "pending")
    assert (notification.key, notification.kind) == (f"alarm:{alarm_id}", "alarm")
    assert png_size(notification.image) == (1200, 800)

    reply = render_notification("alarm", notification.payload, "en")
    assert reply.title == "🔔 BTC/USDT at or above 90,000.00"
    assert reply.text == f"Alarm #{alarm_id}: BTC/USDT traded at 90,010.00."
    assert "Mar 1, 2025 00:00 UTC" in reply.footer
    assert reply.demo and "DEMO" in reply.demo
    assert [b.action for b in reply.buttons[0]] == ["chart BTC/USDT 1h", "alarms"]
    listing = await dispatch(ctx, "/alarms")
    assert f"#{alarm_id} · BTC/USDT at or above 90,000.00 · 🔔 fired" in listing.text


async def test_the_replayed_price_fires_an_alarm_when_it_gets_there(app: App) -> None:
    """The scheduler's 1-second poll reads the replay's last price (closes of the
    5m candles): the alarm fires at the first close at or above its level."""
    services = app.services
    ctx = await context(services)
    candles = [r for r in raw_rows("BTC_USDT-5m.csv.gz") if r[0] >= T0]
    level = round(candles[0][4] * 1.01, 2)
    hit = next(r for r in candles if r[4] >= level)
    alarm_id = await set_alarm(ctx, f"/alarm BTC above {level}")
    job = build_scheduler(services).apscheduler
    assert job.get_job("alarm_ticks") is not None  # the replay feed gets the polling job
    services.clock.set(hit[0] + 5 * 60_000 - 1)  # the hitting candle has not closed yet
    assert await poll_prices(services) == 0
    services.clock.set(hit[0] + 5 * 60_000)
    assert await poll_prices(services) == 1
    (alarm,) = await rows(services.db, Alarm)
    assert (alarm.id, alarm.status, alarm.fired_price) == (alarm_id, "fired", hit[4])


async def test_a_level_already_passed_fires_on_the_next_poll(app: App) -> None:
    services = app.services
    ctx = await context(services)
    await set_alarm(ctx, "/alarm BTC below 90000")  # the price is 84,349.94
    assert await poll_prices(services) == 1
    assert len(await rows(services.db, OutboxMessage)) == 1


async def test_two_processes_seeing_the_same_tick_write_each_message_once(
    app: App, database_url: str
) -> None:
    """Two services on two Database objects (two pools, as two processes would
    have) get the same tick at once: every alarm fires once, one outbox row each."""
    services = app.services
    for chat in ("1", "2"):
        ctx = await context(services, chat)
        for level in range(86_000, 91_000, 1_000):
            await set_alarm(ctx, f"/alarm BTC above {level}")
    other_db = Database(database_url)
    try:
        other = dataclasses.replace(services, db=other_db, job_state={})
        first, second = AlarmService(services), AlarmService(other)
        assert await first.load() == await second.load() == 10
        won = await asyncio.gather(
            first.on_tick("BTC/USDT", 91_000.0, T0), second.on_tick("BTC/USDT", 91_000.0, T0)
        )
    finally:
        await other_db.dispose()
    assert sum(won) == 10
    messages = await rows(services.db, OutboxMessage)
    assert len(messages) == 10 and len(await rows(services.db, Notification)) == 10
    assert len({(m.notification_id, m.chat_id) for m in messages}) == 10
    assert {a.status for a in await rows(services.db, Alarm)} == {"fired"}


async def test_the_per_chat_limit_holds_under_concurrent_requests(
    app: App, database_url: str, monkeypatch
) -> None:
    """Two processes add the last allowed alarm of one chat at the same moment
    (each pausing between its count and its insert): the chat's row is written
    first, so the second waits for the first to commit and counts its alarm."""
    async with app.services.db.session() as session:
        chat = await touch_chat(session, "test", "1", kind="private")
    other_db = Database(database_url)
    count = alarm_store.count_active

    async def slow_count(session, chat_id: int) -> int:
        counted = await count(session, chat_id)
        await asyncio.sleep(0.3)
        return counted

    monkeypatch.setattr(alarm_store, "count_active", slow_count)

    async def add(db: Database, level: float) -> bool:
        new = alarm_store.NewAlarm("BTC/USDT", "above", level, reference=84_000.0)
        async with db.session() as session:
            return await alarm_store.create_alarm(session, chat.id, None, new, limit=1) is not None

    try:
        added = await asyncio.gather(add(app.services.db, 90_000.0), add(other_db, 91_000.0))
    finally:
        await other_db.dispose()
    assert sorted(added) == [False, True]
    assert len(await rows(app.services.db, Alarm)) == 1


async def test_a_deactivated_chats_alarm_does_not_fire(app: App) -> None:
    services = app.services
    ctx = await context(services)
    alarm_id = await set_alarm(ctx, "/alarm BTC above 90000")
    service = await alarm_service(services)
    async with services.db.session() as session:
        await outbox.deactivate_chat(session, ctx.chat.id, "blocked by the user")
    assert await service.on_tick("BTC/USDT", 95_000.0, T0) == 0
    assert await rows(services.db, OutboxMessage) == []
    (alarm,) = await rows(services.db, Alarm)
    assert alarm.status == "active"  # kept for when the chat comes back
    assert alarm_id not in service.known
    restarted = AlarmService(services)
    assert await restarted.load() == 0  # not loaded while the chat is inactive

    async with services.db.session() as session:  # the user writes again
        await touch_chat(session, "test", "1", kind="private")
    assert await restarted.resync() == 1
    assert await restarted.on_tick("BTC/USDT", 95_000.0, T0 + 1_000) == 1


async def test_a_restart_keeps_active_alarms_and_does_not_refire(app: App) -> None:
    services = app.services
    ctx = await context(services)
    above = await set_alarm(ctx, "/alarm BTC above 90000")
    cross = await set_alarm(ctx, "/alarm BTC cross 80000")  # from 84,349.94: fires going down
    change = await set_alarm(ctx, "/alarm BTC change 1% 1h")
    rsi = await set_alarm(ctx, "/alarm BTC rsi above 99 4h")
    service = await alarm_service(services)
    assert await service.on_tick("BTC/USDT", 84_349.94, T0 - 1_000) == 0  # the window's start
    assert await service.on_tick("BTC/USDT", 90_100.0, T0) == 2  # above, and change (+6.8%)

    restarted = AlarmService(services)  # a new process: built from storage
    assert await restarted.load() == 2
    assert set(restarted.known) == {cross, rsi}
    assert not restarted.armed(above) and not restarted.armed(change)
    assert await restarted.on_tick("BTC/USDT", 90_200.0, T0 + 1_000) == 0
    assert await restarted.on_tick("BTC/USDT", 79_000.0, T0 + 2_000) == 1  # the cross
    fired = {a.id for a in await rows(services.db, Alarm) if a.status == "fired"}
    assert fired == {above, change, cross}
    assert len(await rows(services.db, OutboxMessage)) == 3
    moved = [
        render_notification("alarm", n.payload, "en")
        for n in await rows(services.db, Notification)
        if n.key == f"alarm:{change}"
    ]
    assert moved[0].text == f"Alarm #{change}: BTC/USDT moved +6.82% within 1h, to 90,100.00."


async def test_an_indicator_alarm_fires_at_the_candle_close_where_it_holds(app: App) -> None:
    services = app.services
    ctx = await context(services)
    spec = parse_indicator("rsi(14)")

    async def rsi_now() -> float:
        candles = await services.market.candles("BTC/USDT", "1h", 400)
        value = latest_value(spec, candles.frame)
        assert value is not None
        return value

    level = round(await rsi_now() + 5, 1)
    alarm_id = await set_alarm(ctx, f"/alarm BTC rsi above {level}")
    service = await alarm_service(services)
    fired_at = None
    for hour in range(1, 72):
        services.clock.set(T0 + hour * HOUR)
        expected = await rsi_now() >= level
        assert await at_candle_close(services, "4h") == 0  # not its timeframe
        assert await at_candle_close(services, "1h") == int(expected)
        if expected:
            fired_at = T0 + hour * HOUR
            break
    assert fired_at is not None, "RSI never reached the level in three days"
    assert not service.armed(alarm_id)
    services.clock.set(fired_at + HOUR)
    assert await at_candle_close(services, "1h") == 0  # once

    (alarm,) = await rows(services.db, Alarm)
    close = next(r for r in raw_rows("BTC_USDT-1h.csv.gz") if r[0] == fired_at - HOUR)[4]
    assert (alarm.status, alarm.fired_price) == ("fired", close)
    assert alarm.fired_value >= level
    (notification,) = await rows(services.db, Notification)
    reply = render_notification("alarm", notification.payload, "en")
    assert reply.title == f"🔔 BTC/USDT rsi(14) on 1h at or above {level:.2f}"
    assert "at the close of the 1h candle; BTC/USDT closed at" in reply.text
    assert png_size(notification.image) == (1200, 800)


async def test_a_chart_failure_costs_only_the_picture(app: App, monkeypatch) -> None:
    services = app.services
    alarm_id = await set_alarm(await context(services), "/alarm BTC above 90000")

    async def broken(*args, **kwargs):
        raise RuntimeError("renderer crashed")

    monkeypatch.setattr(services.charts, "candle_chart", broken)
    service = await alarm_service(services)
    assert await service.on_tick("BTC/USDT", 90_001.0, T0) == 1
    (notification,) = await rows(services.db, Notification)
    assert notification.key == f"alarm:{alarm_id}" and notification.image is None
    assert len(await rows(services.db, OutboxMessage)) == 1


async def test_a_failed_transaction_puts_the_alarm_back(app: App, monkeypatch) -> None:
    services = app.services
    alarm_id = await set_alarm(await context(services), "/alarm BTC above 90000")
    service = await alarm_service(services)
    real = outbox.create_notifications
    calls = 0

    async def flaky(*args, **kwargs):
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("database went away")
        return await real(*args, **kwargs)

    monkeypatch.setattr(outbox, "create_notifications", flaky)
    assert await service.on_tick("BTC/USDT", 90_001.0, T0) == 0
    (alarm,) = await rows(services.db, Alarm)
    assert alarm.status == "active"  # the conditional UPDATE was rolled back with it
    assert service.armed(alarm_id)
    assert await service.on_tick("BTC/USDT", 89_000.0, T0 + 1_000) == 0  # back below
    assert await service.on_tick("BTC/USDT", 90_002.0, T0 + 2_000) == 1
    assert len(await rows(services.db, OutboxMessage)) == 1


async def test_live_ticks_are_recorded_in_the_background(app: App) -> None:
    services = app.services
    await set_alarm(await context(services), "/alarm BTC below 80000")
    service = await alarm_service(services)
    service.on_live_tick(SimpleNamespace(symbol="BTC/USDT", price=79_990.0, time_ms=T0))
    service.on_live_tick(SimpleNamespace(symbol="BTC/USDT", price=79_000.0, time_ms=T0 + 1))
    await service.drain()
    assert len(await rows(services.db, OutboxMessage)) == 1


async def test_a_tick_alarm_finds_its_chart_rendered_ahead(app: App, monkeypatch) -> None:
    """Arming a price alarm renders the market's chart in the background, so the
    tick that fires it does not wait for matplotlib: the firing renders nothing."""
    services = app.services
    ctx = await context(services)
    await set_alarm(ctx, "/alarm BTC above 90000")
    service = await alarm_service(services)
    await asyncio.gather(*service._warming)
    ahead, _ = await services.charts.candle_chart("BTC/USDT", "1h")

    def no_render(*args: object) -> bytes:
        raise AssertionError("rendered while firing")

    monkeypatch.setattr("handlers.charts.render_candles", no_render)
    assert await service.on_tick("BTC/USDT", 90_010.0, T0 + 1_000) == 1
    (notification,) = await rows(services.db, Notification)
    assert notification.image == ahead.png


async def test_a_change_alarm_counts_a_move_that_began_before_a_restart(app: App) -> None:
    """After a restart the change windows are refilled from the recent candles
    (5m here): the hour's move before the start counts at the first tick."""
    candles = [r for r in raw_rows("BTC_USDT-5m.csv.gz") if T0 - HOUR <= r[0] < T0]
    low, high, last = min(r[3] for r in candles), max(r[2] for r in candles), candles[-1][4]
    move = max(last / low - 1, 1 - last / high) * 100
    assert move > 0.2  # the data has a move to find
    services = app.services
    ctx = await context(services)
    within = await set_alarm(ctx, f"/alarm BTC change {move * 0.9:.2f}% 1h")
    beyond = await set_alarm(ctx, f"/alarm BTC change {move * 1.1:.2f}% 1h")

    restarted = AlarmService(services)  # a new process: nothing seen yet
    await restarted.load()
    assert await restarted.on_tick("BTC/USDT", last, T0 + 1_000) == 1
    assert not restarted.armed(within) and restarted.armed(beyond)


async def test_active_alarm_ids_and_rows_by_id_match_active_alarms(
    database: Database, monkeypatch
) -> None:
    """`active_alarm_ids` names exactly the rows of `active_alarms` (active alarms
    of active chats); `active_alarms(ids=...)` reads only those of them, by id,
    however many queries the ids are cut into."""
    async with database.session() as session:
        chat = await touch_chat(session, "test", "1", kind="private")
        gone = await touch_chat(session, "test", "2", kind="private")
        new = alarm_store.NewAlarm("BTC/USDT", "above", 90_000.0)
        made = [await alarm_store.create_alarm(session, chat.id, None, new, 10) for _ in range(5)]
        ids = [row.id for row in made if row is not None]
        elsewhere = await alarm_store.create_alarm(session, gone.id, None, new, 10)
        assert elsewhere is not None
        assert await alarm_store.fire(session, ids[1], 90_001.0)
        assert await alarm_store.delete_alarm(session, chat.id, ids[3]) is not None
        await outbox.deactivate_chat(session, gone.id, "blocked by the user")
    active = [ids[0], ids[2], ids[4]]
    async with database.session() as session:
        assert [row.id for row in await alarm_store.active_alarms(session)] == active
        assert await alarm_store.active_alarm_ids(session) == set(active)
        monkeypatch.setattr(alarm_store, "ID_CHUNK", 2)  # three queries for these five ids
        asked = {ids[4], ids[1], elsewhere.id, ids[0], 10**6}
        found = await alarm_store.active_alarms(session, ids=asked)
        assert [row.id for row in found] == [ids[0], ids[4]]
        assert await alarm_store.active_alarms(session, ids=set()) == []
