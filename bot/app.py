"""Composition root: settings -> storage -> engine -> handlers -> adapters -> scheduler."""

from __future__ import annotations

import asyncio
import gc
import signal
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TextIO

import structlog

from engine.market.clock import MarketClock, ReplayClock, WallClock
from engine.market.replay import ReplayFeed
from engine.market.types import MarketFeed
from handlers import build_registry
from handlers.alarm_engine import close_alarms
from handlers.charts import ChartService
from handlers.context import AppConfig, Services
from settings import Settings
from storage.db import Database

if TYPE_CHECKING:
    from bot.delivery import Sender
    from bot.web import WebServer

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
    telegram: Any = field(default=None, repr=False)  # the TelegramFrontend while it runs
    discord: Any = field(default=None, repr=False)  # the DiscordFrontend while it runs
    web: Any = field(default=None, repr=False)  # the embedded WebServer while it runs

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
            watchlist=tuple(settings.symbols),
            signal_timeframes=tuple(settings.signal_timeframes),
            signal_expiry_candles=settings.signal_expiry_candles,
            signal_history_candles=settings.signal_history_candles,
            max_follows_per_chat=settings.max_follows_per_chat,
            max_alarms_per_chat=settings.max_alarms_per_chat,
            outbox_retention_days=settings.outbox_retention_days,
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

    async def run(
        self,
        stdin: TextIO = sys.stdin,
        stdout: TextIO = sys.stdout,
        *,
        stop: asyncio.Event | None = None,
        telegram_options: dict[str, Any] | None = None,
    ) -> None:
        """Serve until the front end stops: the end of console input, or (Telegram,
        Discord) SIGINT/SIGTERM or `stop` being set. `telegram_options` go to the
        `TelegramFrontend` (tests speed up its rate limits)."""
        from bot.scheduler import build_scheduler

        await _maybe(self.services.market, "start")  # a live feed connects; replay: nothing
        scheduler = build_scheduler(self.services)
        scheduler.start()
        try:
            if not self.settings.console_mode:
                await self._run_platforms(stop or asyncio.Event(), telegram_options or {})
                return
            from bot.console.chat import ConsoleChat

            console = ConsoleChat(self.services, stdin, stdout)
            stop_delivery = _start_delivery(self.services, [console])
            try:
                freeze_startup_objects()
                await console.run()
            finally:
                await stop_delivery()
        finally:
            await scheduler.stop()

    def _web_server(self) -> WebServer:
        """The embedded web server with the routes the settings ask for: health checks
        always, the TradingView webhook when its secret is set."""
        from bot.web import WebServer
        from bot.webhooks import add_health_routes, add_tradingview_route

        settings = self.settings
        web = WebServer(settings.web_host, settings.web_port)
        add_health_routes(web.app, self.services)
        if settings.tradingview_webhook_secret is not None:
            secret = settings.tradingview_webhook_secret.get_secret_value()
            add_tradingview_route(web.app, self.services, secret)
        return web

    async def _run_platforms(self, stop: asyncio.Event, options: dict[str, Any]) -> None:
        """Telegram and/or Discord (whichever has a token) with one delivery worker,
        until `stop` (SIGINT/SIGTERM). Shutdown order: stop receiving, let the updates
        being handled finish, let the delivery in flight finish, close."""
        settings = self.settings
        web = self.web = self._web_server()
        telegram = discord = None
        senders: list[Sender] = []
        stop_delivery: Callable[[], Awaitable[None]] | None = None
        restore_signals = _stop_on_signals(stop)
        try:
            if settings.telegram_bot_token is not None:
                from bot.telegram.app import TelegramFrontend, TelegramStartupError

                try:
                    telegram = TelegramFrontend(settings, self.services, web=web, **options)
                except TelegramStartupError as error:
                    raise StartupError(str(error)) from None
                self.telegram = telegram
                telegram.install_webhook_route()
            try:
                await web.start()
            except OSError as error:
                raise StartupError(
                    f"WEB_HOST/WEB_PORT: cannot listen on {web.host}:{web.port}: {error}"
                ) from None
            if telegram is not None:
                try:
                    await telegram.start()
                except TelegramStartupError as error:
                    raise StartupError(str(error)) from None
                senders.append(telegram.sender)
            if settings.discord_bot_token is not None:
                discord = await self._start_discord()
                senders.append(discord.sender)
            stop_delivery = _start_delivery(self.services, senders)
            log.info(
                "platforms_running",
                telegram=telegram.mode if telegram else None,
                discord=discord is not None,
            )
            freeze_startup_objects()  # everything is loaded and connected by now
            await stop.wait()
            log.info("shutting_down")
        finally:
            restore_signals()
            await web.stop()  # no new webhook updates
            if telegram is not None:
                await telegram.stop()  # no new polled updates; those being handled finish
            if stop_delivery is not None:
                await stop_delivery()
            if telegram is not None:
                await telegram.close()
            if discord is not None:
                await discord.stop()  # interactions in flight finish first

    async def _start_discord(self) -> Any:
        from bot.discord.app import DiscordFrontend, DiscordStartupError

        settings = self.settings
        assert settings.discord_bot_token is not None
        frontend = DiscordFrontend(
            self.services,
            settings.discord_bot_token.get_secret_value(),
            api_base=settings.discord_api_url,
            sync_commands=settings.discord_sync_commands,
            gateway=settings.discord_gateway,
            throttle_per_minute=settings.throttle_per_minute,
        )
        try:
            await frontend.start()
        except DiscordStartupError as error:
            raise StartupError(str(error)) from None
        self.discord = frontend
        return frontend

    async def close(self) -> None:
        gc.unfreeze()  # what `run` froze may be collected again
        await close_alarms(self.services)
        await _maybe(self.services.market, "close")
        await self.services.db.dispose()


def _start_delivery(services: Services, senders: list[Sender]) -> Callable[[], Awaitable[None]]:
    """Run a delivery worker for `senders` in a task; returns its stop, which
    lets the message being sent finish (the rest stays queued)."""
    from bot.delivery import DeliveryWorker

    stop = asyncio.Event()
    task = asyncio.create_task(DeliveryWorker(services, senders).run(stop))

    async def stop_delivery() -> None:
        stop.set()
        await task

    return stop_delivery


def freeze_startup_objects() -> None:
    """Move everything loaded so far (modules, the bundled market data, caches) out
    of the cyclic garbage collector's sight: they live as long as the process,
    and scanning them made each full collection a pause of ~0.1 s, which a burst
    of webhook requests or a fan-out would wait through (`bench/webhook.py`)."""
    gc.collect()
    gc.freeze()


def _stop_on_signals(stop: asyncio.Event) -> Callable[[], None]:
    """SIGINT/SIGTERM set `stop` (a graceful shutdown); returns the undo."""
    loop = asyncio.get_running_loop()
    installed = []
    for number in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(number, stop.set)
            installed.append(number)
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread
            pass

    def restore() -> None:
        for number in installed:
            loop.remove_signal_handler(number)

    return restore


async def _maybe(obj: object, method: str) -> None:
    function = getattr(obj, method, None)
    if function is not None:
        await function()
