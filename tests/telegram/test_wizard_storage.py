"""`DatabaseStorage`, aiogram's FSM storage in the database, on SQLite and PostgreSQL:
the storage contract, and a second instance (a restart, another process) sees the
same wizards. The wizard surviving a restart end to end is `test_wizard_restart.py`."""

from __future__ import annotations

import pytest
from aiogram.exceptions import DataNotDictLikeError
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.fsm.storage.base import StorageKey

from bot.telegram.wizard_storage import KEY_LENGTH, DatabaseStorage
from storage.db import Database
from storage.models import WizardState
from tests.db_helpers import count, rows

BOT_ID = 123456789
ALICE = StorageKey(bot_id=BOT_ID, chat_id=1001, user_id=1001)


class Steps(StatesGroup):
    first = State()
    second = State()


async def test_state_set_get_and_clear(database: Database) -> None:
    storage = DatabaseStorage(database)
    assert await storage.get_state(ALICE) is None
    await storage.set_state(ALICE, Steps.first)  # a State: kept as its name
    assert await storage.get_state(ALICE) == "Steps:first"
    await storage.set_state(ALICE, "Steps:second")  # a str as it is
    assert await storage.get_state(ALICE) == "Steps:second"
    await storage.set_state(ALICE, None)
    assert await storage.get_state(ALICE) is None
    assert await count(database, WizardState) == 0  # neither state nor data: no row


async def test_data_set_get_replace_and_update(database: Database) -> None:
    storage = DatabaseStorage(database)
    assert await storage.get_data(ALICE) == {}
    data = {"wizard": "alarm", "step": 0, "values": {}}
    await storage.set_data(ALICE, data)
    got = await storage.get_data(ALICE)
    assert got == data
    got["step"] = 99  # a copy: changing it changes nothing stored
    assert (await storage.get_data(ALICE))["step"] == 0
    await storage.set_data(ALICE, {"other": [1, 2.5, "x", None, True]})  # replaces
    assert await storage.get_data(ALICE) == {"other": [1, 2.5, "x", None, True]}
    merged = await storage.update_data(ALICE, {"step": 1, "values": {"symbol": "BTC/USDT"}})
    assert merged == {
        "other": [1, 2.5, "x", None, True],
        "step": 1,
        "values": {"symbol": "BTC/USDT"},
    }
    assert await storage.get_data(ALICE) == merged
    assert await storage.get_value(ALICE, "step") == 1
    assert await storage.get_value(ALICE, "missing", "default") == "default"
    with pytest.raises(DataNotDictLikeError):
        await storage.set_data(ALICE, [("step", 1)])  # type: ignore[arg-type]


async def test_state_and_data_are_kept_apart_in_one_row(database: Database) -> None:
    storage = DatabaseStorage(database)
    await storage.set_state(ALICE, Steps.first)
    await storage.set_data(ALICE, {"step": 1})
    await storage.set_state(ALICE, Steps.second)  # the data stays
    assert await storage.get_data(ALICE) == {"step": 1}
    await storage.set_data(ALICE, {})  # the state stays
    assert await storage.get_state(ALICE) == "Steps:second"
    [row] = await rows(database, WizardState)
    assert row.key == f"fsm:{BOT_ID}:1001:1001:default"
    assert row.state == "Steps:second" and row.data == {}
    await storage.set_state(ALICE, None)
    assert await count(database, WizardState) == 0


async def test_another_instance_sees_the_same_wizard(database: Database, database_url: str) -> None:
    """A restart, or another process behind the load balancer."""
    before = DatabaseStorage(database)
    await before.set_state(ALICE, Steps.first)
    await before.update_data(ALICE, {"wizard": "follow", "step": 1, "values": {"symbol": "ETH"}})
    await before.close()
    after = DatabaseStorage(Database(database_url))
    try:
        assert await after.get_state(ALICE) == "Steps:first"
        assert await after.get_data(ALICE) == {
            "wizard": "follow",
            "step": 1,
            "values": {"symbol": "ETH"},
        }
        await after.update_data(ALICE, {"step": 2})
        assert (await before.get_data(ALICE))["step"] == 2
    finally:
        await after.db.dispose()


async def test_keys_do_not_mix(database: Database) -> None:
    storage = DatabaseStorage(database)
    keys = {
        "alice": ALICE,
        "bob in alice's chat": StorageKey(bot_id=BOT_ID, chat_id=1001, user_id=1002),
        "alice in a group": StorageKey(bot_id=BOT_ID, chat_id=-1003, user_id=1001),
        "alice in a topic": StorageKey(bot_id=BOT_ID, chat_id=-1003, user_id=1001, thread_id=7),
        "alice, other destiny": StorageKey(bot_id=BOT_ID, chat_id=1001, user_id=1001, destiny="x"),
        "alice, other bot": StorageKey(bot_id=BOT_ID + 1, chat_id=1001, user_id=1001),
        "alice, business": StorageKey(
            bot_id=BOT_ID, chat_id=1001, user_id=1001, business_connection_id="biz"
        ),
    }
    for name, key in keys.items():
        await storage.set_state(key, f"Steps:{name}")
        await storage.set_data(key, {"who": name})
    for name, key in keys.items():
        assert await storage.get_state(key) == f"Steps:{name}"
        assert await storage.get_data(key) == {"who": name}
    assert len({row.key for row in await rows(database, WizardState)}) == len(keys)
    await storage.set_state(ALICE, None)
    await storage.set_data(ALICE, {})
    assert await count(database, WizardState) == len(keys) - 1
    assert await storage.get_data(keys["alice in a group"]) == {"who": "alice in a group"}


async def test_fsm_context_clear_removes_the_row(database: Database) -> None:
    """What the wizards do: FSMContext on top; `clear()` at the end or on cancel."""
    state = FSMContext(storage=DatabaseStorage(database), key=ALICE)
    await state.set_state(Steps.first)
    await state.set_data({"wizard": "alarm", "step": 0, "values": {}})
    await state.update_data(step=1, values={"symbol": "BTC/USDT"})
    assert await state.get_state() == "Steps:first"
    assert await state.get_data() == {
        "wizard": "alarm",
        "step": 1,
        "values": {"symbol": "BTC/USDT"},
    }
    assert await count(database, WizardState) == 1
    await state.clear()
    assert await state.get_state() is None and await state.get_data() == {}
    assert await count(database, WizardState) == 0


async def test_a_key_too_long_for_the_column_is_hashed(database: Database) -> None:
    storage = DatabaseStorage(database)
    long = StorageKey(bot_id=BOT_ID, chat_id=1001, user_id=1001, destiny="d" * 300)
    other = StorageKey(bot_id=BOT_ID, chat_id=1001, user_id=1001, destiny="d" * 301)
    assert len(storage.key(long)) <= KEY_LENGTH and storage.key(long) != storage.key(other)
    await storage.set_state(long, Steps.first)
    assert await storage.get_state(long) == "Steps:first"
    assert await storage.get_state(other) is None
