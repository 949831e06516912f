"""Candle storage: bulk, idempotent upserts and range reads."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from engine.market.series import CandleSeries
from storage.models import Candle

# SQLite allows 32,766 bound parameters per statement; 9 columns per row.
_SQLITE_CHUNK = 3_000
_PG_CHUNK = 5_000

CandleRow = tuple[int, float, float, float, float, float]  # open_time, o, h, l, c, v


def rows_of(series: CandleSeries) -> list[CandleRow]:
    return list(
        zip(
            series.open_time.tolist(),
            series.open.tolist(),
            series.high.tolist(),
            series.low.tolist(),
            series.close.tolist(),
            series.volume.tolist(),
            strict=True,
        )
    )


async def upsert_candles(
    session: AsyncSession, exchange: str, symbol: str, timeframe: str, rows: Iterable[CandleRow]
) -> int:
    """Insert or overwrite candles (same key: same candle, newer values win).

    Returns the number of rows written. Running it twice with the same rows
    leaves the table as after one run.
    """
    pg = session.bind.dialect.name == "postgresql"
    insert = pg_insert if pg else sqlite_insert
    values = [
        {
            "exchange": exchange,
            "symbol": symbol,
            "timeframe": timeframe,
            "open_time": int(r[0]),
            "open": r[1],
            "high": r[2],
            "low": r[3],
            "close": r[4],
            "volume": r[5],
        }
        for r in rows
    ]
    chunk = _PG_CHUNK if pg else _SQLITE_CHUNK
    for start in range(0, len(values), chunk):
        statement = insert(Candle).values(values[start : start + chunk])
        excluded = statement.excluded
        statement = statement.on_conflict_do_update(
            index_elements=["exchange", "symbol", "timeframe", "open_time"],
            set_={c: getattr(excluded, c) for c in ("open", "high", "low", "close", "volume")},
        )
        await session.execute(statement)
    return len(values)


async def load_candles(
    session: AsyncSession,
    exchange: str,
    symbol: str,
    timeframe: str,
    *,
    start_ms: int | None = None,
    end_ms: int | None = None,
    limit: int | None = None,
) -> CandleSeries:
    """Stored candles with open time in [start_ms, end_ms], oldest first; with
    `limit`, the newest `limit` of them."""
    query = select(
        Candle.open_time, Candle.open, Candle.high, Candle.low, Candle.close, Candle.volume
    ).where(Candle.exchange == exchange, Candle.symbol == symbol, Candle.timeframe == timeframe)
    if start_ms is not None:
        query = query.where(Candle.open_time >= start_ms)
    if end_ms is not None:
        query = query.where(Candle.open_time <= end_ms)
    query = query.order_by(Candle.open_time.desc() if limit else Candle.open_time)
    if limit:
        query = query.limit(limit)
    rows: Sequence = (await session.execute(query)).all()
    if limit:
        rows = list(reversed(rows))
    return _series(timeframe, rows)


async def count_candles(session: AsyncSession, exchange: str, symbol: str, timeframe: str) -> int:
    query = (
        select(func.count())
        .select_from(Candle)
        .where(Candle.exchange == exchange, Candle.symbol == symbol, Candle.timeframe == timeframe)
    )
    return int((await session.execute(query)).scalar_one())


def _series(timeframe: str, rows: Sequence) -> CandleSeries:
    data = np.array(rows, dtype=np.float64).reshape(-1, 6)
    return CandleSeries(
        timeframe,
        np.array([r[0] for r in rows], dtype=np.int64),
        data[:, 1].copy(),
        data[:, 2].copy(),
        data[:, 3].copy(),
        data[:, 4].copy(),
        data[:, 5].copy(),
    )
