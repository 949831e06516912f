"""Signals, follows and the outbox in storage, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import func, select

from engine.signals import Outcome
from engine.strategies.base import Signal
from storage import follows, outbox
from storage import signals as store
from storage.accounts import touch_chat
from storage.db import Database
from storage.models import OutboxMessage, SignalRecord


def signal(candle: int = 1_000, strategy: str = "rsi", side: str = "buy") -> Signal:
    return Signal("BTC/USDT", "1h", strategy, side, candle, 100.0, 95.0, 110.0, 0.6, "BULL")


async def test_a_signal_is_stored_once(database: Database) -> None:
    async with database.session() as session:
        first = await store.record_signals(session, [signal(), signal(2_000)])
    async with database.session() as session:
        again = await store.record_signals(session, [signal(), signal(3_000)])
    assert [n.signal.candle_open_ms for n in first] == [1_000, 2_000]
    assert [n.signal.candle_open_ms for n in again] == [3_000]  # the repeat is skipped
    async with database.session() as session:
        assert (await session.execute(select(func.count(SignalRecord.id)))).scalar_one() == 3


async def test_two_processes_scanning_the_same_candle_store_it_once(
    database: Database, database_url: str
) -> None:
    """Two Database objects (two connection pools, as two processes would have)
    race to insert the same 40 signals: each is stored once and returned to
    exactly one of them, so exactly one process fans it out."""
    dbs = [Database(database_url), Database(database_url)]
    batch = [signal(candle, strategy) for candle in range(20) for strategy in ("rsi", "ut_bot")]

    async def insert(db: Database) -> list[int]:
        async with db.session() as session:
            new = await store.record_signals(session, batch)
        return [n.id for n in new]

    try:
        await dbs[0].migrate()
        a, b = await asyncio.gather(insert(dbs[0]), insert(dbs[1]))
    finally:
        for db in dbs:
            await db.dispose()
    assert not set(a) & set(b)
    assert len(a) + len(b) == len(batch)


async def test_outcome_closes_once_and_feeds_the_track_record(database: Database) -> None:
    async with database.session() as session:
        (new,) = await store.record_signals(session, [signal()])
    running = Outcome("BTC/USDT", "1h", "rsi", "buy", 1_000, "open", 0.0, None, None, 3, 0.4, -0.2)
    closed = Outcome(
        "BTC/USDT", "1h", "rsi", "buy", 1_000, "target", 2.0, 9_000, 110.0, 5, 2.0, -0.2
    )
    async with database.session() as session:
        assert not await store.save_outcome(session, new.id, running)
        assert await store.save_outcome(session, new.id, closed)
        assert not await store.save_outcome(session, new.id, closed)  # already closed
        assert await store.open_signals(session, "1h") == []
        (outcome,) = await store.outcomes(session)
    assert (outcome.status, outcome.r_multiple, outcome.exit_price) == ("target", 2.0, 110.0)


async def test_follows_match_timeframe_strategy_and_active_chats(database: Database) -> None:
    async with database.session() as session:
        a = await touch_chat(session, "test", "a", kind="private")
        b = await touch_chat(session, "test", "b", kind="group")
        c = await touch_chat(session, "test", "c", kind="private")
        assert await follows.add_follow(session, a.id, "BTC/USDT", "*", "pulsewave")
        assert not await follows.add_follow(session, a.id, "BTC/USDT", "*", "pulsewave")
        await follows.add_follow(session, b.id, "BTC/USDT", "4h", "all")
        await follows.add_follow(session, c.id, "BTC/USDT", "1h", "rsi")
        c.active = False
    async with database.session() as session:
        assert await follows.followers(session, "BTC/USDT", "1h", ("pulsewave",)) == [a.id]
        assert await follows.followers(session, "BTC/USDT", "4h", ("rsi",)) == [b.id]
        assert await follows.followers(session, "BTC/USDT", "1h", ("rsi",)) == []  # c inactive
        assert await follows.followers(session, "ETH/USDT", "1h", ("pulsewave",)) == []
        assert await follows.remove_follows(session, a.id, "BTC/USDT") == 1
        assert await follows.count_follows(session, a.id) == 0


async def test_outbox_claims_are_disjoint_and_leases_expire(
    database: Database, database_url: str
) -> None:
    dbs = [Database(database_url), Database(database_url)]
    try:
        await dbs[0].migrate()
        async with dbs[0].session() as session:
            chats = [await touch_chat(session, "test", str(i), kind="private") for i in range(30)]
            nid = await outbox.create_notification(session, "event:1", "broadcast", {"text": "x"})
            assert await outbox.create_notification(session, "event:1", "broadcast", {}) is None
            assert await outbox.enqueue(session, nid, [c.id for c in chats] + [chats[0].id]) == 30
            assert await outbox.enqueue(session, nid, [chats[0].id]) == 0  # one row per chat

        async def take(db: Database, worker: str) -> list[int]:
            taken: list[int] = []
            while True:
                async with db.session() as session:
                    rows = await outbox.claim(session, worker, 4, timedelta(seconds=60))
                if not rows:
                    return taken
                taken += [r.id for r in rows]

        first, second = await asyncio.gather(take(dbs[0], "w1"), take(dbs[1], "w2"))
        assert not set(first) & set(second)
        assert len(first) + len(second) == 30
        # Worker w1 "dies": its rows are claimable again once the lease runs out.
        async with dbs[1].session() as session:
            later = outbox.utcnow() + timedelta(seconds=61)
            again = await outbox.claim(session, "w3", 100, timedelta(seconds=60), now=later)
        assert sorted(r.id for r in again) == sorted(first + second)
        async with dbs[1].session() as session:
            assert await outbox.mark_sent(session, again[0].id, "w3", "m1")
            assert not await outbox.mark_sent(session, again[1].id, "w1", "m2")  # not its claim
            depth = await outbox.queue_depth(session)
        assert depth == {"sent": 1, "sending": 29}
    finally:
        for db in dbs:
            await db.dispose()


async def test_a_blocked_chat_is_deactivated_and_its_queue_dropped(database: Database) -> None:
    async with database.session() as session:
        chat = await touch_chat(session, "test", "x", kind="private")
        await follows.add_follow(session, chat.id, "BTC/USDT", "*", "all")
        nid = await outbox.create_notification(session, "e", "broadcast", {"text": "hi"})
        await outbox.enqueue(session, nid, [chat.id])
    async with database.session() as session:
        assert await outbox.deactivate_chat(session, chat.id, "blocked by the user") == 1
    async with database.session() as session:
        assert await follows.followers(session, "BTC/USDT", "1h", ("rsi",)) == []
        status = (await session.execute(select(OutboxMessage.status))).scalar_one()
    assert status == "dropped"
    async with database.session() as session:  # the user writes again: active again
        assert (await touch_chat(session, "test", "x", kind="private")).active
