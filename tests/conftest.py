"""Shared fixtures: databases on both engines, a replayed market, contexts.

Every storage test takes the `database` fixture, which runs it on SQLite and on
the local PostgreSQL server (a database of its own, created and dropped here).
Without a reachable PostgreSQL those runs are skipped with the reason printed,
except under CI=true, where that is a failure.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import text

from bot.app import App
from handlers.context import Context, Services
from handlers.session import PlatformChat, PlatformUser, open_context
from settings import Settings
from storage.db import Database
from storage.models import Base

PG_HOST = os.environ.get("PULSEWAVE_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("PULSEWAVE_TEST_PG_PORT", "5432"))
PG_USER = os.environ.get("PULSEWAVE_TEST_PG_USER", "postgres")
REPLAY_START = datetime(2025, 3, 1, tzinfo=UTC)
PROJECT_DIR = Path(__file__).resolve().parent.parent


async def _pg_admin(statement: str) -> None:
    connection = await asyncpg.connect(
        host=PG_HOST, port=PG_PORT, user=PG_USER, database="postgres", timeout=5
    )
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, dropped at the end."""
    name = f"pulsewave_test_{uuid.uuid4().hex[:10]}"
    try:
        asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError, TimeoutError) as error:
        reason = f"PostgreSQL at {PG_HOST}:{PG_PORT} is not reachable: {error}"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    url = f"postgresql+asyncpg://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}"
    asyncio.run(_migrate(url))
    yield url
    asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _migrate(url: str) -> None:
    db = Database(url)
    await db.migrate()
    await db.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    """A migrated, empty database on each engine."""
    db = Database(database_url)
    await db.migrate()
    if not db.is_sqlite:  # shared per session: start every test empty
        tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
        async with db.session() as session:
            await session.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    yield db
    await db.dispose()


def make_settings(tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": f"sqlite+aiosqlite:///{tmp_path / 'app.db'}",
        "market_source": "replay",
        "replay_start": REPLAY_START,
        "replay_speed": 0,
        "output_dir": tmp_path / "output",
        "telegram_bot_token": None,
        "discord_bot_token": None,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[App]:
    """The real composition (SQLite, replayed market frozen at REPLAY_START)."""
    application = await App.create(make_settings(tmp_path))
    yield application
    await application.close()


@pytest.fixture
def app_settings() -> dict[str, object]:
    """Settings `db_app` is made with beyond the defaults (a module overrides this)."""
    return {}


@pytest.fixture
async def db_app(
    database: Database, database_url: str, tmp_path: Path, app_settings: dict[str, object]
) -> AsyncIterator[App]:
    """The real composition on this test's database, both engines (emptied by `database`)."""
    application = await App.create(
        make_settings(tmp_path, database_url=database_url, **app_settings)
    )
    yield application
    await application.close()


@pytest.fixture
def db_services(db_app: App) -> Services:
    return db_app.services


@pytest.fixture
def services(app: App) -> Services:
    return app.services


@pytest.fixture
def make_context(services: Services):
    """`await make_context(language_hint="id", user_id="42")` → a Context."""

    async def build(
        user_id: str = "1001",
        language_hint: str | None = None,
        chat_id: str | None = None,
        kind: str = "private",
        manages_chat: bool | None = None,
    ) -> Context:
        user = PlatformUser(
            "test", user_id, display_name=f"User {user_id}", language_hint=language_hint
        )
        return await open_context(
            services, user, PlatformChat(chat_id or user_id, kind), manages_chat=manages_chat
        )

    return build
