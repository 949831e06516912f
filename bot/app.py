"""Composition root: settings -> storage -> engine -> handlers -> adapters -> scheduler."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import TextIO

import structlog

from engine.market.clock import MarketClock, ReplayClock, WallClock
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


def build_market(
    settings: Settings, db: Database | None = None, clock: MarketClock | None = None
) -> tuple[MarketFeed, MarketClock]:
    """The market feed and its clock. `clock` replaces the wall clock of a live
    feed (tests drive a local exchange and the feed on one controlled clock)."""
    if settings.market_source == "replay":
        clock = ReplayClock(settings.replay_start, settings.replay_speed)
        try:
            feed = ReplayFeed(settings.replay_data_dir, clock, settings.timeframes)
        except FileNotFoundError as error:
            raise StartupError(f"REPLAY_DATA_DIR: {error}") from None
        return feed, clock
    if db is None:
        raise StartupError("MARKET_SOURCE: 'ccxt' needs the database (candles are stored)")
    from bot.live import build_live_market  # ccxt is heavy: imported only for live data

    clock = clock or WallClock()
    return build_live_market(settings, db, clock), clock


@dataclass
class App:
    settings: Settings
    services: Services

    @classmethod
    async def create(cls, settings: Settings, clock: MarketClock | None = None) -> App:
        db = Database(settings.database_url)
        await db.migrate()
        market, clock = build_market(settings, db, clock)
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

        await _maybe(
            self.services.market, "start"
        )  # a live feed connects; replay has nothing to do
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
        await _maybe(self.services.market, "close")
        await self.services.db.dispose()


async def _maybe(obj: object, method: str) -> None:
    function = getattr(obj, method, None)
    if function is not None:
        await function()
