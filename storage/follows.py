"""Which chats follow which markets' signals."""

from __future__ import annotations

from sqlalchemy import delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import dialect_insert
from storage.models import Chat, Follow, utcnow

ANY_TIMEFRAME = "*"
ALL_STRATEGIES = "all"


async def add_follow(
    session: AsyncSession,
    chat_id: int,
    symbol: str,
    timeframe: str,
    strategy: str,
    user_id: int | None = None,
) -> bool:
    """Follow; False when this chat already follows exactly that."""
    statement = (
        dialect_insert(session, Follow)
        .values(
            chat_id=chat_id,
            symbol=symbol,
            timeframe=timeframe,
            strategy=strategy,
            created_by=user_id,
            created_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["chat_id", "symbol", "timeframe", "strategy"])
        .returning(Follow.id)
    )
    return (await session.execute(statement)).scalar_one_or_none() is not None


async def remove_follows(
    session: AsyncSession,
    chat_id: int,
    symbol: str,
    timeframe: str | None = None,
    strategy: str | None = None,
) -> int:
    """Unfollow; `None` for timeframe/strategy removes every follow of the market
    that matches the rest. Returns how many were removed."""
    statement = delete(Follow).where(Follow.chat_id == chat_id, Follow.symbol == symbol)
    if timeframe is not None:
        statement = statement.where(Follow.timeframe == timeframe)
    if strategy is not None:
        statement = statement.where(Follow.strategy == strategy)
    result = await session.execute(statement)
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def chat_follows(session: AsyncSession, chat_id: int) -> list[Follow]:
    query = (
        select(Follow)
        .where(Follow.chat_id == chat_id)
        .order_by(Follow.symbol, Follow.timeframe, Follow.strategy)
    )
    return list((await session.execute(query)).scalars())


async def count_follows(session: AsyncSession, chat_id: int) -> int:
    query = select(func.count()).select_from(Follow).where(Follow.chat_id == chat_id)
    return int((await session.execute(query)).scalar_one())


async def followers(
    session: AsyncSession, symbol: str, timeframe: str, strategies: tuple[str, ...]
) -> list[int]:
    """Active chats following `symbol` at `timeframe` (or any timeframe) for any of
    `strategies` (``all`` always matches), each chat once, in id order."""
    query = (
        select(Follow.chat_id)
        .join(Chat, Chat.id == Follow.chat_id)
        .where(
            Chat.active.is_(True),
            Follow.symbol == symbol,
            or_(Follow.timeframe == timeframe, Follow.timeframe == ANY_TIMEFRAME),
            Follow.strategy.in_([*strategies, ALL_STRATEGIES]),
        )
        .distinct()
        .order_by(Follow.chat_id)
    )
    return list((await session.execute(query)).scalars())


async def followed_markets(session: AsyncSession) -> list[tuple[str, str, str]]:
    """Distinct (symbol, timeframe, strategy) followed by active chats: what the
    scanner must cover beyond the watchlist."""
    query = (
        select(Follow.symbol, Follow.timeframe, Follow.strategy)
        .join(Chat, Chat.id == Follow.chat_id)
        .where(Chat.active.is_(True))
        .distinct()
    )
    return [tuple(row) for row in (await session.execute(query)).all()]  # type: ignore[misc]
