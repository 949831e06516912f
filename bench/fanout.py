"""Fan-out benchmark: `python bench/fanout.py [--chats 10000] [--scale 1] [--database both]`.

The real PulseWave process (`App.run`: aiogram, the delivery worker, the
scheduler) against the local Bot API server (`tests/telegram_server/`) that
enforces Telegram's limits (30 messages/s overall, 1/s per private chat) and
answers 429 when they are broken.

1. **Fan-out**: one signal with its chart queued to `--chats` chats in one
   transaction. Prints messages/s from the first to the last message the server
   accepted, divided by the limit (30/s × `--scale`; goal ≥ 0.9), chats that got
   nothing (lost) or more than one message (duplicated), 429s received and
   pictures uploaded (goal: 0 lost, 0 duplicated, 1 upload).
2. **Latency**: `--ticks` price alarms in as many chats, each fired by its own
   tick through the alarm service while nothing throttles (the server's limits
   off); tick → the server receiving the message (sendPhoto), p50/p99
   (goal p99 < 250 ms). Baseline in the same run: the same messages queued
   directly (queue → server), i.e. the delivery path without the alarm.

`--scale` speeds Telegram's limits up on both sides (the server's buckets and our
`TelegramLimits`) so a run takes less than 10,000/30 s; the ratio is against the
scaled limit.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy import insert

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import quantiles, temporary_postgres, wait_until
from bot.app import App
from bot.logs import configure_logging
from engine.strategies.base import Signal
from handlers.alarm_engine import alarm_service
from handlers.dispatch import dispatch
from handlers.session import PlatformChat, PlatformUser, open_context
from handlers.signal_text import SignalView
from settings import Settings
from storage import outbox
from storage.accounts import touch_chat
from storage.models import Chat
from tests.telegram_server import TelegramServer

TELEGRAM_PER_SECOND = 30.0


class Running:
    """The App running against a Bot API server until `stop()`."""

    def __init__(self, server: TelegramServer, database_url: str, folder: str, scale: float):
        self.server = server
        self.settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            database_url=database_url,
            market_source="replay",
            replay_speed=0,  # a frozen market: nothing fires but what the bench fires
            output_dir=folder,
            telegram_bot_token=server.token,
            telegram_api_url=server.base_url,
            web_port=0,
            signal_history_candles=0,
        )
        self.scale = scale

    async def __aenter__(self) -> App:
        self.app = await App.create(self.settings)
        self.stop_event = asyncio.Event()
        options = {"rate_scale": self.scale}
        self.task = asyncio.create_task(
            self.app.run(stop=self.stop_event, telegram_options=options)
        )
        await self.server.wait_for(lambda: self.server.count("deleteWebhook"), 60, "polling")
        return self.app

    async def __aexit__(self, *exc: object) -> None:
        self.stop_event.set()
        await asyncio.wait_for(self.task, 60)
        await self.app.close()


async def create_chats(services: Any, numbers: range) -> list[int]:
    """The recipients, created in one statement (a transaction of 10,000 upserts
    would hold SQLite's write lock for seconds)."""
    rows = [
        {"platform": "telegram", "external_id": str(n), "kind": "private", "active": True}
        for n in numbers
    ]
    async with services.db.session() as session:
        # executemany: SQLAlchemy sends multi-row INSERTs within the bound-parameter limits
        statement = insert(Chat).returning(Chat.id, sort_by_parameter_order=True)
        return list((await session.execute(statement, rows)).scalars())


async def fan_out(database_url: str, folder: str, chats: int, scale: float) -> dict[str, Any]:
    async with (
        TelegramServer(rate_scale=scale, auto_chats=True) as server,
        Running(server, database_url, folder, scale) as app,
    ):
        services = app.services
        chart = await services.charts.notification_chart("BTC/USDT", "1h")
        assert chart is not None
        signal = Signal("BTC/USDT", "1h", "pulsewave", "buy", 0, 84_000, 82_000, 90_000, 80, "")
        payload = SignalView.of_signal(1, signal, status="open", source="bench").payload()
        ids = await create_chats(services, range(1, chats + 1))
        queued = time.monotonic()
        async with services.db.session() as session:
            nid = await outbox.create_notification(
                session, "bench:fanout", "signal", payload, chart[0], chart[1]
            )
            assert nid is not None
            await outbox.enqueue(session, nid, ids)
        limit = TELEGRAM_PER_SECOND * scale
        await wait_until(
            lambda: len({m.chat_id for m in server.sent}) >= chats,
            chats / limit * 3 + 60,
            "every chat served",
        )
        await asyncio.sleep(1.0)  # anything sent twice would arrive by now
        accepted = sorted(
            r.at for r in server.requests if r.method == "sendPhoto" and r.status == 200
        )
        per_chat = Counter(m.chat_id for m in server.sent)
        async with services.db.session() as session:
            depth = await outbox.queue_depth(session)
    span = accepted[-1] - accepted[0]
    rate = (len(accepted) - 1) / span if span > 0 else float("inf")
    return {
        "rate": rate,
        "ratio": rate / limit,
        "limit": limit,
        "first_after": accepted[0] - queued,
        "span": span,
        "lost": sum(1 for n in range(1, chats + 1) if per_chat[n] == 0),
        "duplicated": sum(1 for count in per_chat.values() if count > 1),
        "too_many": server.too_many_requests,
        "uploads": len(server.uploads),
        "depth": depth,
    }


async def latency(database_url: str, folder: str, ticks: int) -> dict[str, Any]:
    async with (
        TelegramServer(rate_limits=False, auto_chats=True) as server,
        Running(server, database_url, folder, scale=1000.0) as app,
    ):
        services = app.services
        base = 100_000.0
        contexts = []
        for n in range(ticks):
            chat = str(10_000_000 + n)
            ctx = await open_context(services, PlatformUser("telegram", chat), PlatformChat(chat))
            reply = await dispatch(ctx, f"/alarm BTC above {base + n}")
            assert not reply.is_error, reply.text
            contexts.append(ctx)
        service = await alarm_service(services)
        await asyncio.gather(*service._warming)  # as after start-up: charts rendered ahead
        await asyncio.sleep(0.5)
        fired_at: dict[int, float] = {}
        for n, ctx in enumerate(contexts):
            fired_at[int(ctx.chat.external_id)] = time.monotonic()
            assert await service.on_tick("BTC/USDT", base + n + 0.5, services.clock.now_ms()) == 1
            await asyncio.sleep(0.02)
        await wait_until(lambda: len(server.sent) >= ticks, 60, "every alarm delivered")
        arrived = {
            int(r.chat_id): r.at
            for r in server.requests
            if r.method == "sendPhoto" and r.status == 200
        }
        alarm_ms = [(arrived[chat] - t0) * 1000 for chat, t0 in fired_at.items()]
        # Baseline: the same path without the alarm (queue → worker → server).
        chart = await services.charts.notification_chart("BTC/USDT", "1h")
        assert chart is not None
        queued_at: dict[int, float] = {}
        for n in range(ticks):
            chat_id = 20_000_000 + n
            async with services.db.session() as session:
                chat = await touch_chat(session, "telegram", str(chat_id), kind="private")
                queued_at[chat_id] = time.monotonic()
                nid = await outbox.create_notification(
                    session, f"bench:{n}", "broadcast", {"text": "x"}, chart[0], chart[1]
                )
                await outbox.enqueue(session, nid or 0, [chat.id])
            await asyncio.sleep(0.02)
        await wait_until(lambda: len(server.sent) >= 2 * ticks, 60, "baseline delivered")
        arrived = {
            int(r.chat_id): r.at
            for r in server.requests
            if r.method == "sendPhoto" and r.status == 200
        }
        queue_ms = [(arrived[chat] - t0) * 1000 for chat, t0 in queued_at.items()]
    return {"alarm": quantiles(alarm_ms), "queue": quantiles(queue_ms)}


async def measure(label: str, database_url: str, folder: str, args: argparse.Namespace) -> None:
    print(f"{label}:")
    # SQLite: a file per part ("{part}" in the URL); PostgreSQL: one database.
    result = await fan_out(database_url.format(part="fanout"), folder, args.chats, args.scale)
    print(
        f"  fan-out to {args.chats} chats: {result['rate']:.1f} messages/s over "
        f"{result['span']:.1f} s (first after {result['first_after'] * 1000:.0f} ms)"
    )
    print(
        f"  rate / Telegram's limit ({result['limit']:.0f}/s): {result['ratio']:.3f}"
        f"   (goal >= 0.9: {'met' if result['ratio'] >= 0.9 else 'NOT met'})"
    )
    print(
        f"  lost {result['lost']}, duplicated {result['duplicated']}, "
        f"429s received {result['too_many']}, uploads {result['uploads']}, outbox {result['depth']}"
    )
    lat = await latency(database_url.format(part="latency"), folder, args.ticks)
    (p50, p99), (q50, q99) = lat["alarm"], lat["queue"]
    print(f"  tick -> sendPhoto ({args.ticks} alarms): p50 {p50:.1f} ms, p99 {p99:.1f} ms")
    print(f"  baseline queue -> sendPhoto:      p50 {q50:.1f} ms, p99 {q99:.1f} ms")
    print(
        f"  p99 / baseline p99: {p99 / q99:.2f}x   (goal p99 < 250 ms: {'met' if p99 < 250 else 'NOT met'})"
    )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"  peak RSS of the process so far: {peak:.0f} MiB")


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chats", type=int, default=10_000)
    parser.add_argument("--scale", type=float, default=1.0, help="Telegram's limits × this")
    parser.add_argument("--ticks", type=int, default=200)
    parser.add_argument("--database", choices=("sqlite", "postgresql", "both"), default="sqlite")
    args = parser.parse_args()
    configure_logging("WARNING")
    with tempfile.TemporaryDirectory() as folder:
        if args.database in ("sqlite", "both"):
            await measure("SQLite", f"sqlite+aiosqlite:///{folder}/{{part}}.db", folder, args)
        if args.database == "sqlite":
            return 0
        async with temporary_postgres() as url:
            await measure("PostgreSQL", url, folder, args)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
