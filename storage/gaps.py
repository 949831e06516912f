"""Known candle gaps: periods an exchange has no candles for, so they are not re-requested."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import dialect_insert
from storage.models import CandleGap, utcnow


async def add_gaps(
    session: AsyncSession,
    exchange: str,
    symbol: str,
    timeframe: str,
    gaps: list[tuple[int, int]],
) -> None:
    """Record gaps as (first missing open time, last missing open time); idempotent
    (the same gap found again, e.g. by a resumed backfill, widens nothing)."""
    if not gaps:
        return
    statement = dialect_insert(session, CandleGap).values(
        [
            {
                "exchange": exchange,
                "symbol": symbol,
                "timeframe": timeframe,
                "start_time": start,
                "end_time": end,
                "found_at": utcnow(),
            }
            for start, end in gaps
        ]
    )
    statement = statement.on_conflict_do_update(
        index_elements=["exchange", "symbol", "timeframe", "start_time"],
        set_={"end_time": statement.excluded.end_time},
    )
    await session.execute(statement)


async def load_gaps(
    session: AsyncSession,
    exchange: str,
    symbol: str,
    timeframe: str,
    start_ms: int | None = None,
    end_ms: int | None = None,
) -> list[tuple[int, int]]:
    """Known gaps overlapping [start_ms, end_ms], oldest first."""
    query = select(CandleGap.start_time, CandleGap.end_time).where(
        CandleGap.exchange == exchange,
        CandleGap.symbol == symbol,
        CandleGap.timeframe == timeframe,
    )
    if start_ms is not None:
        query = query.where(CandleGap.end_time >= start_ms)
    if end_ms is not None:
        query = query.where(CandleGap.start_time <= end_ms)
    rows = (await session.execute(query.order_by(CandleGap.start_time))).all()
    return [(int(a), int(b)) for a, b in rows]
