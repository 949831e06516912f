"""aiogram's FSM storage in the database: where each user is in a wizard.

aiogram keeps a wizard's state (`Wizards.active`) and data (the wizard's name, the
step, the answers so far: see `routers/wizards.py`) in a storage. Its default,
`MemoryStorage`, lives in the process: a restart forgets every unfinished wizard,
and with several webhook processes behind a load balancer, the next answer may
reach a process that never saw the wizard start. `DatabaseStorage` keeps them in
the `wizard_states` table instead (`storage.chat_ui`), one row per aiogram
`StorageKey` with both the state and the data (a JSON object), so every process,
and the next one after a restart, sees the same wizard.

Each call (`set_state`, `set_data`, and the reads) is one small transaction of its
own: a wizard step costs a few single-row statements. A row with neither a state
nor data is deleted, so a finished or cancelled wizard (`state.clear()`) leaves
nothing behind; one abandoned half-way is purged later (`chat_ui.purge`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from aiogram.exceptions import DataNotDictLikeError
from aiogram.fsm.state import State
from aiogram.fsm.storage.base import BaseStorage, DefaultKeyBuilder, StateType, StorageKey

from storage import chat_ui
from storage.db import Database

KEY_LENGTH = 200  # wizard_states.key is String(200)


class DatabaseStorage(BaseStorage):
    """FSM state and data of every chat/user in the `wizard_states` table.

    The key is aiogram's `DefaultKeyBuilder` format with the bot id, the business
    connection (when there is one) and the destiny:
    `fsm:<bot_id>[:<business_connection_id>]:<chat_id>[:<thread_id>]:<user_id>:<destiny>`.
    """

    def __init__(self, db: Database) -> None:
        self.db = db
        self.key_builder = DefaultKeyBuilder(
            with_bot_id=True, with_business_connection_id=True, with_destiny=True
        )

    def key(self, key: StorageKey) -> str:
        """The row's key; hashed in the (unlikely) case it would not fit the column."""
        built = self.key_builder.build(key)
        if len(built) <= KEY_LENGTH:
            return built
        return f"fsm:sha256:{hashlib.sha256(built.encode()).hexdigest()}"

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        value = state.state if isinstance(state, State) else state
        async with self.db.session() as session:
            await chat_ui.set_wizard_state(session, self.key(key), value)

    async def get_state(self, key: StorageKey) -> str | None:
        async with self.db.session() as session:
            row = await chat_ui.load_wizard(session, self.key(key))
            return row.state if row is not None else None

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        if not isinstance(data, dict):  # as aiogram's own storages
            message = f"Data must be a dict or dict-like object, got {type(data).__name__}"
            raise DataNotDictLikeError(message)
        async with self.db.session() as session:
            await chat_ui.set_wizard_data(session, self.key(key), dict(data))

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        async with self.db.session() as session:
            row = await chat_ui.load_wizard(session, self.key(key))
            return dict(row.data or {}) if row is not None else {}

    async def close(self) -> None:
        """Nothing to do: the Database belongs to the App, which closes it."""
