"""The Discord front end: a discord.py client with the registry's slash commands.

    frontend = DiscordFrontend(services, token)
    await frontend.start()       # log in, sync the commands, connect the gateway
    worker = DeliveryWorker(services, [frontend.sender, ...])
    ...
    await frontend.stop()        # answer the interactions in flight, disconnect

No privileged intent is needed: slash commands, autocomplete and buttons arrive as
interactions whatever the intents; `guilds` lets discord.py know the channels.

`api_base` points discord.py at another REST server (the tests' emulator): it sets
the process-wide `discord.http.Route.BASE` (used by the HTTP client and by the
interaction webhooks alike) and the gateway URL that server's `/gateway/bot` names,
and restores both on `stop()`.
"""

from __future__ import annotations

import asyncio
from contextlib import suppress
from typing import Any

import aiohttp
import discord
import structlog
import yarl
from discord import app_commands
from discord.gateway import DiscordWebSocket
from discord.http import Route

from bot.discord.commands import CatalogueTranslator, build_tree
from bot.discord.render import render
from bot.discord.respond import DEFER_AFTER, SLOW_DEFER_AFTER, Responder, translator_for
from bot.discord.sender import DiscordSender
from bot.discord.views import ActionButton, action_store
from handlers.context import Services
from handlers.dispatch import APOLOGY
from handlers.reply import Reply, Tone

log = structlog.get_logger(__name__)

READY_TIMEOUT = 60.0
# A 429 asking to wait longer than this is not slept through by discord.py but
# handed to the delivery worker as `RetryAfter` (discord.py's minimum is 30 s).
MAX_RATELIMIT_TIMEOUT = 30.0


class DiscordStartupError(Exception):
    """Discord cannot be used (bad token, unreachable); the message says why."""


class PulseClient(discord.Client):
    def __init__(self, frontend: DiscordFrontend, **options: Any) -> None:
        super().__init__(intents=discord.Intents(guilds=True), **options)
        self.frontend = frontend
        self.connected = asyncio.Event()

    async def setup_hook(self) -> None:
        self.add_dynamic_items(ActionButton)

    async def on_connect(self) -> None:
        """READY arrived: interactions flow (the guilds keep arriving after it)."""
        self.connected.set()


class DiscordFrontend:
    platform = "discord"

    def __init__(
        self,
        services: Services,
        token: str,
        *,
        api_base: str | None = None,
        sync_commands: bool = True,
        gateway: bool = True,
        defer_after: float = DEFER_AFTER,
        slow_defer_after: float = SLOW_DEFER_AFTER,
        ready_timeout: float = READY_TIMEOUT,
        throttle_per_minute: int = 0,
    ) -> None:
        self.services = services
        self.token = token
        self.api_base = api_base.rstrip("/") if api_base else None
        self.sync_commands = sync_commands
        self.gateway = gateway
        self.ready_timeout = ready_timeout
        self.store = action_store(services.db)
        self.responder = Responder(
            services,
            self.store,
            defer_after=defer_after,
            slow_defer_after=slow_defer_after,
            throttle_per_minute=throttle_per_minute,
        )
        self.client = PulseClient(self, max_ratelimit_timeout=MAX_RATELIMIT_TIMEOUT)
        self.tree = build_tree(self.client, services, self.responder.command)
        self.tree.error(self._on_tree_error)
        self._sender = DiscordSender(self.client, self.store)
        self._connection: asyncio.Task[None] | None = None
        self._saved: tuple[str, yarl.URL] | None = None
        self.synced: list[app_commands.AppCommand] = []

    @property
    def sender(self) -> DiscordSender:
        return self._sender

    async def on_press(self, interaction: discord.Interaction, custom_id: str) -> None:
        await self.responder.press(interaction, custom_id)

    async def start(self) -> None:
        """Log in, sync the slash commands, connect the gateway (in the background)."""
        if self.api_base:
            self._saved = (Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY)
            Route.BASE = self.api_base
        try:
            await self.client.login(self.token)
            await self.tree.set_translator(CatalogueTranslator())
            if self.sync_commands:
                self.synced = await self.tree.sync()
                log.info("discord_commands_synced", count=len(self.synced))
            if self.gateway and self.api_base:
                _, url, _ = await self.client.http.get_bot_gateway()
                DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(url)
        except discord.LoginFailure as error:
            await self._close_quietly()
            self._restore()
            raise DiscordStartupError(f"DISCORD_BOT_TOKEN: Discord refused it ({error})") from None
        except (discord.HTTPException, discord.GatewayNotFound) as error:
            await self._close_quietly()
            self._restore()
            raise DiscordStartupError(f"Discord API: {error}") from None
        except (aiohttp.ClientError, OSError, TimeoutError) as error:
            await self._close_quietly()
            self._restore()
            raise DiscordStartupError(f"cannot reach Discord: {error}") from None
        user = self.client.user
        log.info("discord_logged_in", bot=str(user), id=user.id if user else None)
        if self.gateway:
            self._connection = asyncio.create_task(self._connect(), name="discord-gateway")
            await self._wait_ready()

    async def _connect(self) -> None:
        try:
            await self.client.connect(reconnect=True)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("discord_gateway_failed")
            raise

    async def _wait_ready(self) -> None:
        assert self._connection is not None
        ready = asyncio.ensure_future(self.client.connected.wait())
        done, _ = await asyncio.wait(
            {ready, self._connection}, timeout=self.ready_timeout, return_when="FIRST_COMPLETED"
        )
        if ready not in done:
            ready.cancel()
        if self._connection in done:
            error = self._connection.exception()
            await self._close_quietly()
            self._restore()
            raise DiscordStartupError(f"Discord gateway: {error!r}")
        if not done:
            log.warning("discord_not_ready_yet", waited=self.ready_timeout)
        else:
            log.info("discord_connected", latency=self.client.latency)

    async def stop(self) -> None:
        """Finish the interactions being answered, then disconnect and close.
        Stop the delivery worker first: the sender uses this client."""
        await self.responder.drain()
        await self.store.close()  # long button payloads written before storage closes
        await self._close_quietly()
        if self._connection is not None:
            self._connection.cancel()
            with suppress(asyncio.CancelledError, Exception):
                await self._connection
            self._connection = None
        self._restore()

    def _restore(self) -> None:
        """Give discord.py back its own API and gateway URLs (after `api_base`)."""
        if self._saved is not None:
            Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY = self._saved
            self._saved = None

    async def _close_quietly(self) -> None:
        with suppress(Exception):
            await self.client.close()

    async def _on_tree_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        """A command Discord knows but this process does not (commands not synced
        yet), or a failure inside discord.py: log it and say sorry."""
        log.error("discord_tree_error", error=repr(error), interaction=interaction.id)
        if interaction.response.is_done() or interaction.type is not (
            discord.InteractionType.application_command
        ):
            return
        text = translator_for(interaction).gettext(APOLOGY, id=f"{interaction.id:x}"[-8:])
        reply = Reply(text=text, tone=Tone.ERROR)
        with suppress(discord.HTTPException):
            await interaction.response.send_message(**render(reply).send_kwargs(), ephemeral=True)
