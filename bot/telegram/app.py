"""The Telegram front end: aiogram's Bot and Dispatcher, long polling or a webhook,
the command menu, and a shutdown that lets in-flight updates finish.

- `TELEGRAM_API_URL` points the Bot at a self-hosted Bot API server.
- Long polling by default. With `TELEGRAM_WEBHOOK_URL`, the embedded web server
  (`bot/web.py`) serves the URL's path with aiogram's `SimpleRequestHandler`, which
  answers 401 to any request without the right `X-Telegram-Bot-Api-Secret-Token`
  (`TELEGRAM_WEBHOOK_SECRET`, required), and `setWebhook` registers the URL.
- `setMyCommands` at start: the default list in `DEFAULT_LANGUAGE`, then one list per
  supported language, and for each Telegram admin in `ADMIN_IDS` the admin commands too.
- FSM (wizards) state lives in the database (`bot/telegram/wizard_storage.py`): an
  unfinished wizard survives a restart and continues on whichever process receives
  the next update (several webhook processes behind a load balancer).
"""

from __future__ import annotations

import asyncio
from contextlib import suppress
from urllib.parse import urlsplit

import structlog
from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramNetworkError, TelegramUnauthorizedError
from aiogram.types import BotCommand, BotCommandScopeChat, BotCommandScopeDefault
from aiogram.webhook.aiohttp_server import SimpleRequestHandler

from bot.telegram.keyboards import action_store
from bot.telegram.limits import TelegramLimits
from bot.telegram.middlewares import (
    CatalogueI18n,
    ContextI18n,
    ContextLoader,
    Errors,
    InFlight,
    Throttle,
)
from bot.telegram.present import Presenter
from bot.telegram.routers import build_routers
from bot.telegram.sender import TelegramSender
from bot.telegram.wizard_storage import DatabaseStorage
from bot.web import WebServer
from handlers.context import Services
from handlers.i18n import SUPPORTED_LANGUAGES, Translator
from handlers.registry import Command
from settings import Settings

log = structlog.get_logger(__name__)

DRAIN_SECONDS = 30.0  # how long a shutdown waits for updates being handled
POLLING_TIMEOUT = 10  # getUpdates long-poll seconds
DESCRIPTION_LIMIT = 256


class TelegramStartupError(Exception):
    """A Telegram setting PulseWave cannot run with (the message names it)."""


def command_list(commands: list[Command], tr: Translator) -> list[BotCommand]:
    return [
        BotCommand(command=c.name, description=tr.gettext(c.summary)[:DESCRIPTION_LIMIT])
        for c in commands
    ]


def telegram_admins(admin_ids: tuple[str, ...]) -> list[int]:
    """Telegram user ids among ADMIN_IDS (`telegram:123` or a bare `123`)."""
    found = []
    for entry in admin_ids:
        platform, _, ident = entry.rpartition(":")
        if platform in ("", "telegram") and ident.lstrip("-").isdigit():
            found.append(int(ident))
    return found


class TelegramFrontend:
    platform = "telegram"

    def __init__(
        self,
        settings: Settings,
        services: Services,
        *,
        web: WebServer | None = None,
        rate_scale: float = 1.0,
        drain_seconds: float = DRAIN_SECONDS,
    ) -> None:
        if settings.telegram_bot_token is None:
            raise TelegramStartupError("TELEGRAM_BOT_TOKEN: not set")
        if settings.telegram_webhook_url and settings.telegram_webhook_secret is None:
            raise TelegramStartupError(
                "TELEGRAM_WEBHOOK_SECRET: required when TELEGRAM_WEBHOOK_URL is set"
            )
        if settings.telegram_webhook_url and web is None:
            raise TelegramStartupError("TELEGRAM_WEBHOOK_URL: webhook mode needs the web server")
        self.settings = settings
        self.services = services
        self.web = web
        self.drain_seconds = drain_seconds
        session = (
            AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram_api_url))
            if settings.telegram_api_url
            else AiohttpSession()
        )
        self.bot = Bot(
            settings.telegram_bot_token.get_secret_value(),
            session=session,
            default=DefaultBotProperties(parse_mode="HTML", link_preview_is_disabled=True),
        )
        store = action_store(services.db)  # long presses, shared with other processes
        self.presenter = Presenter(self.bot, services, TelegramLimits(rate_scale), store)
        self.sender = TelegramSender(self.presenter)
        self.inflight = InFlight()
        self.dispatcher = self._build_dispatcher()
        self._polling: asyncio.Task[None] | None = None
        self._webhook: SimpleRequestHandler | None = None

    @property
    def webhook_mode(self) -> bool:
        return bool(self.settings.telegram_webhook_url)

    def _build_dispatcher(self) -> Dispatcher:
        dispatcher = Dispatcher(storage=DatabaseStorage(self.services.db))
        dispatcher["presenter"] = self.presenter
        dispatcher.update.outer_middleware(self.inflight)
        language = self.services.config.default_language
        per_minute = self.settings.throttle_per_minute
        i18n = ContextI18n(CatalogueI18n(default_locale=language))
        chain = [
            Errors(self.presenter, language),
            Throttle(self.presenter, per_minute, language),
            ContextLoader(self.presenter),
            i18n,
        ]
        for observer in (dispatcher.message, dispatcher.callback_query):
            for middleware in chain:
                observer.outer_middleware(middleware)
        dispatcher.include_routers(*build_routers())
        return dispatcher

    # --- start -----------------------------------------------------------------------

    def install_webhook_route(self) -> None:
        """In webhook mode, add the webhook's path to the web server (before it starts)."""
        if not self.webhook_mode:
            return
        assert self.web is not None and self.settings.telegram_webhook_secret is not None
        handler = SimpleRequestHandler(
            self.dispatcher,
            self.bot,
            secret_token=self.settings.telegram_webhook_secret.get_secret_value(),
            handle_in_background=True,
        )
        path = urlsplit(self.settings.telegram_webhook_url or "").path or "/"
        # Not `handler.register()`: that would close the bot's session when the web
        # server stops, before in-flight updates and deliveries are done with it.
        self.web.app.router.add_post(path, handler.handle)
        self._webhook = handler

    async def start(self) -> None:
        """Connect, publish the command menu, and start receiving updates."""
        try:
            me = await self.bot.get_me()
        except TelegramUnauthorizedError:
            raise TelegramStartupError("TELEGRAM_BOT_TOKEN: Telegram rejected the token") from None
        except TelegramNetworkError as error:
            where = self.settings.telegram_api_url or "api.telegram.org"
            raise TelegramStartupError(
                f"TELEGRAM_API_URL: cannot reach the Bot API at {where}: {error.message}"
            ) from None
        log.info("telegram_connected", bot=me.username, mode=self.mode)
        try:
            await self.publish_commands()
        except Exception as error:  # the menu is a convenience: serve without it
            log.warning("telegram_commands_not_published", error=str(error))
        allowed = self.dispatcher.resolve_used_update_types()
        if self.webhook_mode:
            assert self.settings.telegram_webhook_secret is not None
            await self.bot.set_webhook(
                self.settings.telegram_webhook_url or "",
                secret_token=self.settings.telegram_webhook_secret.get_secret_value(),
                allowed_updates=allowed,
            )
            return
        await self.bot.delete_webhook(drop_pending_updates=False)
        self._polling = asyncio.create_task(
            self.dispatcher.start_polling(
                self.bot,
                polling_timeout=POLLING_TIMEOUT,
                handle_signals=False,
                close_bot_session=False,
                allowed_updates=allowed,
            ),
            name="telegram-polling",
        )

    @property
    def mode(self) -> str:
        return "webhook" if self.webhook_mode else "polling"

    async def publish_commands(self) -> None:
        registry = self.services.registry
        public = registry.visible(False)
        default = Translator(self.services.config.default_language)
        await self.bot.set_my_commands(
            command_list(public, default), scope=BotCommandScopeDefault()
        )
        for code in SUPPORTED_LANGUAGES:
            await self.bot.set_my_commands(
                command_list(public, Translator(code)),
                scope=BotCommandScopeDefault(),
                language_code=code,
            )
        every = registry.visible(True)
        if len(every) == len(public):
            return
        for admin in telegram_admins(self.services.config.admin_ids):
            scope = BotCommandScopeChat(chat_id=admin)
            try:
                await self.bot.set_my_commands(command_list(every, default), scope=scope)
                for code in SUPPORTED_LANGUAGES:
                    await self.bot.set_my_commands(
                        command_list(every, Translator(code)), scope=scope, language_code=code
                    )
            except Exception as error:  # the admin never talked to the bot: no such chat
                log.warning("telegram_admin_commands_failed", admin=admin, error=str(error))

    # --- stop ------------------------------------------------------------------------

    async def stop(self) -> None:
        """Stop receiving and let the updates being handled finish (the web server,
        if any, must be stopped by its owner before this, in webhook mode)."""
        if self._polling is not None:
            with suppress(RuntimeError):  # polling had already ended
                await self.dispatcher.stop_polling()
            with suppress(Exception):
                await self._polling
            self._polling = None
        await asyncio.sleep(0)  # updates just taken start their tasks
        tasks = set(getattr(self.dispatcher, "_handle_update_tasks", ()))
        if self._webhook is not None:
            tasks |= set(getattr(self._webhook, "_background_feed_update_tasks", ()))
        if tasks:
            await asyncio.wait(tasks, timeout=self.drain_seconds)
        if not await self.inflight.wait_idle(self.drain_seconds):
            log.warning("telegram_updates_unfinished", count=self.inflight.count)
        if not self.webhook_mode and self.inflight.last_update_id is not None:
            await self._confirm(self.inflight.last_update_id)
        log.info("telegram_stopped")

    async def _confirm(self, update_id: int) -> None:
        """Tell Telegram the handled updates are done, so a restart does not get them
        again (polling confirms an update only with the next getUpdates)."""
        with suppress(Exception):
            await self.bot.get_updates(offset=update_id + 1, limit=1, timeout=0)

    async def close(self) -> None:
        """After `stop` and the delivery worker: the last button payloads are
        written (before storage closes), then the HTTP session closes."""
        await self.presenter.store.close()
        await self.bot.session.close()
