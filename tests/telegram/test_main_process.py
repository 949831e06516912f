"""`python main.py` with a token and TELEGRAM_API_URL serves a conversation, and stops
cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest

from tests.telegram_server import TelegramServer

PROJECT = Path(__file__).resolve().parent.parent.parent
pytestmark = pytest.mark.slow


async def test_main_serves_a_conversation(tmp_path: Path) -> None:
    async with TelegramServer(bot_username="pulsewave_bot", rate_scale=5) as server:
        environment = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("TELEGRAM_", "DISCORD_", "REPLAY_", "MARKET_", "DATABASE_"))
        }
        environment.update(
            TELEGRAM_BOT_TOKEN=server.token,
            TELEGRAM_API_URL=server.base_url,
            MARKET_SOURCE="replay",
            REPLAY_SPEED="0",
            SIGNAL_HISTORY_CANDLES="0",
            DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}",
            OUTPUT_DIR=str(tmp_path / "out"),
            WEB_PORT="0",
        )
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "main.py",
            cwd=PROJECT,
            env=environment,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            await server.wait_for(
                lambda: server.count("deleteWebhook") or process.returncode is not None,
                90,
                "the bot to start",
            )
            alice = server.user(1001, "Alice", language_code="id")
            await server.send_text(alice, "/start")
            [welcome] = await server.wait_for_messages(alice.id, 1, timeout=30)
            assert "PulseWave" in welcome.plain
            await server.send_text(alice, "/price BTC")
            [_, price] = await server.wait_for_messages(alice.id, 2, timeout=30)
            assert "84.349,94" in price.plain  # Indonesian number format
            process.send_signal(signal.SIGTERM)
            _, stderr = await asyncio.wait_for(process.communicate(), 60)
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
    log = stderr.decode()
    assert process.returncode == 0, log
    assert "Traceback" not in log
    assert server.token not in log and server.token.split(":")[1] not in log
    assert "telegram_stopped" in log and "shutting_down" in log
