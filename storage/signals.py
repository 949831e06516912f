"""Signals: stored once, followed to their outcome, summarised into a track record."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from engine.signals import Outcome
from engine.strategies.base import Signal
from storage.db import dialect_insert
from storage.models import SignalRecord, utcnow

CLOSED_STATUSES = ("target", "stop", "expired")


@dataclass(frozen=True, slots=True)
class NewSignal:
    """A signal this call stored (no other process or earlier run had it)."""

    id: int
    signal: Signal


SIGNAL_UNIQUE = ("strategy", "symbol", "timeframe", "candle_open_ms")


def unique_key(s: Signal) -> tuple[str, str, str, int]:
    """What makes a signal the same signal (the table's unique key)."""
    return (s.strategy, s.symbol, s.timeframe, s.candle_open_ms)


async def record_signals(
    session: AsyncSession, signals: Iterable[Signal], source: str = "live"
) -> list[NewSignal]:
    """Store `signals`, skipping any already stored (same strategy, symbol,
    timeframe and candle); returns only the new ones, in the order given.

    One INSERT … ON CONFLICT DO NOTHING RETURNING for all of them: the database
    decides, so two processes scanning the same candle store it once and only
    one of them gets it back (and fans it out). Rows go in in key order, so two
    processes' transactions take the unique-index locks in the same order (no
    deadlock on PostgreSQL).
    """
    wanted: dict[tuple[str, str, str, int], Signal] = {}
    for signal in signals:
        wanted.setdefault(unique_key(signal), signal)  # the first of a key wins
    if not wanted:
        return []
    now = utcnow()
    rows = [_row(wanted[key], source, now) for key in sorted(wanted)]
    statement = (
        dialect_insert(session, SignalRecord.__table__)
        .on_conflict_do_nothing(index_elements=list(SIGNAL_UNIQUE))
        .returning(*(getattr(SignalRecord, c) for c in SIGNAL_UNIQUE), SignalRecord.id)
    )
    # One executemany: SQLAlchemy sends multi-row INSERTs ("insertmanyvalues").
    stored = {tuple(row[:-1]): row[-1] for row in await session.execute(statement, rows)}
    return [NewSignal(stored[key], signal) for key, signal in wanted.items() if key in stored]


def initial_status(s: Signal) -> str:
    """A new signal's status: ``open`` (its outcome is followed) when it has a stop
    and a target, ``untracked`` (shown, not scored) otherwise."""
    return "untracked" if s.stop is None or s.target is None else "open"


def _row(s: Signal, source: str, now: datetime) -> dict[str, object]:
    return {
        "strategy": s.strategy,
        "symbol": s.symbol,
        "timeframe": s.timeframe,
        "candle_open_ms": s.candle_open_ms,
        "side": s.side,
        "entry": s.entry,
        "stop": s.stop,
        "target": s.target,
        "confidence": s.confidence,
        "regime": s.regime,
        "factors": dict(s.factors),
        "source": source,
        "status": initial_status(s),
        "mfe_r": 0.0,
        "mae_r": 0.0,
        "candles_followed": 0,
        "created_at": now,
    }


def to_signal(row: SignalRecord) -> Signal:
    return Signal(
        row.symbol,
        row.timeframe,
        row.strategy,
        row.side,  # type: ignore[arg-type]
        row.candle_open_ms,
        row.entry,
        row.stop if row.stop is not None else row.entry,
        row.target if row.target is not None else row.entry,
        row.confidence,
        row.regime,
        dict(row.factors or {}),
    )


def to_outcome(row: SignalRecord) -> Outcome:
    return Outcome(
        row.symbol,
        row.timeframe,
        row.strategy,
        row.side,
        row.candle_open_ms,
        row.status if row.status in CLOSED_STATUSES else "open",  # type: ignore[arg-type]
        row.r_multiple or 0.0,
        row.exit_open_ms,
        row.exit_price,
        row.candles_followed,
        row.mfe_r,
        row.mae_r,
    )


async def open_signals(session: AsyncSession, timeframe: str) -> list[SignalRecord]:
    """Signals of `timeframe` still waiting for an outcome, oldest candle first."""
    query = (
        select(SignalRecord)
        .where(SignalRecord.status == "open", SignalRecord.timeframe == timeframe)
        .order_by(SignalRecord.candle_open_ms, SignalRecord.id)
    )
    return list((await session.execute(query)).scalars())


async def save_outcome(session: AsyncSession, signal_id: int, outcome: Outcome) -> bool:
    """Store how far `outcome` got. A closed outcome is written only while the row
    is still open (a conditional UPDATE: concurrent trackers close it once).
    Returns True when this call closed it."""
    values: dict[str, object] = {
        "mfe_r": outcome.mfe_r,
        "mae_r": outcome.mae_r,
        "candles_followed": int(outcome.candles),
    }
    closing = outcome.status != "open"
    if closing:
        values |= {
            "status": outcome.status,
            "r_multiple": outcome.r_multiple,
            "exit_open_ms": outcome.exit_open_ms,
            "exit_price": outcome.exit_price,
            "closed_at": utcnow(),
        }
    result = await session.execute(
        update(SignalRecord)
        .where(SignalRecord.id == signal_id, SignalRecord.status == "open")
        .values(**values)
    )
    return closing and result.rowcount == 1  # type: ignore[attr-defined]


async def recent_signals(
    session: AsyncSession, symbol: str | None = None, limit: int = 10
) -> list[SignalRecord]:
    """The newest signals (by candle), optionally of one market."""
    query = select(SignalRecord).order_by(
        SignalRecord.candle_open_ms.desc(), SignalRecord.id.desc()
    )
    if symbol:
        query = query.where(SignalRecord.symbol == symbol)
    return list((await session.execute(query.limit(limit))).scalars())


async def outcomes(session: AsyncSession, symbol: str | None = None) -> list[Outcome]:
    """Every closed outcome (optionally of one market): the rows the track record
    is computed from."""
    query = select(SignalRecord).where(SignalRecord.status.in_(CLOSED_STATUSES))
    if symbol:
        query = query.where(SignalRecord.symbol == symbol)
    return [to_outcome(row) for row in (await session.execute(query)).scalars()]
