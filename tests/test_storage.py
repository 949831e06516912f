"""Storage on SQLite and PostgreSQL: the same models, migrations and queries."""

import asyncio

import numpy as np
from sqlalchemy import func, select

from engine.market.series import read_candle_file
from storage.accounts import get_user, set_user_language, touch_chat, touch_user
from storage.candles import count_candles, load_candles, rows_of, upsert_candles
from storage.db import Database
from storage.models import Chat, User
from tests.helpers import DATA_DIR


async def test_user_is_created_once_and_refreshed(database):
    async with database.session() as session:
        first = await touch_user(session, "telegram", "42", username="alice", display_name="Alice")
    async with database.session() as session:
        again = await touch_user(session, "telegram", "42", username="alice2", display_name="Al")
        other = await touch_user(session, "discord", "42")
    assert again.id == first.id and again.username == "alice2"
    assert other.id != first.id
    assert first.plan == "free" and first.timezone == "UTC" and first.language is None
    assert first.created_at.tzinfo is not None


async def test_concurrent_first_contacts_create_one_user(database):
    async def contact():
        async with database.session() as session:
            return (await touch_user(session, "telegram", "777")).id

    ids = await asyncio.gather(*(contact() for _ in range(8)))
    assert len(set(ids)) == 1
    async with database.session() as session:
        count = await session.scalar(select(func.count()).select_from(User))
    assert count == 1


async def test_language_is_persisted(database):
    async with database.session() as session:
        user = await touch_user(session, "console", "me")
    async with database.session() as session:
        await set_user_language(session, user.id, "id")
    async with database.session() as session:
        assert (await get_user(session, "console", "me")).language == "id"


async def test_chat_reactivates_on_contact(database):
    async with database.session() as session:
        chat = await touch_chat(session, "telegram", "-100", kind="supergroup", title="Traders")
        chat.active = False
    async with database.session() as session:
        again = await touch_chat(session, "telegram", "-100", kind="supergroup", title="Traders 2")
    assert again.id == chat.id and again.active and again.title == "Traders 2"
    async with database.session() as session:
        assert await session.scalar(select(func.count()).select_from(Chat)) == 1


async def test_candle_upsert_is_idempotent_and_exact(database):
    series = read_candle_file(DATA_DIR / "BTC_USDT-1h.csv.gz", "1h")
    rows = rows_of(series)[:5000]
    async with database.session() as session:
        assert await upsert_candles(session, "binance", "BTC/USDT", "1h", rows) == 5000
    async with database.session() as session:
        await upsert_candles(session, "binance", "BTC/USDT", "1h", rows[-100:])  # again
        assert await count_candles(session, "binance", "BTC/USDT", "1h") == 5000
        stored = await load_candles(session, "binance", "BTC/USDT", "1h")
    np.testing.assert_array_equal(stored.open_time, series.open_time[:5000])
    for column in ("open", "high", "low", "close", "volume"):
        np.testing.assert_array_equal(getattr(stored, column), getattr(series, column)[:5000])


async def test_candle_upsert_overwrites_with_newer_values(database):
    row = (1_700_000_000_000, 1.0, 2.0, 0.5, 1.5, 10.0)
    async with database.session() as session:
        await upsert_candles(session, "binance", "ETH/USDT", "1m", [row])
        await upsert_candles(
            session, "binance", "ETH/USDT", "1m", [(row[0], 1.0, 3.0, 0.5, 2.5, 12.0)]
        )
    async with database.session() as session:
        stored = await load_candles(session, "binance", "ETH/USDT", "1m")
    assert stored.high.tolist() == [3.0] and stored.close.tolist() == [2.5]


async def test_candle_range_and_limit(database):
    rows = [(i * 60_000, 1.0, 1.0, 1.0, float(i), 1.0) for i in range(100)]
    async with database.session() as session:
        await upsert_candles(session, "x", "A/B", "1m", rows)
        newest = await load_candles(session, "x", "A/B", "1m", limit=10)
        window = await load_candles(session, "x", "A/B", "1m", start_ms=60_000, end_ms=180_000)
        empty = await load_candles(session, "x", "A/B", "5m")
    assert newest.close.tolist() == [float(i) for i in range(90, 100)]
    assert window.open_time.tolist() == [60_000, 120_000, 180_000]
    assert len(empty) == 0


async def test_migrations_are_idempotent(database_url):
    db = Database(database_url)
    await db.migrate()
    await db.migrate()  # a restart runs them again: nothing to do, nothing breaks
    await db.dispose()
