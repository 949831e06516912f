"""An interaction's way through the handlers: who asks (Context), the command line
run by the platform-neutral dispatcher, and the answer within Discord's rules.

Discord wants an interaction answered within 3 seconds. The command runs at once;
if its reply is not ready after `defer_after` seconds (`slow_defer_after` for the
commands that render pictures) the interaction is deferred ("thinking…", or a
silent acknowledgement for a button that edits its message) and the reply
follows. A deferred answer that turns out private (an error, `Reply.ephemeral`)
replaces the public "thinking…" with a message only the caller sees.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable
from contextlib import suppress

import discord
import structlog

from bot.action_store import EXPIRED
from bot.discord.render import Rendered, render
from bot.discord.views import ActionStore, Press, decode
from handlers.context import Context, Services
from handlers.dispatch import APOLOGY, dispatch
from handlers.i18n import Translator, resolve_language
from handlers.reply import Reply, Tone
from handlers.session import PlatformChat, PlatformUser, open_context
from handlers.throttle import SLOW_DOWN, UserThrottle

log = structlog.get_logger(__name__)

DEFER_AFTER = 2.0
SLOW_DEFER_AFTER = 0.5
UNKNOWN_INTERACTION = 10062


def platform_user(interaction: discord.Interaction) -> PlatformUser:
    user = interaction.user
    return PlatformUser(
        "discord",
        str(user.id),
        username=user.name,
        display_name=user.display_name,
        language_hint=str(interaction.locale.value),
    )


def platform_chat(interaction: discord.Interaction) -> PlatformChat:
    """A guild channel (or thread) by its id; a DM by the user's id, so deliveries
    reach the user wherever the command was given outside a guild."""
    if interaction.guild_id is None:
        return PlatformChat(str(interaction.user.id), kind="dm")
    title = getattr(interaction.channel, "name", None)
    return PlatformChat(str(interaction.channel_id), kind="guild", title=title)


def manages_chat(interaction: discord.Interaction) -> bool:
    """Channel-level alarms and follows need Manage Channels there; DMs always may."""
    if interaction.guild_id is None:
        return True
    permissions = interaction.permissions
    return permissions.manage_channels or permissions.administrator


async def context_for(services: Services, interaction: discord.Interaction) -> Context:
    return await open_context(
        services,
        platform_user(interaction),
        platform_chat(interaction),
        manages_chat=manages_chat(interaction),
    )


def translator_for(interaction: discord.Interaction, chosen: str | None = None) -> Translator:
    """The user's `chosen` language (/language) if any, else their Discord locale's."""
    return Translator(resolve_language(chosen, str(interaction.locale.value)))


class Responder:
    """Runs command lines for interactions and answers them; at most
    `throttle_per_minute` commands and presses per user (0: no limit)."""

    def __init__(
        self,
        services: Services,
        store: ActionStore,
        *,
        defer_after: float = DEFER_AFTER,
        slow_defer_after: float = SLOW_DEFER_AFTER,
        throttle_per_minute: int = 0,
    ) -> None:
        self.services = services
        self.store = store
        self.throttle = UserThrottle(throttle_per_minute)
        self.defer_after = defer_after
        self.slow_defer_after = min(slow_defer_after, defer_after)
        self.inflight: set[asyncio.Task[object]] = set()

    async def command(self, interaction: discord.Interaction, line: str) -> None:
        """A slash command: the reply is a new message."""
        if not await self._throttled(interaction):
            await self._guarded(interaction, self._new(interaction, line))

    async def press(self, interaction: discord.Interaction, custom_id: str) -> None:
        """A button: run its action; edit, refresh or answer as its custom id says."""
        if await self._throttled(interaction):
            return
        press = await decode(custom_id, self.store)
        if press is None:
            await self._tell(interaction, EXPIRED)
        elif press.mode == "e":
            await self._guarded(interaction, self._edit(interaction, press.action))
        elif press.mode == "r":
            await self._guarded(interaction, self._refresh(interaction, press))
        else:
            await self._guarded(interaction, self._new(interaction, press.action))

    async def _throttled(self, interaction: discord.Interaction) -> bool:
        """Past the user's rate: the interaction is answered "slow down" privately
        and nothing runs. Every refusal is answered (Discord tells the user "the
        application did not respond" about an interaction left unanswered)."""
        verdict = self.throttle.allow(interaction.user.id)
        if verdict.allowed:
            return False
        log.info("discord_throttled", user=interaction.user.id, notified=verdict.notify)
        await self._tell(interaction, SLOW_DOWN)
        return True

    async def _tell(self, interaction: discord.Interaction, message: str) -> None:
        """Answer with `message` (a catalogue text), privately, instead of running
        anything."""
        text = translator_for(interaction).gettext(message)
        reply = Reply(text=text, tone=Tone.ERROR, ephemeral=True)
        await self._guarded(interaction, self._send(interaction, render(reply)))

    # --- the three answers ---------------------------------------------------

    async def _new(self, interaction: discord.Interaction, line: str) -> None:
        reply = await self._reply(interaction, line, thinking=True)
        await self._send(interaction, self._render(reply, line))

    async def _edit(self, interaction: discord.Interaction, line: str) -> None:
        reply = await self._reply(interaction, line, thinking=False)
        rendered = self._render(reply, line)
        if rendered.ephemeral:  # an error or private data: tell the presser alone
            await self._send(interaction, rendered)
        elif interaction.response.is_done():
            await interaction.edit_original_response(**rendered.edit_kwargs())
        else:
            await interaction.response.edit_message(**rendered.edit_kwargs())

    async def _refresh(self, interaction: discord.Interaction, press: Press) -> None:
        await interaction.response.defer()  # two commands: acknowledge first
        ctx = await self._context(interaction)  # loaded once, for both commands
        reply = await self._run(interaction, press.action, ctx)
        rendered = self._render(reply, press.action)
        rendered.ephemeral = True
        await self._send(interaction, rendered)
        if reply.is_error:
            return
        listing = await self._run(interaction, press.refresh, ctx)
        if not listing.is_error:
            await interaction.edit_original_response(
                **self._render(listing, press.refresh).edit_kwargs()
            )

    # --- machinery -------------------------------------------------------------

    def _render(self, reply: Reply, source: str) -> Rendered:
        return render(reply, source=source, store=self.store)

    async def _reply(self, interaction: discord.Interaction, line: str, *, thinking: bool) -> Reply:
        """Run `line`; defer the interaction if the reply takes too long."""
        task = asyncio.ensure_future(self._run(interaction, line))
        command = self.services.registry.command_for(line)
        name = command.name if command else None
        delay = self.slow_defer_after if command and command.draws else self.defer_after
        done, _ = await asyncio.wait({task}, timeout=delay)
        if not done and not interaction.response.is_done():
            try:
                await interaction.response.defer(thinking=thinking)
                log.info("discord_deferred", command=name, interaction=interaction.id)
            except discord.HTTPException as error:
                log.warning("discord_defer_failed", command=name, error=str(error))
        return await task

    async def _context(self, interaction: discord.Interaction) -> Context | Reply:
        """The interaction's Context, or the apology when it cannot be loaded."""
        try:
            return await context_for(self.services, interaction)
        except Exception:
            return self._apology(interaction, "discord_command_failed")

    async def _run(
        self, interaction: discord.Interaction, line: str, ctx: Context | Reply | None = None
    ) -> Reply:
        """Run `line` in `ctx` (loaded here when not given); a Context that could
        not be loaded answers with its apology."""
        if ctx is None:
            ctx = await self._context(interaction)
        if isinstance(ctx, Reply):
            return ctx
        try:
            reply = await dispatch(ctx, line)
        except Exception:  # the bot must outlive any one bad command
            return self._apology(interaction, "discord_command_failed")
        return reply if reply is not None else Reply(text="…")

    async def _send(self, interaction: discord.Interaction, rendered: Rendered) -> None:
        """A new message: the interaction's response, or after a deferral its
        follow-up (a private one replaces the public "thinking…")."""
        kwargs = rendered.send_kwargs()
        if not interaction.response.is_done():
            await interaction.response.send_message(**kwargs, ephemeral=rendered.ephemeral)
            return
        if rendered.ephemeral:
            if (
                interaction.response.type
                is discord.InteractionResponseType.deferred_channel_message
            ):
                with suppress(discord.NotFound):
                    await interaction.delete_original_response()
            await interaction.followup.send(**kwargs, ephemeral=True, wait=True)
        elif interaction.response.type is discord.InteractionResponseType.deferred_channel_message:
            await interaction.edit_original_response(**rendered.edit_kwargs())
        else:
            await interaction.followup.send(**kwargs, wait=True)

    def _apology(self, interaction: discord.Interaction, event: str) -> Reply:
        error_id = uuid.uuid4().hex[:8]
        log.exception(event, error_id=error_id, interaction=interaction.id)
        text = translator_for(interaction).gettext(APOLOGY, id=error_id)
        return Reply(text=text, tone=Tone.ERROR, ephemeral=True)

    async def _guarded(self, interaction: discord.Interaction, work: Awaitable[None]) -> None:
        """Run one interaction's work, tracked so that `drain` can wait for it; any
        failure is logged and, if the interaction is still open, apologised for."""
        task = asyncio.current_task()
        if task is not None:
            self.inflight.add(task)
        try:
            await work
        except Exception as error:
            if isinstance(error, discord.NotFound) and error.code == UNKNOWN_INTERACTION:
                # Answered too late (over 3 s, or 15 minutes for follow-ups): nobody waits.
                log.warning("discord_interaction_expired", interaction=interaction.id)
                return
            reply = self._apology(interaction, "discord_answer_failed")
            if not interaction.response.is_done():
                with suppress(Exception):
                    await interaction.response.send_message(
                        **render(reply).send_kwargs(), ephemeral=True
                    )
        finally:
            if task is not None:
                self.inflight.discard(task)

    async def drain(self, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """Wait for the interactions being answered (shutdown)."""
        pending = {t for t in self.inflight if t is not asyncio.current_task()}
        if pending:
            await asyncio.wait(pending, timeout=timeout)
