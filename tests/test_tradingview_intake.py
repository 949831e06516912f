"""What happens to a TradingView alert after the webhook answered, on both
databases: alerts received before a crash are processed at the next start, and
once; processing waits for a burst to pass but never long; an alert that cannot
be processed is retried, then given up, without holding back the others; two
processors share the received alerts without overlap; retention."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import update

from handlers import jobs
from handlers.context import Services
from handlers.tradingview_intake import Intake
from handlers.tradingview_store import (
    MAX_ATTEMPTS,
    Processed,
    process_received,
    receive_alerts,
)
from storage import outbox, received_alerts
from storage.models import Notification, OutboxMessage, ReceivedAlert, SignalRecord, utcnow
from tests.db_helpers import count, follow, rows
from tests.tradingview_helpers import checked, serve, until


async def pending(services: Services) -> int:
    async with services.db.session() as session:
        return await received_alerts.pending_count(session)


async def test_alerts_received_before_a_crash_are_processed_once_at_the_next_start(db_services):
    db = db_services.db
    chat = await follow(db_services, "a", "BTC/USDT", "*", "all")
    # A process answered 200 to three alerts, then died before processing them.
    alerts = [await checked(db_services, n) for n in (3, 1, 2)]
    assert await receive_alerts(db, alerts) == [True, True, True]
    assert (await count(db, SignalRecord), await pending(db_services)) == (0, 3)
    async with serve(db_services) as (_, intake, _):  # the next start
        await until(lambda: intake.processed == 3)
    async with serve(db_services) as (_, intake, _):  # and the one after: nothing left
        pass  # closing runs one last processing round: `processed == 0` is the real check
    assert intake.processed == 0 and await pending(db_services) == 0
    assert await count(db, SignalRecord) == 3
    queued = await rows(db, OutboxMessage)
    assert [row.chat_id for row in queued] == [chat] * 3
    # in the order they arrived
    keys = {n.id: n.key for n in await rows(db, Notification)}
    assert [keys[row.notification_id] for row in queued] == [a.key for a in alerts]


async def test_processing_waits_for_the_burst_to_pass_but_not_longer_than_max_delay(
    db_services,
):
    patient = Intake(db_services, timeout=30, quiet=30, max_delay=30)
    assert await patient.receive(await checked(db_services, 1)) is True
    await asyncio.sleep(0.2)
    assert patient.processed == 0 and await pending(db_services) == 1  # "still in a burst"
    await patient.close()  # stopping processes what was received
    assert patient.processed == 1 and await count(db_services.db, SignalRecord) == 1

    hurried = Intake(db_services, timeout=30, quiet=30, max_delay=0.1)
    assert await hurried.receive(await checked(db_services, 2)) is True
    await until(lambda: hurried.processed == 1)  # `quiet` had not passed: `max_delay` had
    await hurried.close()
    assert await count(db_services.db, SignalRecord) == 2


async def test_an_alert_that_cannot_be_processed_is_given_up_without_holding_back_others(
    db_services,
):
    db = db_services.db
    await follow(db_services, "a", "BTC/USDT", "*", "all")
    async with db.session() as session:  # (say, written by a version that had a bug)
        broken = {"symbol": "BTC/USDT"}  # a signal's fields, the required ones missing
        await received_alerts.receive(session, [("tv:broken", broken)])
    await receive_alerts(db, [await checked(db_services, n) for n in range(2)])

    assert await process_received(db, 10) == Processed(2, 2, 2, failed=1)
    for _ in range(MAX_ATTEMPTS - 2):  # retried by each later round
        assert await process_received(db, 10) == Processed(0, 0, 0, failed=1)
    assert await process_received(db, 10) == Processed(0, 0, 0, failed=1, given_up=1)
    assert await process_received(db, 10) == Processed(0, 0, 0)  # given up: not retried

    (kept,) = [row for row in await rows(db, ReceivedAlert) if row.key == "tv:broken"]
    assert kept.attempts == MAX_ATTEMPTS and kept.processed_at is not None
    assert kept.error.startswith("TypeError: ")  # why, for the operator
    assert await count(db, SignalRecord) == 2 and await count(db, OutboxMessage) == 2


async def test_two_processors_share_the_received_alerts_without_overlap(db_services):
    db = db_services.db
    await follow(db_services, "a", "BTC/USDT", "*", "all")
    await receive_alerts(db, [await checked(db_services, n) for n in range(120)])
    first, second = (Intake(db_services, timeout=30, process_batch=20) for _ in range(2))
    done = await asyncio.gather(first.process_pending(), second.process_pending())
    assert sum(done) == 120  # each alert taken by one of them
    assert await pending(db_services) == 0
    assert await count(db, SignalRecord) == 120 and await count(db, OutboxMessage) == 120


async def test_retention_deletes_processed_alerts_only_and_a_late_repeat_is_not_sent_again(
    db_services, monkeypatch
):
    db = db_services.db
    await follow(db_services, "a", "BTC/USDT", "*", "all")
    old, recent, waiting = [await checked(db_services, n) for n in range(3)]
    await receive_alerts(db, [old, recent])
    assert (await process_received(db, 10)).alerts == 2
    await receive_alerts(db, [waiting])  # received, not processed yet
    days = db_services.config.outbox_retention_days
    async with db.session() as session:
        await session.execute(
            update(ReceivedAlert)
            .where(ReceivedAlert.key == old.key)
            .values(processed_at=utcnow() - timedelta(days=days + 1))
        )

    async def broken(*_):
        raise OSError("disk full")

    monkeypatch.setattr(outbox, "purge", broken)  # another table's purge failing
    await jobs.retention(db_services)  # does not keep this one from running
    assert {row.key for row in await rows(db, ReceivedAlert)} == {recent.key, waiting.key}
    # TradingView sending the purged alert again: received anew, but sent once.
    assert await receive_alerts(db, [old]) == [True]
    assert (await process_received(db, 10)).alerts == 2  # it and `waiting`
    assert await count(db, OutboxMessage) == 3  # old (once), recent, waiting
