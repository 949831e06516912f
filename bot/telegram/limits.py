"""Telegram's sending limits, enforced on our side so that a 429 is rare.

Telegram allows about 30 messages a second overall, one a second in a private chat
(with a short burst) and 20 a minute in a group; edits count too. Replies to commands
and deliveries share one `TelegramLimits`, so neither can starve the limits of the
other. A 429 that happens anyway carries `retry_after`: a reply waits it and tries
again (`call(..., retry=True)`); the delivery worker gets it as `RetryAfter` and
reschedules the message itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import structlog
from aiogram.exceptions import TelegramRetryAfter
from aiolimiter import AsyncLimiter

log = structlog.get_logger(__name__)

GLOBAL_PER_SECOND = 30.0
GLOBAL_BURST = 20.0
PRIVATE_PER_SECOND = 1.0
PRIVATE_BURST = 2.0
GROUP_PER_MINUTE = 20.0
GROUP_BURST = 10.0
# Our buckets run a little slower than Telegram's, and their bursts are smaller than
# the ones Telegram tolerates: its count starts when a request *arrives*, ours when
# it leaves, and the spare burst absorbs that difference.
MARGIN = 1.05
REPLY_RETRIES = 3  # a reply waits out this many 429s before giving up
MAX_REPLY_WAIT = 30.0  # … each of at most this many seconds
PRUNE_ABOVE = 10_000  # chats with a limiter before idle ones are dropped


def _period(burst: float, per_second: float, scale: float) -> float:
    """aiolimiter's time period for `burst` tokens refilled at `per_second` × `scale`."""
    return burst / (per_second * scale) * MARGIN


def is_private(chat_id: int | str, kind: str | None = None) -> bool:
    if kind is not None:
        return kind == "private"
    return int(chat_id) > 0  # Telegram: users are positive ids, groups negative


class TelegramLimits:
    """Leaky buckets (aiolimiter) for the whole bot and for each chat. `scale`
    multiplies every rate (tests use a faster Bot API server)."""

    def __init__(self, scale: float = 1.0) -> None:
        self.scale = scale
        self._global = AsyncLimiter(GLOBAL_BURST, _period(GLOBAL_BURST, GLOBAL_PER_SECOND, scale))
        self._chats: dict[str, AsyncLimiter] = {}

    def _limiter(self, chat_id: int | str, kind: str | None) -> AsyncLimiter:
        key = str(chat_id)
        limiter = self._chats.get(key)
        if limiter is None:
            if len(self._chats) >= PRUNE_ABOVE:
                self._prune()
            if is_private(chat_id, kind):
                limiter = AsyncLimiter(
                    PRIVATE_BURST, _period(PRIVATE_BURST, PRIVATE_PER_SECOND, self.scale)
                )
            else:
                limiter = AsyncLimiter(
                    GROUP_BURST, _period(GROUP_BURST, GROUP_PER_MINUTE / 60.0, self.scale)
                )
            self._chats[key] = limiter
        return limiter

    def _prune(self) -> None:
        for key, limiter in list(self._chats.items()):
            if limiter.has_capacity(limiter.max_rate):  # idle: nothing to remember
                del self._chats[key]

    async def wait(self, chat_id: int | str, kind: str | None = None) -> None:
        """Wait for a slot to send (or edit) one message in this chat."""
        await self._limiter(chat_id, kind).acquire()
        await self._global.acquire()

    async def call[T](
        self,
        chat_id: int | str,
        request: Callable[[], Awaitable[T]],
        *,
        kind: str | None = None,
        retry: bool = True,
    ) -> T:
        """Make one API call that sends or edits a message, within the limits; with
        `retry`, a 429 is waited out (up to `REPLY_RETRIES` times) and tried again."""
        attempt = 0
        while True:
            await self.wait(chat_id, kind)
            try:
                return await request()
            except TelegramRetryAfter as error:
                attempt += 1
                if not retry or attempt > REPLY_RETRIES or error.retry_after > MAX_REPLY_WAIT:
                    raise
                log.info("telegram_retry_after", chat=str(chat_id), seconds=error.retry_after)
                await asyncio.sleep(error.retry_after)
