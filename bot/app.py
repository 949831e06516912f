"""Composition root: settings -> storage -> engine -> handlers -> adapters -> scheduler."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import TextIO

import structlog

from engine.market.clock import MarketClock, ReplayClock
from engine.market.replay import ReplayFeed
from engine.market.types import MarketFeed
from handlers import build_registry
from handlers.charts import ChartService
from handlers.context import AppConfig, Services
from settings import Settings
from storage.db import Database

log = structlog.get_logger(__name__)


class StartupError(Exception):
    """A configuration PulseWave cannot run with; the message names the setting."""


def build_market(settings: Settings) -> tuple[MarketFeed, MarketClock]:
    if settings.market_source == "replay":
        clock = ReplayClock(settings.replay_start, settings.replay_speed)
        try:
            feed = ReplayFeed(settings.replay_data_dir, clock, settings.timeframes)
        except FileNotFoundError as error:
            raise StartupError(f"REPLAY_DATA_DIR: {error}") from None
        return feed, clock
    raise StartupError(
        "MARKET_SOURCE: 'ccxt' (live exchange data) is not available in this "
        "version yet; use MARKET_SOURCE=replay"
    )


@dataclass
class App:
    settings: Settings
    services: Services

    @classmethod
    async def create(cls, settings: Settings) -> App:
        db = Database(settings.database_url)
        await db.migrate()
        market, clock = build_market(settings)
        config = AppConfig(
            quote_currency=settings.quote_currency,
            admin_ids=tuple(settings.admin_ids),
            output_dir=settings.output_dir,
            default_language=settings.default_language,
            timeframes=tuple(settings.timeframes),
        )
        services = Services(
            db=db,
            market=market,
            clock=clock,
            config=config,
            charts=ChartService(market),
            registry=build_registry(),
        )
        log.info("app_ready", market=market.name, database=db.dialect)
        return cls(settings, services)

    async def run(self, stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout) -> None:
        from bot.scheduler import build_scheduler

        scheduler = build_scheduler(self.services)
        scheduler.start()
        try:
            if self.settings.console_mode:
                from bot.console.chat import ConsoleChat

                await ConsoleChat(self.services, stdin, stdout).run()
            else:
                raise StartupError(
                    "TELEGRAM_BOT_TOKEN/DISCORD_BOT_TOKEN: the Telegram and Discord "
                    "front ends are not available in this version yet; unset the "
                    "tokens to use the console chat"
                )
        finally:
            scheduler.shutdown(wait=False)

    async def close(self) -> None:
        await self.services.db.dispose()
