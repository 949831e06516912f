"""Candle storage: bulk, idempotent upserts and range reads."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from engine.market.series import CandleSeries
from storage.db import dialect_insert
from storage.models import Candle

_KEY = ("exchange", "symbol", "timeframe", "open_time")
_VALUES = ("open", "high", "low", "close", "volume")
_COLUMNS = _KEY + _VALUES
# Below this many rows the plain INSERT is as fast as COPY and simpler. (The bound-
# parameter limits, 32,766 on SQLite and 32,767 on asyncpg, are SQLAlchemy's
# concern with insertmanyvalues: it batches the rows to fit.)
_PG_COPY_MIN = 500

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

    Bulk, never row by row: PostgreSQL gets large batches by COPY into a
    temporary table and one INSERT … SELECT … ON CONFLICT (the fastest path
    asyncpg offers); smaller batches and SQLite go through one cached INSERT …
    ON CONFLICT executed over all rows, which SQLAlchemy sends as multi-row
    VALUES ("insertmanyvalues") without re-compiling per chunk.
    """
    records = [
        (
            exchange,
            symbol,
            timeframe,
            int(r[0]),
            float(r[1]),
            float(r[2]),
            float(r[3]),
            float(r[4]),
            float(r[5]),
        )
        for r in rows
    ]
    if not records:
        return 0
    if session.bind.dialect.name == "postgresql" and len(records) >= _PG_COPY_MIN:
        await _copy_upsert(session, records)
        return len(records)
    statement = dialect_insert(session, Candle)
    statement = statement.on_conflict_do_update(
        index_elements=list(_KEY),
        set_={c: getattr(statement.excluded, c) for c in _VALUES},
    )
    await session.execute(
        statement, [dict(zip(_COLUMNS, record, strict=True)) for record in records]
    )
    return len(records)


async def _copy_upsert(session: AsyncSession, records: list[tuple]) -> None:
    connection = await session.connection()
    # SQLAlchemy's asyncpg adapter opens its transaction on the first statement;
    # make that happen now, so COPY and the upsert are part of the session's one.
    await connection.exec_driver_sql("SELECT 1")
    raw = await connection.get_raw_connection()
    driver = raw.driver_connection  # the asyncpg connection, inside the session's transaction
    assert driver is not None
    # A temporary table per connection, emptied at commit: COPY cannot upsert itself.
    await driver.execute(
        "CREATE TEMP TABLE IF NOT EXISTS candles_incoming "
        "(LIKE candles INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
    )
    await driver.copy_records_to_table("candles_incoming", records=records, columns=list(_COLUMNS))
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in _VALUES)
    columns = ", ".join(_COLUMNS)
    await driver.execute(
        f"INSERT INTO candles ({columns}) SELECT {columns} FROM candles_incoming "
        f"ON CONFLICT ({', '.join(_KEY)}) DO UPDATE SET {updates}"
    )
    await driver.execute("TRUNCATE candles_incoming")  # a second upsert in this transaction


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


async def open_times(
    session: AsyncSession, exchange: str, symbol: str, timeframe: str, start_ms: int, end_ms: int
) -> np.ndarray:
    """Open times (int64 ms, ascending) of the stored candles in [start_ms, end_ms]."""
    query = (
        select(Candle.open_time)
        .where(
            Candle.exchange == exchange,
            Candle.symbol == symbol,
            Candle.timeframe == timeframe,
            Candle.open_time >= start_ms,
            Candle.open_time <= end_ms,
        )
        .order_by(Candle.open_time)
    )
    return np.array((await session.execute(query)).scalars().all(), dtype=np.int64)


async def last_open_time(
    session: AsyncSession, exchange: str, symbol: str, timeframe: str
) -> int | None:
    """Open time of the newest stored candle, or None."""
    query = select(func.max(Candle.open_time)).where(
        Candle.exchange == exchange, Candle.symbol == symbol, Candle.timeframe == timeframe
    )
    value = (await session.execute(query)).scalar_one_or_none()
    return None if value is None else int(value)


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
