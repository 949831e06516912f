"""Discord end-to-end fixtures: PulseWave's real `DiscordFrontend` (discord.py's client,
command tree and HTTP layer) logged in to the local Discord emulator
(`tests/discord_server.py`) and connected to its gateway."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from bot.app import App
from bot.discord.app import DiscordFrontend
from tests.discord_server import DiscordServer

RATE_SCALE = 20.0  # the emulator's rate-limit windows run this much faster
GUILD = 500
CHANNEL = 501


@pytest.fixture
async def discord_server() -> AsyncIterator[DiscordServer]:
    async with DiscordServer(scale=RATE_SCALE) as server:
        server.channel(CHANNEL, GUILD, "trading")
        yield server


StartFrontend = Callable[..., Awaitable[DiscordFrontend]]


@pytest.fixture
async def start_frontend(app: App, discord_server: DiscordServer) -> AsyncIterator[StartFrontend]:
    """`await start_frontend(**options)`: a started DiscordFrontend on the emulator."""
    started: list[DiscordFrontend] = []

    async def start(**options: Any) -> DiscordFrontend:
        frontend = DiscordFrontend(
            app.services, discord_server.token, api_base=discord_server.base_url, **options
        )
        started.append(frontend)
        await frontend.start()
        return frontend

    yield start
    for frontend in started:
        await frontend.stop()


@pytest.fixture
async def frontend(start_frontend: StartFrontend) -> DiscordFrontend:
    return await start_frontend()
