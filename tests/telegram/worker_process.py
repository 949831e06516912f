"""A PulseWave delivery worker in a process of its own, for the crash test in
`test_delivery_e2e.py` (which kills it with SIGKILL in the middle of a fan-out):

    python -m tests.telegram.worker_process --database-url URL --api-url URL \
        --token TOKEN --worker-id ID --lease 2 --rate-scale 20 --concurrency 4 --tmp DIR

It is wired as the real process wires it (`App.create`, then the `TelegramFrontend`'s
aiogram Bot and `TelegramSender`), without polling for updates: it only delivers.
SIGTERM stops it gracefully; it prints "ready" once it is about to deliver.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

DEFAULT_BACKOFF = 0.05
DEFAULT_POLL = 0.05


@asynccontextmanager
async def telegram_delivery(
    tmp: Path, database_url: str, api_url: str, token: str, rate_scale: float
) -> AsyncIterator[tuple[Any, Any]]:
    """`(app, sender)`: the app's services on `database_url` (its own connection pool)
    and a `TelegramSender` on a real aiogram Bot pointed at `api_url`; the aiogram
    session and the pool are closed on exit."""
    from bot.app import App
    from bot.telegram.app import TelegramFrontend
    from tests.conftest import make_settings

    settings = make_settings(
        tmp,
        database_url=database_url,
        telegram_bot_token=token,
        telegram_api_url=api_url,
    )
    app = await App.create(settings)
    try:
        frontend = TelegramFrontend(settings, app.services, rate_scale=rate_scale)
        try:
            yield app, frontend.sender
        finally:
            await frontend.close()
    finally:
        await app.close()


async def main(options: argparse.Namespace) -> None:
    from bot.delivery import DeliveryWorker

    async with telegram_delivery(
        Path(options.tmp), options.database_url, options.api_url, options.token, options.rate_scale
    ) as (app, sender):
        worker = DeliveryWorker(
            app.services,
            [sender],
            worker_id=options.worker_id,
            lease_seconds=options.lease,
            concurrency=options.concurrency,
            poll_seconds=DEFAULT_POLL,
            backoff_seconds=DEFAULT_BACKOFF,
        )
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        print("ready", flush=True)
        await worker.run(stop)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--api-url", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--worker-id", required=True)
    parser.add_argument("--lease", type=float, default=2.0)
    parser.add_argument("--rate-scale", type=float, default=1.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--tmp", required=True)
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse()))
