"""Persistence: SQLAlchemy 2 async models, repositories and Alembic migrations.

SQLite (aiosqlite) by default, PostgreSQL (asyncpg) at scale; one code path,
chosen by `DATABASE_URL`.
"""

from storage.db import Database

__all__ = ["Database"]
