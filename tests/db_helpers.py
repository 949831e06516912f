"""Small database reads and set-ups shared by the storage tests."""

from __future__ import annotations

from sqlalchemy import func, inspect, select

from handlers.context import Services
from handlers.session import PlatformChat, PlatformUser, open_context
from storage import follows
from storage.db import Database


async def count(db: Database, model: type) -> int:
    """How many rows `model`'s table holds."""
    async with db.session() as session:
        return (await session.execute(select(func.count()).select_from(model))).scalar_one()


async def rows(db: Database, model: type) -> list:
    """Every row of `model`, ordered by its primary key (all its columns, in order)."""
    async with db.session() as session:
        statement = select(model).order_by(*inspect(model).primary_key)
        return list((await session.execute(statement)).scalars())


async def follow(services: Services, chat: str, *args: str) -> int:
    """Chat `chat` (a private chat of user `chat`) follows `args`; its id."""
    ctx = await open_context(services, PlatformUser("test", chat), PlatformChat(chat))
    async with services.db.session() as session:
        await follows.add_follow(session, ctx.chat.id, *args)
    return ctx.chat.id
