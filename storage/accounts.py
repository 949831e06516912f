"""Users and chats: found or created on first contact, updated on every contact."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import dialect_insert as _insert
from storage.models import Chat, User, utcnow


async def touch_user(
    session: AsyncSession,
    platform: str,
    external_id: str,
    *,
    username: str | None = None,
    display_name: str | None = None,
) -> User:
    """The user with this platform id, created if new; names refreshed.

    An INSERT … ON CONFLICT keeps two first messages arriving at once (two
    processes, or two updates in flight) from creating the user twice.
    """
    statement = (
        _insert(session, User)
        .values(
            platform=platform,
            external_id=external_id,
            username=username,
            display_name=display_name,
            timezone="UTC",
            plan="free",
            created_at=utcnow(),
            last_seen_at=utcnow(),
        )
        .on_conflict_do_update(
            index_elements=["platform", "external_id"],
            set_={"username": username, "display_name": display_name, "last_seen_at": utcnow()},
        )
    )
    await session.execute(statement)
    query = select(User).where(User.platform == platform, User.external_id == external_id)
    return (await session.execute(query.execution_options(populate_existing=True))).scalar_one()


async def touch_chat(
    session: AsyncSession, platform: str, external_id: str, *, kind: str, title: str | None = None
) -> Chat:
    """The chat with this platform id, created if new and marked active again
    (a user who writes after blocking the bot has unblocked it)."""
    statement = (
        _insert(session, Chat)
        .values(
            platform=platform,
            external_id=external_id,
            kind=kind,
            title=title,
            active=True,
            created_at=utcnow(),
        )
        .on_conflict_do_update(
            index_elements=["platform", "external_id"],
            set_={"kind": kind, "title": title, "active": True},
        )
    )
    await session.execute(statement)
    query = select(Chat).where(Chat.platform == platform, Chat.external_id == external_id)
    return (await session.execute(query.execution_options(populate_existing=True))).scalar_one()


async def set_user_language(session: AsyncSession, user_id: int, language: str) -> None:
    user = await session.get(User, user_id)
    if user is None:
        raise LookupError(f"user {user_id} not found")
    user.language = language


async def set_chat_language(session: AsyncSession, chat_id: int, language: str) -> None:
    chat = await session.get(Chat, chat_id)
    if chat is None:
        raise LookupError(f"chat {chat_id} not found")
    chat.language = language


async def get_user(session: AsyncSession, platform: str, external_id: str) -> User | None:
    query = select(User).where(User.platform == platform, User.external_id == external_id)
    return (await session.execute(query)).scalar_one_or_none()


async def get_chat(session: AsyncSession, platform: str, external_id: str) -> Chat | None:
    query = select(Chat).where(Chat.platform == platform, Chat.external_id == external_id)
    return (await session.execute(query)).scalar_one_or_none()
