"""Long button payloads kept in the database (`bot.action_store` over
`storage.chat_ui`): another store on the same database (a restart, another
process) answers the press; expired payloads are gone; a failed write only costs
the other processes the button."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from bot.action_store import ActionStore
from bot.discord.views import Press as DiscordPress
from bot.discord.views import action_store as discord_store
from bot.telegram.keyboards import Mode
from bot.telegram.keyboards import Press as TelegramPress
from bot.telegram.keyboards import action_store as telegram_store
from storage import chat_ui
from storage.db import Database
from storage.models import ButtonPayload, WizardState, utcnow


async def test_another_process_answers_a_press_kept_by_the_first(database: Database) -> None:
    telegram = TelegramPress(m=Mode.CONFIRMED, a="delalarm 12 " + "x" * 80, s="alarms")
    discord = DiscordPress("r", "unfollow DOGE/USDT 15m " + "y" * 90, "following")
    first_t, first_d = telegram_store(database), discord_store(database)
    keys = first_t.put(telegram), first_d.put(discord)
    await first_t.close()
    await first_d.close()
    later_t, later_d = telegram_store(database), discord_store(database)
    assert later_t.cached(keys[0]) is None  # nothing in this process's memory …
    assert await later_t.get(keys[0]) == telegram  # … but the database has it
    assert await later_d.get(keys[1]) == discord
    assert later_t.cached(keys[0]) == telegram  # and now the memory too
    assert await later_d.get(keys[0]) is None  # namespaces do not mix
    assert await later_t.get("AAAAAAAAAAA") is None


async def test_writes_happen_in_the_background_in_one_batch(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    batches: list[set[str]] = []  # the keys of each `save_payloads` call
    save_payloads = chat_ui.save_payloads

    async def spy(session: Any, namespace: str, payloads: Any, expires_at: datetime) -> None:
        batches.append(set(payloads))
        await save_payloads(session, namespace, payloads, expires_at)

    monkeypatch.setattr(chat_ui, "save_payloads", spy)
    store = telegram_store(database)
    keys = [store.put(TelegramPress(m=Mode.NEW, a=f"help {n} " + "z" * 70)) for n in range(30)]
    assert len(set(keys)) == 30
    assert store._saving is not None  # scheduled by `put`, not awaited by it
    assert batches == []  # nothing written yet
    await store.close()
    assert [len(batch) for batch in batches] == [30]  # all the puts, in one write
    assert batches == [set(keys)]
    other = telegram_store(database)
    assert all([await other.get(key) is not None for key in keys])


async def test_expired_payloads_are_not_answered_and_are_purged(database: Database) -> None:
    store = telegram_store(database)
    store.ttl = 0.0  # expires at once, in memory and in the database
    key = store.put(TelegramPress(m=Mode.NEW, a="help " + "e" * 80))
    await store.close()
    assert await telegram_store(database).get(key) is None
    async with database.session() as session:
        assert await chat_ui.purge(session, utcnow() + timedelta(seconds=1)) == 1
        assert await chat_ui.purge(session) == 0


async def _expiry(database: Database, key: str) -> datetime:
    async with database.session() as session:
        query = select(ButtonPayload.expires_at).where(ButtonPayload.key == key)
        return (await session.execute(query)).scalar_one()


async def _set_expiry(database: Database, key: str, seconds: float) -> datetime:
    """Move the row's expiry to `seconds` from now (a mark a new write would change)."""
    expires_at = utcnow() + timedelta(seconds=seconds)
    async with database.session() as session:
        await session.execute(
            update(ButtonPayload).where(ButtonPayload.key == key).values(expires_at=expires_at)
        )
    return await _expiry(database, key)


async def test_putting_again_writes_only_past_half_the_ttl(database: Database) -> None:
    now = [1000.0]
    store = telegram_store(database)
    store.ttl, store.clock = 100.0, lambda: now[0]
    press = TelegramPress(m=Mode.NEW, a="help " + "r" * 80)
    key = store.put(press)
    await store.close()
    marked = await _set_expiry(database, key, 500)
    now[0] += 49  # over half the TTL left: a keyboard drawn again costs no write
    assert store.put(press) == key and not store._unsaved
    await store.close()
    assert await _expiry(database, key) == marked
    assert store._items[key][0] == 1100.0  # nor is the memory's expiry renewed
    now[0] += 2  # under half left: renewed in memory and in the database together
    before = utcnow()
    assert store.put(press) == key
    await store.close()
    renewed = await _expiry(database, key)
    assert renewed != marked and before + timedelta(seconds=100) <= renewed
    assert renewed <= utcnow() + timedelta(seconds=100)
    assert store._items[key][0] == 1151.0


async def test_a_payload_read_from_the_database_is_cached_until_its_expiry(
    database: Database,
) -> None:
    first = telegram_store(database)
    press = TelegramPress(m=Mode.NEW, a="help " + "c" * 80)
    key = first.put(press)
    await first.close()
    await _set_expiry(database, key, 10)  # the database keeps it 10 s more, not the TTL
    now = [5000.0]
    later = telegram_store(database)
    later.clock = lambda: now[0]
    assert await later.get(key) == press
    now[0] += 8
    assert later.cached(key) == press
    now[0] += 3  # past the database's expiry: this process forgets it too
    assert later.cached(key) is None


async def test_a_failed_write_keeps_the_button_in_this_process(tmp_path: Path) -> None:
    unmigrated = Database(f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}")  # no tables
    store = telegram_store(unmigrated)
    press = TelegramPress(m=Mode.NEW, a="help " + "f" * 80)
    key = store.put(press)
    await store.close()  # the failed write is logged, not raised
    assert await store.get(key) == press  # memory still answers here
    await unmigrated.dispose()


def test_without_a_database_the_memory_is_all() -> None:
    store = ActionStore[str]()
    key = store.put("x" * 100)
    assert store.cached(key) == "x" * 100 and store.db is None


async def test_wizards_untouched_for_days_are_purged(database: Database) -> None:
    async with database.session() as session:
        await chat_ui.set_wizard_state(session, "old", "AlarmWizard:level")
        await chat_ui.set_wizard_data(session, "fresh", {"symbol": "BTC/USDT"})
    later = utcnow() + chat_ui.WIZARD_RETENTION + timedelta(minutes=1)
    async with database.session() as session:
        await chat_ui.set_wizard_state(session, "fresh", "AlarmWizard:kind")  # touched later
        await session.execute(
            update(WizardState).where(WizardState.key == "fresh").values(updated_at=later)
        )
    async with database.session() as session:
        assert await chat_ui.purge(session, later) == 1
        fresh = await chat_ui.load_wizard(session, "fresh")
        assert await chat_ui.load_wizard(session, "old") is None
        assert fresh is not None and (fresh.state, fresh.data) == (
            "AlarmWizard:kind",
            {"symbol": "BTC/USDT"},
        )
