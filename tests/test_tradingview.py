"""TradingView webhooks through a real HTTP client against the real route, on
both databases: authentication, validation, once-only processing, fan-out, and
the group commit behind the answers (batches, repeats within a batch, a failed
batch retried one by one, shutdown, the confirmation timeout). Processing after
the answer (restarts, failures, timing) is in `test_tradingview_intake.py`."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Sequence

import pytest

from bot.webhooks import TRADINGVIEW_PATH
from handlers import tradingview_intake
from handlers.context import Services
from handlers.group_commit import GroupCommit, WriterClosed
from handlers.notify import late_chart
from handlers.tradingview_store import Checked
from storage.models import Notification, OutboxMessage, ReceivedAlert, SignalRecord
from tests.db_helpers import count, follow, rows
from tests.tradingview_helpers import ALERT, SECRET, alert_n, checked, post, serve, until


@pytest.fixture
async def web_app(db_services: Services) -> AsyncIterator[tuple]:
    async with serve(db_services) as (client, intake, _):
        yield db_services, client, intake


async def processed(intake: tradingview_intake.Intake, alerts: int) -> None:
    """Wait until the intake's processor has processed `alerts` alerts in all."""
    await until(lambda: intake.processed >= alerts)


async def test_an_alert_becomes_a_signal_for_its_followers_once(web_app):
    services, client, intake = web_app
    all_tf = await follow(services, "a", "BTC/USDT", "*", "tradingview")
    same_tf = await follow(services, "b", "BTC/USDT", "1h", "all")
    await follow(services, "c", "BTC/USDT", "4h", "tradingview")  # another timeframe
    await follow(services, "d", "ETH/USDT", "*", "all")  # another market
    await follow(services, "e", "BTC/USDT", "*", "pulsewave")  # another strategy
    assert await post(client, ALERT) == (200, {"ok": True, "duplicate": False})
    # TradingView retrying the delivery (before or after the alert was processed)
    assert await post(client, ALERT) == (200, {"ok": True, "duplicate": True})
    await processed(intake, 1)
    assert await post(client, ALERT) == (200, {"ok": True, "duplicate": True})
    [signal] = await rows(services.db, SignalRecord)
    queued = await rows(services.db, OutboxMessage)
    [notification] = await rows(services.db, Notification)
    # No chart yet (the answer does not wait for one): the delivery worker draws it.
    assert notification.image is None
    assert late_chart(notification.payload) == ("BTC/USDT", "1h")
    assert (signal.strategy, signal.side, signal.entry, signal.stop, signal.target) == (
        "tv:my-rsi", "buy", 84000.0, 82000.0, 90000.0
    )  # fmt: skip
    assert signal.candle_open_ms == 1740776400000  # the 1h candle containing 21:15
    assert (signal.source, signal.status) == ("tradingview", "open")
    assert sorted(r.chat_id for r in queued) == sorted([all_tf, same_tf])


async def test_concurrent_repeats_are_processed_once(web_app):
    services, client, intake = web_app
    await follow(services, "a", "BTC/USDT", "*", "all")
    results = await asyncio.gather(*(post(client, ALERT) for _ in range(20)))
    assert all(status == 200 for status, _ in results)
    assert sum(not answer["duplicate"] for _, answer in results) == 1
    await processed(intake, 1)
    assert await count(services.db, ReceivedAlert) == 1
    assert await count(services.db, SignalRecord) == 1
    assert await count(services.db, OutboxMessage) == 1


@pytest.mark.parametrize(
    ("body", "params", "status"),
    [
        ({**ALERT, "passphrase": "wrong"}, {}, 401),
        ({k: v for k, v in ALERT.items() if k != "passphrase"}, {}, 401),
        ({k: v for k, v in ALERT.items() if k != "passphrase"}, {"token": "nope"}, 401),
        ("{not json", {}, 400),
        ("", {}, 400),
        ("[1, 2]", {}, 400),
        ({"symbol": "BTCUSDT", "passphrase": SECRET}, {}, 400),
        ({**ALERT, "action": "hold"}, {}, 400),
        ({**ALERT, "price": "-5"}, {}, 400),
        ({**ALERT, "timestamp": "yesterday"}, {}, 400),
        ({**ALERT, "parameters": {"stop": 91000, "target": 95000}}, {}, 400),
        ({**ALERT, "symbol": "NOPE"}, {}, 422),
        ({**ALERT, "timeframe": "7"}, {}, 422),
    ],
)
async def test_bad_alerts_are_refused_and_change_nothing(web_app, body, params, status):
    services, client, _ = web_app
    await follow(services, "a", "BTC/USDT", "*", "all")
    got, answer = await post(client, body, **params)
    assert got == status and answer["ok"] is False and answer["error"]
    assert await count(services.db, ReceivedAlert) == 0
    assert await count(services.db, SignalRecord) == 0
    assert await count(services.db, OutboxMessage) == 0


async def test_text_bodies_and_the_token_in_the_url(web_app):
    services, client, intake = web_app
    ethereum = await follow(services, "a", "ETH/USDT", "*", "tradingview")
    status, answer = await post(client, "sell ETHUSDT 4h 2300", token=SECRET)
    assert status == 200 and not answer["duplicate"]
    status, answer = await post(
        client, f"symbol=BTCUSDT timeframe=1h action=buy price=84000 passphrase={SECRET}"
    )
    assert status == 200 and not answer["duplicate"]
    await processed(intake, 2)
    assert [row.chat_id for row in await rows(services.db, OutboxMessage)] == [ethereum]
    stored = await rows(services.db, SignalRecord)
    assert {(s.symbol, s.timeframe, s.status) for s in stored} == {
        ("ETH/USDT", "4h", "untracked"),  # no stop/target: shown, not scored
        ("BTC/USDT", "1h", "untracked"),
    }


async def test_health(web_app):
    _, client, _ = web_app
    async with client.get("/health/live") as response:
        assert response.status == 200
    async with client.get("/health/ready") as response:
        assert response.status == 200 and (await response.json())["problems"] == []


# --- the group commit behind the route ---


class Gate:
    """Stands in for `receive_alerts` behind the writer: records each batch's alert
    strategies, holds writes while closed, and fails any write holding an alert
    of strategy ``poison`` (a storage error for that alert only)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.store = tradingview_intake.receive_alerts
        self.opened = asyncio.Event()
        self.opened.set()
        self.batches: list[list[str]] = []
        monkeypatch.setattr(tradingview_intake, "receive_alerts", self)

    async def __call__(self, db, alerts: Sequence[Checked]) -> list[bool]:
        self.batches.append([a.alert_strategy for a in alerts])
        await self.opened.wait()
        if any(a.alert_strategy == "poison" for a in alerts):
            raise RuntimeError("disk full")
        return await self.store(db, alerts)

    async def plug(self, client) -> asyncio.Task:
        """Close the gate and occupy the writer with one alert, so that the
        alerts posted next wait together for the next batch."""
        self.opened.clear()
        task = asyncio.create_task(post(client, alert_n(99, strategy="plug")))
        await until(lambda: len(self.batches) == 1)
        return task

    @staticmethod
    async def queue(client, intake, *bodies: dict) -> list[asyncio.Task]:
        """Post `bodies`, each queued for the writer before the next is sent (so
        the batch holds them in this order)."""
        tasks = []
        for body in bodies:
            tasks.append(asyncio.create_task(post(client, body)))
            await until(lambda n=len(tasks): intake.writer.pending == n)
        return tasks


async def test_200_concurrent_alerts_are_each_stored_once_in_few_transactions(db_services):
    await follow(db_services, "a", "BTC/USDT", "*", "all")
    async with serve(db_services) as (client, intake, _):
        results = await asyncio.gather(*(post(client, alert_n(n)) for n in range(200)))
        assert [status for status, _ in results] == [200] * 200
        assert not any(answer["duplicate"] for _, answer in results)
        await processed(intake, 200)
    assert await count(db_services.db, SignalRecord) == 200
    assert await count(db_services.db, OutboxMessage) == 200
    assert intake.writer.batches < 200 and intake.writer.largest_batch > 1
    assert await db_services.db.outbox_bell.wait(1)  # the commits woke the delivery worker


async def test_a_batch_with_the_same_alert_twice_and_a_bad_one(db_services, monkeypatch):
    await follow(db_services, "a", "BTC/USDT", "*", "all")
    gate = Gate(monkeypatch)
    async with serve(db_services) as (client, intake, _):
        plug = await gate.plug(client)
        batch = await gate.queue(
            client, intake, alert_n(1), alert_n(1), alert_n(2, strategy="other")
        )
        # refused at once, while the writer is busy: no wait for the database
        assert await post(client, {**alert_n(3), "price": "-1"}) == (
            400,
            {"ok": False, "error": "price must be a positive number"},
        )
        gate.opened.set()
        (first, again, other), _ = await asyncio.gather(asyncio.gather(*batch), plug)
    assert gate.batches[1:] == [[ALERT["strategy"], ALERT["strategy"], "other"]]  # one batch
    assert first == (200, {"ok": True, "duplicate": False})
    assert again == (200, {"ok": True, "duplicate": True})
    assert other == (200, {"ok": True, "duplicate": False})
    assert await count(db_services.db, SignalRecord) == 3  # the plug, alert 1, alert 2
    assert await count(db_services.db, OutboxMessage) == 3


async def test_a_failed_batch_is_retried_one_by_one(db_services, monkeypatch):
    await follow(db_services, "a", "BTC/USDT", "*", "all")
    gate = Gate(monkeypatch)
    async with serve(db_services) as (client, intake, _):
        plug = await gate.plug(client)
        bodies = (alert_n(1), alert_n(2, strategy="poison"), alert_n(3), alert_n(1))
        tasks = await gate.queue(client, intake, *bodies)
        gate.opened.set()
        (first, poisoned, third, again), _ = await asyncio.gather(asyncio.gather(*tasks), plug)
    mine, poison = ALERT["strategy"], "poison"
    assert gate.batches[1:] == [[mine, poison, mine, mine], [mine], [poison], [mine], [mine]]
    assert intake.writer.fallbacks == 1
    assert first[0] == 200 and not first[1]["duplicate"]
    assert poisoned[0] == 500 and re.fullmatch(r"internal error [0-9a-f]{12}", poisoned[1]["error"])
    assert third[0] == 200 and not third[1]["duplicate"]
    assert again == (200, {"ok": True, "duplicate": True})
    assert await count(db_services.db, SignalRecord) == 3  # the plug, alerts 1 and 3
    assert await count(db_services.db, OutboxMessage) == 3


async def test_stopping_the_server_answers_the_requests_in_flight(db_services, monkeypatch):
    gate = Gate(monkeypatch)
    async with serve(db_services) as (client, intake, server):
        plug = await gate.plug(client)
        tasks = await gate.queue(client, intake, *(alert_n(n) for n in range(5)))
        stopping = asyncio.create_task(server.close())  # stops listening, waits for handlers
        await asyncio.sleep(0.1)
        assert not stopping.done()
        gate.opened.set()
        results = await asyncio.gather(plug, *tasks)
        await stopping
        assert [status for status, _ in results] == [200] * 6
        assert intake.writer.closed and intake.writer.pending == 0
        with pytest.raises(WriterClosed):
            intake.writer.submit(await checked(db_services, ALERT))
    assert await count(db_services.db, SignalRecord) == 6


async def test_an_unconfirmed_alert_is_answered_503_then_stored_once(db_services, monkeypatch):
    gate = Gate(monkeypatch)
    gate.opened.clear()
    async with serve(db_services, timeout=0.2) as (client, intake, _):
        async with client.post(TRADINGVIEW_PATH, data=json.dumps(ALERT)) as response:
            assert response.status == 503 and response.headers["Retry-After"] == "1"
            assert "sending the alert again is safe" in (await response.json())["error"]
        gate.opened.set()  # the commit was only slow: it happens
        intake.timeout = 30  # (however busy the machine running the tests is)
        status, again = await post(client, ALERT)  # the next batch, after that commit
    assert (status, again["duplicate"]) == (200, True)
    assert gate.batches == [[ALERT["strategy"]]] * 2
    assert await count(db_services.db, SignalRecord) == 1


async def test_a_cancelled_wait_still_stores_the_alert_and_logs_it(db_services, monkeypatch):
    gate = Gate(monkeypatch)
    gate.opened.clear()
    intake = tradingview_intake.Intake(db_services, timeout=0.2)
    late: list[str] = []
    monkeypatch.setattr(tradingview_intake.log, "info", lambda event, **_: late.append(event))
    alert = await checked(db_services, ALERT)
    waiting = [asyncio.create_task(intake.receive(alert)) for _ in range(2)]
    await until(lambda: len(gate.batches) == 1)
    waiting[0].cancel()  # the request went away
    with pytest.raises(tradingview_intake.Unconfirmed):
        await waiting[1]  # answered by the intake's one timer
    gate.opened.set()
    await intake.close()  # drains: the alert is stored all the same
    assert waiting[0].cancelled()
    assert await count(db_services.db, SignalRecord) == 1
    assert late.count("tradingview_late_commit") == 2  # each ended wait learns the outcome


async def test_the_writer_batches_and_drains_on_close_then_refuses():
    written: list[list[int]] = []

    async def double(items: Sequence[int]) -> list[int]:
        written.append(list(items))
        await asyncio.sleep(0)
        return [2 * i for i in items]

    writer: GroupCommit[int, int] = GroupCommit(double, max_batch=3)
    futures = [writer.submit(i) for i in range(7)]
    await writer.close()
    assert [f.result() for f in futures] == [0, 2, 4, 6, 8, 10, 12]
    assert written == [[0, 1, 2], [3, 4, 5], [6]]
    with pytest.raises(WriterClosed):
        writer.submit(7)


async def test_a_cancelled_writer_leaves_no_caller_waiting():
    async def never(items: Sequence[int]) -> list[int]:
        await asyncio.Event().wait()
        return list(items)

    writer: GroupCommit[int, int] = GroupCommit(never)
    futures = [writer.submit(i) for i in range(3)]
    await asyncio.sleep(0)
    assert writer._task is not None
    writer._task.cancel()
    done, _ = await asyncio.wait(futures, timeout=1)
    assert len(done) == 3 and all(isinstance(f.exception(), WriterClosed) for f in futures)
