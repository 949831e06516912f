"""End-to-end fixtures: the real PulseWave process (`App.run`, aiogram inside) against
the local Bot API server (`tests/telegram_server/`), with simulated people.

Both sides run Telegram's rate limits `RATE_SCALE` times faster, so conversations
are quick and the limits are still exercised.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import bot.telegram.app  # aiogram takes seconds to import: once, here
from bot.app import App
from tests.conftest import make_settings
from tests.telegram_server import SentMessage, SimChat, SimUser, TelegramServer

RATE_SCALE = 20.0
ADMIN_ID = 4242


@dataclass
class Harness:
    """A running PulseWave and the Bot API server it talks to."""

    server: TelegramServer
    app: App
    task: asyncio.Task[None]
    stop: asyncio.Event
    users: dict[str, SimUser] = field(default_factory=dict)

    def user(self, name: str, user_id: int, language_code: str | None = "en") -> SimUser:
        person = self.server.user(user_id, name, username=name.lower(), language_code=language_code)
        self.server.private_chat(person)
        self.users[name] = person
        return person

    async def say(
        self,
        user: SimUser,
        text: str,
        *,
        chat: SimChat | None = None,
        count: int = 1,
        timeout: float = 15.0,  # noqa: ASYNC109
    ) -> list[SentMessage]:
        """`user` sends `text`; returns the `count` new messages the bot sent there."""
        chat_id = chat.id if chat is not None else user.id
        before = len(self.server.sent_to(chat_id))
        await self.server.send_text(user, text, chat=chat)
        sent = await self.server.wait_for_messages(chat_id, before + count, timeout)
        return sent[before : before + count]

    async def press(
        self,
        user: SimUser,
        message: SentMessage,
        label: str,
        *,
        count: int = 0,
        timeout: float = 15.0,  # noqa: ASYNC109
    ) -> list[SentMessage]:
        """`user` presses the button labelled `label`; waits for `count` new messages
        (0: until the press was answered and the bot is idle)."""
        before = len(self.server.sent_to(message.chat_id))
        update_id = await self.server.press_button(user, message, text=label)
        await self.server.wait_for(
            lambda: self.server.callback_answer(update_id), timeout, "the callback answer"
        )
        if count:
            sent = await self.server.wait_for_messages(message.chat_id, before + count, timeout)
            return sent[before : before + count]
        await self.idle(timeout)
        return self.server.sent_to(message.chat_id)[before:]

    async def idle(self, timeout: float = 15.0) -> None:  # noqa: ASYNC109
        """Until the server has been calm for a moment and the bot handles no update
        (a handler can work longer than that moment between two API calls)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            await self.server.wait_idle(timeout=max(0.1, deadline - loop.time()), quiet=0.15)
            telegram = getattr(self.app, "telegram", None)
            if telegram is None or telegram.inflight.count == 0:
                return
            if loop.time() >= deadline:
                raise TimeoutError(f"the bot still handles {telegram.inflight.count} update(s)")
            await asyncio.sleep(0.01)

    async def shutdown(self) -> None:
        self.stop.set()
        await asyncio.wait_for(self.task, 30)


@pytest.fixture
async def telegram() -> AsyncIterator[TelegramServer]:
    async with TelegramServer(bot_username="pulsewave_bot", rate_scale=RATE_SCALE) as server:
        yield server


StartBot = Callable[..., Awaitable[Harness]]


@pytest.fixture
async def start_bot(tmp_path: Path, telegram: TelegramServer) -> AsyncIterator[StartBot]:
    """`await start_bot(**settings)`: PulseWave running against `telegram`."""
    running: list[Harness] = []

    async def start(wait_ready: bool = True, **overrides: Any) -> Harness:
        values: dict[str, Any] = {
            "telegram_bot_token": telegram.token,
            "telegram_api_url": telegram.base_url,
            "admin_ids": [f"telegram:{ADMIN_ID}"],
            "web_port": 0,
            "signal_history_candles": 0,  # a quick start-up catch-up
        }
        values.update(overrides)
        app = await App.create(make_settings(tmp_path, **values))
        stop = asyncio.Event()
        task = asyncio.create_task(app.run(stop=stop, telegram_options={"rate_scale": RATE_SCALE}))
        harness = Harness(telegram, app, task, stop)
        running.append(harness)
        if wait_ready:
            await ready(harness)
        return harness

    yield start
    for harness in running:
        if not harness.task.done():
            harness.stop.set()
            await asyncio.wait_for(harness.task, 30)
        await harness.app.close()


async def ready(harness: Harness) -> None:
    """Until the bot listens: polling has started, or the webhook is set."""
    server = harness.server

    def listening() -> bool:
        if harness.task.done():
            harness.task.result()  # raises what stopped it
        # (getUpdates is recorded when it is answered: a long poll would be late.)
        return bool(server.count("deleteWebhook") or server.webhook is not None)

    await server.wait_for(listening, 30, "the bot to start listening")


@pytest.fixture
async def bot(start_bot: StartBot) -> Harness:
    return await start_bot()
