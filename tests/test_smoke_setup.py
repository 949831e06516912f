from sqlalchemy import inspect


async def test_migrations_create_tables(database):
    async with database.engine.connect() as connection:
        names = await connection.run_sync(lambda c: inspect(c).get_table_names())
    assert {"users", "chats", "candles", "alembic_version"} <= set(names)
