"""The delivery worker's way into Discord (`bot.delivery.Sender`).

A notification is rendered like any reply (an embed, its chart attached, buttons).
Guild chats are channels (or threads) by id; a DM chat is keyed by the user's id,
and its DM channel is opened (`POST /users/@me/channels`) once per process.
Discord has no file ids: the picture is attached to every message (`Sent.file_id`
stays None).

Rate limits are discord.py's: its HTTP client follows the `X-RateLimit-*` headers
of every route (waiting when a bucket is empty) and, on a 429, sleeps the
`retry_after` Discord sent and retries the same request, so nothing is lost or
sent twice. A wait longer than the client's `max_ratelimit_timeout` comes back as
`RateLimited`, and the worker re-queues the row for exactly that long. Other errors
become the worker's:

- 403 (no access, cannot message this user: closed DMs, kicked) and 404 unknown
  channel / user → `ChatUnavailable` (the chat is deactivated, like a Telegram block);
- 5xx, network errors, timeouts, 401 → `TransientError` (retried with backoff);
- any other rejection (400 …) → `PermanentError`.
"""

from __future__ import annotations

import aiohttp
import discord

from bot.delivery import (
    ChatUnavailable,
    Outgoing,
    PermanentError,
    RetryAfter,
    Sent,
    TransientError,
)
from bot.discord.render import render
from bot.discord.views import ActionStore
from handlers.reply import Image

# Discord's JSON error codes meaning "this chat is gone for the bot".
GONE_CODES = frozenset({10003, 10013, 50001, 50007, 50013})


class DiscordSender:
    platform = "discord"
    reuses_files = False  # no file ids: the worker need not serialise a picture's first send

    def __init__(self, client: discord.Client, store: ActionStore | None = None) -> None:
        self.client = client
        self.store = store
        self._dm_channels: dict[int, int] = {}

    async def send(self, message: Outgoing) -> Sent:
        try:
            return await self._send(message)
        except discord.RateLimited as error:
            raise RetryAfter(error.retry_after, str(error)) from error
        except discord.Forbidden as error:
            raise ChatUnavailable(f"{error.code}: {error.text}") from error
        except discord.NotFound as error:
            if error.code in GONE_CODES:
                raise ChatUnavailable(f"{error.code}: {error.text}") from error
            raise PermanentError(f"{error.code}: {error.text}") from error
        except discord.DiscordServerError as error:
            raise TransientError(f"{error.status}: {error.text}") from error
        except discord.HTTPException as error:
            if error.status == 429:  # discord.py gave up after its own retries
                retry = float(error.response.headers.get("Retry-After", "5") or 5)
                raise RetryAfter(retry, error.text) from error
            if error.status == 401:
                raise TransientError(f"401: {error.text}") from error
            if error.code in GONE_CODES:
                raise ChatUnavailable(f"{error.code}: {error.text}") from error
            raise PermanentError(f"{error.status} {error.code}: {error.text}") from error
        except (aiohttp.ClientError, OSError, TimeoutError) as error:
            raise TransientError(f"{type(error).__name__}: {error}") from error

    async def _send(self, message: Outgoing) -> Sent:
        channel_id = await self._channel_id(message)
        picture = None
        if message.image is not None and message.reply.image is None:
            picture = Image(message.image, "", message.image_name or "chart.png")
        rendered = render(message.reply, image=picture, store=self.store)
        channel = self.client.get_partial_messageable(channel_id)
        sent = await channel.send(**rendered.send_kwargs())  # type: ignore[arg-type]
        return Sent(str(sent.id))

    async def _channel_id(self, message: Outgoing) -> int:
        if message.chat_kind != "dm":
            return int(message.chat_external_id)
        user_id = int(message.chat_external_id)
        if user_id not in self._dm_channels:
            data = await self.client.http.start_private_message(user_id)
            self._dm_channels[user_id] = int(data["id"])
        return self._dm_channels[user_id]
