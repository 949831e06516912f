"""The delivery guarantees (`bot/delivery.py`'s docstring, the README's "Delivery")
end to end: the outbox worker sending through the real aiogram client, wired as the
process wires it (`TelegramFrontend`'s Bot and `TelegramSender`), to the local Bot
API server, which enforces Telegram's rate limits (both sides `RATE_SCALE` times
faster) and injects 429, 502 and 403. On SQLite and PostgreSQL.

- a fan-out with faults: every chat gets each message exactly once, in order; the
  blocked chat none; the picture is uploaded once;
- a worker process killed with SIGKILL mid-fan-out, then a new one: the rest is
  delivered, once;
- two workers with their own connection pools on one PostgreSQL queue: disjoint
  shares, nothing twice.

What the server received (`sent_to`, `uploads`, `requests`) is the truth here; the
outbox rows must agree with it. The helpers are in `delivery_helpers.py`.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.delivery import DeliveryWorker
from storage.db import Database
from storage.models import Chat, Notification
from tests.helpers import eventually
from tests.telegram.conftest import RATE_SCALE
from tests.telegram.delivery_helpers import (
    PNG,
    QUICK,
    add_chats,
    deliver_all,
    fan_out,
    outbox_rows,
    the_one,
)
from tests.telegram.worker_process import telegram_delivery
from tests.telegram_server import SentMessage, TelegramServer

PROJECT = Path(__file__).resolve().parent.parent.parent
RETRY_AFTER = 1  # seconds, the smallest Telegram sends


# --- 1. a fan-out with faults -----------------------------------------------------------


async def test_a_fan_out_with_faults_delivers_every_message_once(
    tmp_path: Path, telegram: TelegramServer, database: Database, database_url: str
) -> None:
    """A signal with its chart to 40 private chats and two groups, then an alarm
    text to the same chats, while Telegram answers some sends with 429 (and a
    `retry_after`), some with 502 (JSON, or a proxy's HTML page) and one user has
    blocked the bot: every other chat gets the chart then the text, once each; the
    blocked chat nothing, and it is marked inactive with its rows dropped; the chart
    is uploaded once and every other recipient gets it by file id; a 429 waits its
    `retry_after` and is not counted as a failed attempt."""
    server = telegram
    people = [server.private_chat(server.user(7001 + n)).id for n in range(40)]
    group = server.group(-7101, "Traders", {people[0]: "creator"})
    supergroup = server.group(-1000000007102, "Signals", {people[1]: "creator"}, kind="supergroup")
    kinds = {**dict.fromkeys(people, "private"), group.id: "group", supergroup.id: "supergroup"}
    chat_ids = await add_chats(database, kinds)

    # The first recipient uploads the chart; faults hit later ones (a failed upload
    # would be a second upload by whoever goes next: correct, but not "once").
    limited = [people[5], people[17], group.id]  # 429 with retry_after, once
    flaky = [people[9], supergroup.id]  # 502 twice, then fine
    proxied = people[23]  # a proxy's HTML 502 page, once
    blocked = people[12]  # 403 "bot was blocked by the user"
    for chat in limited:
        server.fail_next("sendPhoto", 429, retry_after=RETRY_AFTER, chat_id=chat)
    for chat in flaky:
        server.fail_next("sendPhoto", 502, chat_id=chat, times=2)
    server.fail_next("sendPhoto", 502, chat_id=proxied, body="<html>502 Bad Gateway</html>")
    server.block_chat(blocked)

    signal_text, alarm_text = "🚀 BTC/USDT long <entry 84 000 & up>", "BTC crossed 85 000"
    await fan_out(database, "signal:1", signal_text, chat_ids.values(), PNG)
    await fan_out(database, "alarm:2", alarm_text, chat_ids.values())

    async with telegram_delivery(
        tmp_path, database_url, server.base_url, server.token, RATE_SCALE
    ) as (app, sender):
        worker = DeliveryWorker(
            app.services, [sender], worker_id="e2e", concurrency=8, max_attempts=4, **QUICK
        )
        await deliver_all([worker], database)

    rows = await outbox_rows(database)
    delivered = [chat for chat in kinds if chat != blocked]
    # What the chats received: the chart then the text, once each, nothing else.
    for chat in delivered:
        messages = server.sent_to(chat)
        assert [(m.method, m.plain) for m in messages] == [
            ("sendPhoto", signal_text),
            ("sendMessage", alarm_text),
        ], chat
        assert [r.status for r in rows[chat]] == ["sent", "sent"], chat
        assert [r.platform_message_id for r in rows[chat]] == [str(m.message_id) for m in messages]
    assert len(server.sent) == 2 * len(delivered)

    # The blocked chat: nothing sent, inactive, its two rows dropped.
    assert server.sent_to(blocked) == []
    assert [r.status for r in rows[blocked]] == ["dropped", "dropped"]
    assert "blocked" in (rows[blocked][0].error or "")
    assert len([r for r in server.requests if str(r.chat_id) == str(blocked)]) == 1
    async with database.session() as session:
        chats = {int(c.external_id): c.active for c in (await session.scalars(select(Chat)))}
        [notification] = await session.scalars(
            select(Notification).where(Notification.key == "signal:1")
        )
    assert chats == {chat: chat != blocked for chat in kinds}

    # The chart went up once; every other photo is that file, sent by its id.
    [upload] = server.uploads
    assert len([r for r in server.calls("sendPhoto") if r.files]) == 1
    photos = [server.sent_to(chat)[0] for chat in delivered]
    assert [p.uploaded for p in photos].count(True) == 1
    assert {p.photo_file_id for p in photos} == {upload.file_id}
    assert notification.file_ids == {"telegram": upload.file_id}

    # 429s: answered by the server (and only the injected ones: our side kept
    # Telegram's limits), each waited for `retry_after`, not counted as attempts.
    assert server.too_many_requests == len(limited)
    assert server.count("sendPhoto", 429) == len(limited)
    for chat in limited:
        tries = [r for r in server.calls("sendPhoto") if str(r.chat_id) == str(chat)]
        assert [r.status for r in tries] == [429, 200]
        waited = tries[1].at - tries[0].at
        assert RETRY_AFTER * 0.95 <= waited < RETRY_AFTER + 2, (chat, waited)
        assert rows[chat][0].attempts == 1
    # 502s: retried with backoff until sent, each failure an attempt.
    for chat in flaky:
        tries = [r for r in server.calls("sendPhoto") if str(r.chat_id) == str(chat)]
        assert [r.status for r in tries] == [502, 502, 200]
        assert rows[chat][0].attempts == 3
    assert rows[proxied][0].attempts == 2
    others = [c for c in delivered if c not in (*limited, *flaky, proxied)]
    assert {r.attempts for c in others for r in rows[c]} == {1}

    stats = worker.stats
    assert (stats.sent, stats.dropped, stats.failed, stats.uploads) == (
        2 * len(delivered),
        1,
        0,
        1,
    )
    assert stats.by_error["429"] == len(limited)


# --- 2. a worker killed mid-fan-out -------------------------------------------------------

KILL_AFTER = 8  # messages the first worker gets through before it is killed
CONCURRENCY = 4  # its sends in flight at once (all held by the server when it dies)
LEASE = 1.0  # seconds: when the dead worker's claims become free again
HOLD = 1.5  # seconds the server holds each send before processing it (the kill
# comes within milliseconds of the last one arriving)


@pytest.mark.slow
async def test_a_worker_killed_mid_fan_out_is_resumed_without_loss_or_duplicate(
    tmp_path: Path, telegram: TelegramServer, database: Database, database_url: str
) -> None:
    """A worker process is SIGKILLed in the middle of a fan-out to 30 chats; a new
    worker delivers the rest, each exactly once.

    The scenario is made deterministic: once `KILL_AFTER` photos have reached the
    server, the server holds every further send *before* processing it. The test
    waits until the worker has recorded those `KILL_AFTER` as sent and has
    `CONCURRENCY` sends held, then kills it. So at the instant of the kill, every
    row the worker claimed is either recorded `sent` or in flight but not
    processed; the held requests find their client gone and are never executed
    (status 499). The unrecorded rows stay `sending` under the dead worker's lease;
    when it runs out, the new worker claims them and sends each once.

    No duplicate is possible here because no send was confirmed by Telegram and
    left unrecorded. The README ("Delivery", "After a crash") says what a hard kill
    can duplicate in general: a message the platform confirmed but the worker had
    not recorded yet, at most one per chat being served (`concurrency` per
    worker). That window is not exercised here; a duplicate here would be a bug.
    """
    server = telegram
    people = [server.private_chat(server.user(8001 + n)).id for n in range(30)]
    chat_ids = await add_chats(database, dict.fromkeys(people, "private"))
    text = "📉 ETH/USDT short"
    await fan_out(database, "signal:crash", text, chat_ids.values(), PNG)

    holding = False

    def hold_the_rest(message: SentMessage) -> None:
        nonlocal holding
        if not holding and len(server.sent) >= KILL_AFTER:
            holding = True
            server.delay(HOLD, method="sendPhoto")  # before processing: may be dropped

    server.listeners.append(hold_the_rest)
    log_path = tmp_path / "killed-worker.log"
    with log_path.open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.telegram.worker_process",
            "--database-url",
            database_url,
            "--api-url",
            server.base_url,
            "--token",
            server.token,
            "--worker-id",
            "killed",
            "--lease",
            str(LEASE),
            "--rate-scale",
            str(RATE_SCALE),
            "--concurrency",
            str(CONCURRENCY),
            "--tmp",
            str(tmp_path / "killed"),
            cwd=PROJECT,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
        )
    try:
        await server.wait_for(
            lambda: holding or process.returncode is not None, 90, "the worker to start sending"
        )
        assert process.returncode is None, log_path.read_text()

        async def mid_fan_out() -> bool:
            rows = await outbox_rows(database)
            sent = sum(r[0].status == "sent" for r in rows.values())
            return sent == KILL_AFTER and server._inflight == CONCURRENCY

        await eventually(mid_fan_out, 15, f"{KILL_AFTER} sends recorded, {CONCURRENCY} held")
        process.send_signal(signal.SIGKILL)
        assert await asyncio.wait_for(process.wait(), 10) == -signal.SIGKILL
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    server.listeners.remove(hold_the_rest)
    server.delay(0)  # sends from now on are processed at once

    # The crash as the database saw it: the rest still claimed by the dead worker.
    rows = await outbox_rows(database)
    assert Counter((r[0].status, r[0].claimed_by) for r in rows.values()) == {
        ("sent", "killed"): KILL_AFTER,
        ("sending", "killed"): len(people) - KILL_AFTER,
    }
    assert len(server.sent) == KILL_AFTER

    async with telegram_delivery(
        tmp_path / "restarted", database_url, server.base_url, server.token, RATE_SCALE
    ) as (app, sender):
        worker = DeliveryWorker(app.services, [sender], worker_id="restarted", **QUICK)
        await deliver_all([worker], database)
    await server.wait_for(
        lambda: server.count("sendPhoto", 499) == CONCURRENCY, HOLD + 5, "the held sends"
    )

    # Every chat got the signal exactly once.
    for chat in people:
        assert the_one(server, chat).plain == text
    # The held sends of the dead worker were never executed.
    held = [r for r in server.calls("sendPhoto") if r.status == 499]
    assert len(held) == CONCURRENCY
    rows = await outbox_rows(database)
    assert {r[0].status for r in rows.values()} == {"sent"}
    assert Counter(r[0].claimed_by for r in rows.values()) == {
        "killed": KILL_AFTER,
        "restarted": len(people) - KILL_AFTER,
    }
    for chat in people:
        assert rows[chat][0].platform_message_id == str(server.sent_to(chat)[0].message_id)
    # The picture was uploaded once, by the dead worker; the new one used its file id.
    assert len(server.uploads) == 1
    assert (worker.stats.sent, worker.stats.uploads) == (len(people) - KILL_AFTER, 0)


# --- 3. two workers on one PostgreSQL queue ---------------------------------------------


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_two_workers_share_a_postgresql_queue_without_overlap(
    tmp_path: Path, telegram: TelegramServer, database: Database, database_url: str
) -> None:
    """Two workers, each with its own connection pool and its own aiogram Bot (as
    two processes have), deliver one queue of 150 messages to 150 chats at once:
    `FOR UPDATE SKIP LOCKED` gives them disjoint rows, so each chat gets one
    message, each worker sends a share, and no row is ever claimed twice."""
    server = telegram
    people = [server.private_chat(server.user(9001 + n)).id for n in range(150)]
    chat_ids = await add_chats(database, dict.fromkeys(people, "private"))
    text = "Weekly digest"
    await fan_out(database, "digest:1", text, chat_ids.values())

    async with (
        telegram_delivery(
            tmp_path / "a", database_url, server.base_url, server.token, RATE_SCALE
        ) as (app_a, sender_a),
        telegram_delivery(
            tmp_path / "b", database_url, server.base_url, server.token, RATE_SCALE
        ) as (app_b, sender_b),
    ):
        assert app_a.services.db.engine is not app_b.services.db.engine
        workers = [
            DeliveryWorker(app.services, [sender], worker_id=name, batch=10, **QUICK)
            for name, app, sender in (("a", app_a, sender_a), ("b", app_b, sender_b))
        ]
        await deliver_all(workers, database)

    for chat in people:
        assert the_one(server, chat).plain == text
    assert len(server.sent) == len(people)
    rows = await outbox_rows(database)
    assert {r[0].status for r in rows.values()} == {"sent"}
    assert {r[0].attempts for r in rows.values()} == {1}  # each row claimed once
    shares = Counter(r[0].claimed_by for r in rows.values())
    assert shares == {"a": workers[0].stats.sent, "b": workers[1].stats.sent}
    assert shares["a"] > 0 and shares["b"] > 0
    assert shares["a"] + shares["b"] == len(people)
