"""Engine, sessions and migrations for one database URL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import structlog
from alembic import command
from alembic.config import Config
from sqlalchemy import event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

log = structlog.get_logger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str | None = None) -> Config:
    config = Config(str(Path(__file__).resolve().parent / "alembic.ini"))
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


class Bell:
    """Wakes whoever waits for rows that a transaction of this process committed
    (the delivery worker waits on `Database.outbox_bell`). A ring while nobody
    waits is kept, so the next wait returns at once; nothing is lost between a
    check and a wait. Other processes' commits are found by polling."""

    def __init__(self) -> None:
        self._rung = asyncio.Event()

    def ring(self) -> None:
        self._rung.set()

    async def wait(self, timeout: float) -> bool:  # noqa: ASYNC109 (a poll interval)
        """True when rung within `timeout` seconds (or before the call)."""
        try:
            await asyncio.wait_for(self._rung.wait(), timeout)
        except TimeoutError:
            return False
        # Cleared before the waiter looks at the queue: rows committed before this
        # point are found by that look, and a later commit rings again.
        self._rung.clear()
        return True


OUTBOX_QUEUED = "outbox_queued"  # session.info flag: this transaction queued outbox rows
# session.info flag: this transaction queued a burst of outbox rows; once it has
# committed, the table's statistics are renewed (PostgreSQL, `outbox.enqueue_many`).
OUTBOX_ANALYZE = "outbox_analyze"


class Database:
    """One database: `async with db.session() as s: …` commits on success, rolls back on error.

    >>> db = Database("sqlite+aiosqlite:///./data/pulsewave.db")  # doctest: +SKIP
    >>> await db.migrate()  # doctest: +SKIP
    """

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = make_url(url)
        if self.is_sqlite and self.url.database not in (None, "", ":memory:"):
            Path(self.url.database).parent.mkdir(parents=True, exist_ok=True)
        self.engine = create_async_engine(self.url, echo=echo, pool_pre_ping=not self.is_sqlite)
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self.outbox_bell = Bell()  # rung after a commit that queued outbox rows

    @property
    def is_sqlite(self) -> bool:
        return self.url.get_backend_name() == "sqlite"

    @property
    def dialect(self) -> str:
        return self.url.get_backend_name()

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        async with self._sessions() as session:
            async with session.begin():
                yield session
            try:  # committed: fresh statistics first, then wake the worker
                if session.info.pop(OUTBOX_ANALYZE, False):
                    await self._analyze_outbox()
            finally:
                if session.info.pop(OUTBOX_QUEUED, False):
                    self.outbox_bell.ring()

    async def _analyze_outbox(self) -> None:
        """ANALYZE outbox in a transaction of its own (its lock is held only while
        it runs). The rows are committed already: a failure is logged, not raised."""
        try:
            async with self.engine.begin() as connection:
                await connection.execute(text("ANALYZE outbox"))
        except Exception as error:
            log.warning("outbox_analyze_failed", error=f"{type(error).__name__}: {error}"[:300])

    async def migrate(self) -> None:
        """Bring the schema to the newest Alembic revision (run at every start-up)."""
        async with self.engine.begin() as connection:
            await connection.run_sync(_upgrade)

    async def dispose(self) -> None:
        await self.engine.dispose()


def _upgrade(connection: Connection) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    # WAL lets readers work during a write; a busy timeout rides out short locks
    # instead of failing; foreign keys are off by default in SQLite.
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def dialect_insert(session: AsyncSession, model: Any) -> Any:
    """An INSERT that knows ON CONFLICT on both backends (PostgreSQL's and SQLite's
    `insert` constructs share that API; the generic one does not have it).
    `model` is a mapped class or its `__table__`: executed with many rows, the
    table form is a plain executemany, without the ORM's per-row bookkeeping
    (several times cheaper for a batch of hundreds)."""
    from sqlalchemy.dialects.postgresql import insert as pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return (pg_insert if session.bind.dialect.name == "postgresql" else sqlite_insert)(model)
