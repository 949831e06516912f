"""A wizard survives a restart: its state is in the database (`DatabaseStorage`), so
the PulseWave started next on the same database continues where the user was."""

from __future__ import annotations

from storage.db import Database
from storage.models import WizardState
from tests.db_helpers import rows
from tests.telegram.conftest import StartBot
from tests.telegram.test_wizards import alarm_prompt, needs_alarms


async def wizards(db: Database) -> list[tuple[str | None, dict]]:
    return [(row.state, row.data) for row in await rows(db, WizardState)]


@needs_alarms
async def test_alarm_wizard_continues_after_a_restart(start_bot: StartBot) -> None:
    before = await start_bot()
    alice = before.user("Alice", 1001)
    prompt = await alarm_prompt(before, alice)
    await before.press(alice, prompt, "BTC")
    assert "BTC/USDT: alert me when the price…" in prompt.plain
    await before.shutdown()
    assert await wizards(before.app.services.db) == [
        ("Wizards:active", {"wizard": "alarm", "step": 1, "values": {"symbol": "BTC/USDT"}})
    ]

    after = await start_bot()  # a new process on the same database
    await after.press(alice, prompt, "⬆️ rises to")  # a button of the old process's prompt
    assert "(3/3)" in prompt.plain and "BTC/USDT is at 84,349.94 now." in prompt.plain
    [done] = await after.say(alice, "90k")  # typed
    assert "Alarm #1 set" in done.plain
    assert await wizards(after.app.services.db) == []  # a finished wizard leaves no row
    [listing] = await after.say(alice, "/alarms")
    assert "#1" in listing.plain


async def test_typed_follow_wizard_continues_after_a_restart(start_bot: StartBot) -> None:
    before = await start_bot()
    alice = before.user("Alice", 1001)
    await before.say(alice, "/follow")
    [step2] = await before.say(alice, "eth")
    assert "ETH/USDT: signals of which timeframe?" in step2.plain
    await before.shutdown()

    after = await start_bot()
    [step3] = await after.say(alice, "4h")
    assert "(3/3)" in step3.plain
    [done] = await after.say(alice, "rsi")
    assert "Following ETH/USDT · 4h · rsi" in done.plain
    [nothing] = await after.say(alice, "/cancel")
    assert nothing.plain == "There is nothing to cancel."
