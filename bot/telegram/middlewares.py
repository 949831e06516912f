"""What runs around every update, outermost first:

1. `InFlight` (update level): counts updates being handled, so a shutdown waits for
   them, and remembers the last update id (polling confirms it before stopping).
2. `Errors`: anything that escapes a handler is logged with its traceback under a
   short error id, and the user gets an apology naming that id.
3. `Throttle`: at most `THROTTLE_PER_MINUTE` requests per user (`handlers.throttle`, a
   token bucket, so a short burst is fine); past it, one friendly "slow down" per
   episode, then silence.
4. `ContextLoader`: the user and chat are loaded or created (`handlers.session`) and
   the request's `Context` goes into the handler data as `ctx`; in groups it asks
   Telegram whether the user is an admin (cached for `ADMIN_TTL`).
5. `ContextI18n`: aiogram's gettext i18n (`aiogram.utils.i18n`) over the same
   `locales/` catalogues as `handlers.i18n`, set to the Context's language.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

import structlog
from aiogram import BaseMiddleware, Bot
from aiogram.types import CallbackQuery, Chat, Message, TelegramObject, Update, User
from aiogram.utils.i18n import I18n, I18nMiddleware

from bot.telegram.present import Presenter
from handlers.dispatch import APOLOGY
from handlers.i18n import (
    LOCALES_DIR,
    SUPPORTED_LANGUAGES,
    Translator,
    resolve_language,
    translations,
)
from handlers.session import PlatformChat, PlatformUser, open_context
from handlers.throttle import SLOW_DOWN, UserThrottle

log = structlog.get_logger(__name__)

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]

ADMIN_TTL = 60.0
ADMIN_STATUSES = ("creator", "administrator")


def notice_language(presenter: Presenter, user: User | None, default: str) -> Translator:
    """The language for a notice sent before (or without) a Context."""
    if user is None:
        return Translator(default)
    known = presenter.languages.get(user.id)
    return Translator(known or resolve_language(user.language_code, default))


async def notify(event: TelegramObject, text: str, *, alert: bool = True) -> None:
    """A short notice: a toast for a button press, a message otherwise."""
    with suppress(Exception):  # the notice is a courtesy: it must not fail the update
        if isinstance(event, CallbackQuery):
            await event.answer(text[:200], show_alert=alert)
        elif isinstance(event, Message):
            await event.answer(text)


class InFlight(BaseMiddleware):
    def __init__(self) -> None:
        self.count = 0
        self.last_update_id: int | None = None
        self._idle = asyncio.Event()
        self._idle.set()

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        if isinstance(event, Update):
            self.last_update_id = max(self.last_update_id or 0, event.update_id)
        self.count += 1
        self._idle.clear()
        try:
            return await handler(event, data)
        finally:
            self.count -= 1
            if self.count == 0:
                self._idle.set()

    async def wait_idle(self, timeout: float) -> bool:  # noqa: ASYNC109
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            return False
        return True


class Errors(BaseMiddleware):
    def __init__(self, presenter: Presenter, default_language: str) -> None:
        self.presenter = presenter
        self.default_language = default_language

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        try:
            return await handler(event, data)
        except Exception:
            error_id = uuid.uuid4().hex[:8]
            log.exception(
                "telegram_update_failed", error_id=error_id, event_type=type(event).__name__
            )
            ctx = data.get("ctx")
            tr = (
                ctx.tr
                if ctx is not None
                else notice_language(
                    self.presenter, data.get("event_from_user"), self.default_language
                )
            )
            await notify(event, tr.gettext(APOLOGY, id=error_id))
            return None


class Throttle(BaseMiddleware):
    """`handlers.throttle.UserThrottle` per Telegram user: past the rate, one
    "slow down" per episode, then silence (a button press is still acknowledged)."""

    def __init__(self, presenter: Presenter, per_minute: int, default_language: str) -> None:
        self.presenter = presenter
        self.default_language = default_language
        self.throttle = UserThrottle(per_minute)

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        user: User | None = data.get("event_from_user")
        if user is None:
            return await handler(event, data)
        allowed, notify_now = self.throttle.allow(user.id)
        if allowed:
            return await handler(event, data)
        log.info("telegram_throttled", user=user.id, notified=notify_now)
        if notify_now:
            tr = notice_language(self.presenter, user, self.default_language)
            await notify(event, tr.gettext(SLOW_DOWN), alert=False)
        elif isinstance(event, CallbackQuery):
            with suppress(Exception):
                await event.answer()
        return None


class AdminCache:
    """Who administers which group, as Telegram said within the last `ttl` seconds."""

    def __init__(self, ttl: float = ADMIN_TTL, clock: Callable[[], float] = time.monotonic):
        self.ttl = ttl
        self.clock = clock
        self._known: OrderedDict[tuple[int, int], tuple[float, bool]] = OrderedDict()

    async def is_admin(self, bot: Bot, chat_id: int, user_id: int) -> bool:
        key = (chat_id, user_id)
        known = self._known.get(key)
        if known is not None and known[0] > self.clock():
            return known[1]
        try:
            member = await bot.get_chat_member(chat_id, user_id)
            admin = member.status in ADMIN_STATUSES
        except Exception as error:  # no answer: not an admin (nothing gets changed)
            log.warning("telegram_admin_check_failed", chat=chat_id, user=user_id, error=str(error))
            return False
        self._known[key] = (self.clock() + self.ttl, admin)
        while len(self._known) > 10_000:
            self._known.popitem(last=False)
        return admin


class ContextLoader(BaseMiddleware):
    def __init__(self, presenter: Presenter, admins: AdminCache | None = None) -> None:
        self.presenter = presenter
        self.admins = admins or AdminCache()

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        user: User | None = data.get("event_from_user")
        chat: Chat | None = data.get("event_chat")
        if user is None or chat is None:
            return await handler(event, data)
        manages: bool | None = None
        if chat.type != "private":
            sender_chat = event.sender_chat if isinstance(event, Message) else None
            if sender_chat is not None and sender_chat.id == chat.id:
                manages = True  # an anonymous admin writing as the group
            else:
                manages = await self.admins.is_admin(data["bot"], chat.id, user.id)
        ctx = await open_context(
            self.presenter.services,
            PlatformUser(
                "telegram",
                str(user.id),
                username=user.username,
                display_name=user.full_name,
                language_hint=user.language_code,
            ),
            PlatformChat(str(chat.id), kind=chat.type, title=chat.title),
            manages_chat=manages,
        )
        self.presenter.remember_language(user.id, ctx.language)
        data["ctx"] = ctx
        return await handler(event, data)


class CatalogueI18n(I18n):
    """aiogram's I18n reading our catalogues (compiled in memory from the `.po` files
    by `handlers.i18n.translations`) instead of looking for `.mo` files."""

    def __init__(self, default_locale: str = "en") -> None:
        super().__init__(path=LOCALES_DIR, default_locale=default_locale)

    def find_locales(self) -> dict[str, Any]:
        return {code: translations(code) for code in SUPPORTED_LANGUAGES}

    @contextmanager
    def context(self) -> Iterator[I18n]:
        # aiogram keeps "the current I18n" per class, and its `gettext` asks I18n's:
        # register there, not under this subclass.
        token = I18n.set_current(self)
        try:
            yield self
        finally:
            I18n.reset_current(token)


class ContextI18n(I18nMiddleware):
    """Sets aiogram's i18n locale to the language of the request's Context."""

    async def get_locale(self, event: TelegramObject, data: dict[str, Any]) -> str:
        ctx = data.get("ctx")
        return ctx.language if ctx is not None else self.i18n.default_locale
