"""Candle ingestion benchmark: `python bench/ingest.py`.

Prints candles/second for upserting one year of 1h candles for 10 symbols
(87,600 real BTC/USDT candles, relabelled per symbol) into SQLite and into
PostgreSQL (a database of its own, created and dropped here), beside a naive
row-by-row baseline measured in the same run, and the time of a full one-year
backfill through the local exchange server (real ccxt client, loopback only).
Goal: >= 50,000 candles/s into PostgreSQL.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from bench._common import temporary_postgres
from engine.market.ccxt_client import CcxtClient, RetryPolicy, build_exchange
from engine.market.clock import ReplayClock
from engine.market.series import read_candle_file
from engine.market.timeframes import DAY_MS
from handlers.ingest import Ingestor
from settings import BUNDLED_DATA_DIR
from storage.candles import CandleRow, count_candles, rows_of, upsert_candles
from storage.db import Database
from storage.models import Candle

SYMBOLS = [f"S{i}/USDT" for i in range(10)]
BASELINE_ROWS = 3_000  # row-by-row is slow: measured on a slice, reported per second


def one_year() -> list[CandleRow]:
    series = read_candle_file(BUNDLED_DATA_DIR / "BTC_USDT-1h.csv.gz", "1h")
    return rows_of(series)[-8760:]


async def bulk(db: Database, rows: list[CandleRow]) -> float:
    began = time.perf_counter()
    for symbol in SYMBOLS:  # one transaction per symbol, as a backfill page run would
        async with db.session() as session:
            await upsert_candles(session, "bench", symbol, "1h", rows)
    elapsed = time.perf_counter() - began
    async with db.session() as session:
        assert await count_candles(session, "bench", SYMBOLS[-1], "1h") == len(rows)
    return len(rows) * len(SYMBOLS) / elapsed


async def row_by_row(db: Database, rows: list[CandleRow]) -> float:
    insert = pg_insert if db.dialect == "postgresql" else sqlite_insert
    began = time.perf_counter()
    async with db.session() as session:
        for r in rows[:BASELINE_ROWS]:
            statement = insert(Candle).values(
                exchange="naive",
                symbol="N/USDT",
                timeframe="1h",
                open_time=r[0],
                open=r[1],
                high=r[2],
                low=r[3],
                close=r[4],
                volume=r[5],
            )
            statement = statement.on_conflict_do_update(
                index_elements=["exchange", "symbol", "timeframe", "open_time"],
                set_={
                    c: getattr(statement.excluded, c)
                    for c in ("open", "high", "low", "close", "volume")
                },
            )
            await session.execute(statement)
    return BASELINE_ROWS / (time.perf_counter() - began)


async def measure(name: str, url: str, rows: list[CandleRow]) -> None:
    db = Database(url)
    await db.migrate()
    try:
        fresh = await bulk(db, rows)
        again = await bulk(db, rows)  # every row conflicts: the update path
        naive = await row_by_row(db, rows)
        print(
            f"{name:10s} bulk upsert {fresh:>10,.0f} candles/s (new rows), "
            f"{again:>10,.0f} candles/s (all conflicting) | row-by-row baseline "
            f"{naive:>8,.0f} candles/s | {fresh / naive:.0f}x"
        )
    finally:
        await db.dispose()


async def backfill_through_server(url: str) -> None:
    from tests.exchange_server import ExchangeServer

    server = ExchangeServer(now_ms=1_748_736_000_000)  # 2025-06-01 00:00 UTC
    await server.start()
    config = {**server.ccxt_config(), "rateLimit": 1}
    client = CcxtClient(
        "binance",
        build_exchange("binance", config, websockets=False, timeout_s=10),
        retry=RetryPolicy(attempts=2, base_s=0.05),
    )
    db = Database(url)
    await db.migrate()
    try:
        clock = ReplayClock(datetime(2025, 6, 1, tzinfo=UTC), speed=0)
        clock.set(server.now_ms)
        ingestor = Ingestor(db, clock)
        began = time.perf_counter()
        total = requests = 0
        for symbol in ("BTC/USDT", "ETH/USDT"):
            result = await ingestor.sync(client, symbol, "1h", server.now_ms - 365 * DAY_MS)
            total += result.written
            requests += result.requests
        elapsed = time.perf_counter() - began
        print(
            f"backfill   one year of 1h for BTC/USDT and ETH/USDT through the local server "
            f"(ccxt, {requests} requests): {total:,} candles in {elapsed:.2f} s "
            f"({total / elapsed:,.0f} candles/s)"
        )
    finally:
        await client.close()
        await server.stop()
        await db.dispose()


async def main() -> None:
    rows = one_year()
    print(f"upserting {len(rows) * len(SYMBOLS):,} candles (1 year of 1h x {len(SYMBOLS)} symbols)")
    with tempfile.TemporaryDirectory() as folder:
        await measure("SQLite", f"sqlite+aiosqlite:///{folder}/bench.db", rows)
        async with temporary_postgres() as url:
            await measure("PostgreSQL", url, rows)
        await backfill_through_server(f"sqlite+aiosqlite:///{folder}/backfill.db")


if __name__ == "__main__":
    asyncio.run(main())
