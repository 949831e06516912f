"""TradingView webhook benchmark: `python bench/webhook.py [--requests 1000]`.

Fires N distinct alerts at once at the real `/webhook/tradingview` route (the
real App on the DEMO market, a follower for the market so every alert is stored
and queued) over loopback HTTP, on SQLite and on PostgreSQL (a database of its
own, created and dropped here), then N repeats of the same alerts. Prints the
response-time median/p99, checks every alert was accepted once (N signals, N
outbox rows, N repeats answered "duplicate"), and compares with a baseline: the
same requests to an empty route on the same server, in the same run.
Goal: p99 < 200 ms for 1,000 concurrent requests.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import aiohttp
import asyncpg
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import func, select

from bot.app import App
from bot.logs import configure_logging
from bot.webhooks import TRADINGVIEW_PATH, add_tradingview_route
from handlers.session import PlatformChat, PlatformUser, open_context
from settings import Settings
from storage import follows
from storage.models import OutboxMessage, SignalRecord

SECRET = "bench-secret"
PG = dict(
    host=os.environ.get("PULSEWAVE_TEST_PG_HOST", "127.0.0.1"),
    port=int(os.environ.get("PULSEWAVE_TEST_PG_PORT", "5432")),
    user=os.environ.get("PULSEWAVE_TEST_PG_USER", "postgres"),
)


def alert(n: int) -> bytes:
    """Distinct alerts: one per minute going back from the replay start."""
    return json.dumps(
        {
            "symbol": "BINANCE:BTCUSDT",
            "timeframe": "1",
            "action": "buy" if n % 2 else "sell",
            "price": 84000 + n,
            "timestamp": 1740787200000 - 60_000 * (n + 1),
            "strategy": "bench",
            "passphrase": SECRET,
        }
    ).encode()


async def fire(session: aiohttp.ClientSession, url: str, bodies: list[bytes]) -> tuple[list, list]:
    async def one(body: bytes) -> tuple[float, int, dict]:
        t0 = time.perf_counter()
        try:
            async with session.post(url, data=body) as response:
                answer = await response.json(content_type=None)
                return time.perf_counter() - t0, response.status, answer
        except (aiohttp.ClientError, ValueError) as error:
            return time.perf_counter() - t0, 0, {"error": repr(error), "duplicate": None}

    results = await asyncio.gather(*(one(b) for b in bodies))
    return [r[0] for r in results], [(r[1], r[2]) for r in results]


def fire_from_another_process(url: str, bodies: list[bytes]) -> tuple[list, list]:
    """The load comes from a separate process, as TradingView's would: a client
    sharing the server's event loop would mostly measure itself."""

    async def run() -> tuple[list, list]:
        connector = aiohttp.TCPConnector(limit=len(bodies))
        async with aiohttp.ClientSession(connector=connector) as session:
            return await fire(session, url, bodies)

    return asyncio.run(run())


def quantiles(times: list[float]) -> tuple[float, float]:
    ordered = sorted(times)
    return statistics.median(ordered) * 1000, ordered[int(0.99 * (len(ordered) - 1))] * 1000


async def measure(label: str, database_url: str, folder: str, n: int) -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=database_url,
        market_source="replay",
        replay_speed=0,
        output_dir=folder,
    )
    app = await App.create(settings)
    services = app.services
    ctx = await open_context(services, PlatformUser("bench", "1"), PlatformChat("1"))
    async with services.db.session() as session:
        await follows.add_follow(session, ctx.chat.id, "BTC/USDT", "*", "all")
    routes = web.Application()
    add_tradingview_route(routes, services, SECRET)

    async def empty(request: web.Request) -> web.Response:
        await request.read()
        return web.json_response({"ok": True})

    routes.router.add_post("/baseline", empty)
    runner = web.AppRunner(routes, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    base = f"http://127.0.0.1:{port}"
    bodies = [alert(i) for i in range(n)]
    loop = asyncio.get_running_loop()
    try:
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:

            async def load(path: str) -> tuple[list, list]:
                return await loop.run_in_executor(
                    pool, fire_from_another_process, base + path, bodies
                )

            base_times, _ = await load("/baseline")
            times, answers = await load(TRADINGVIEW_PATH)
            repeat_times, repeats = await load(TRADINGVIEW_PATH)
        async with services.db.session() as s:
            signals = (await s.execute(select(func.count()).select_from(SignalRecord))).scalar()
            rows = (await s.execute(select(func.count()).select_from(OutboxMessage))).scalar()
    finally:
        await runner.cleanup()
        await app.close()
    accepted = sum(1 for status, a in answers if status == 200 and not a["duplicate"])
    duplicates = sum(1 for status, a in repeats if status == 200 and a["duplicate"])
    med, p99 = quantiles(times)
    rmed, rp99 = quantiles(repeat_times)
    bmed, bp99 = quantiles(base_times)
    print(f"{label}: {n} concurrent alerts")
    print(f"  accepted once: {accepted}/{n}   signals stored: {signals}   outbox rows: {rows}")
    print(f"  repeats answered duplicate: {duplicates}/{n}")
    failures = [a for status, a in answers + repeats if status != 200]
    if failures:
        print(f"  failed requests: {len(failures)}, e.g. {failures[0]}")
    print(f"  new alerts:  median {med:7.1f} ms   p99 {p99:7.1f} ms")
    print(f"  repeats:     median {rmed:7.1f} ms   p99 {rp99:7.1f} ms")
    print(f"  baseline (empty route): median {bmed:7.1f} ms   p99 {bp99:7.1f} ms")
    print(f"  p99 / baseline p99: {p99 / bp99:5.1f}x")
    ok = accepted == n == signals == rows == duplicates and p99 < 200
    print(f"  goal (all once, p99 < 200 ms): {'met' if ok else 'NOT met'}")


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    configure_logging("WARNING")
    with tempfile.TemporaryDirectory() as folder:
        await measure("SQLite", f"sqlite+aiosqlite:///{folder}/bench.db", folder, args.requests)
        if args.no_postgres:
            return 0
        admin = await asyncpg.connect(database="postgres", **PG)
        name = f"pulsewave_bench_{uuid.uuid4().hex[:8]}"
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            url = f"postgresql+asyncpg://{PG['user']}@{PG['host']}:{PG['port']}/{name}"
            await measure("PostgreSQL", url, folder, args.requests)
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.close()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
