"""Turning a platform's user and chat into a `Context` (the user-loading step
every adapter runs first, like an aiogram middleware)."""

from __future__ import annotations

from dataclasses import dataclass

from handlers.context import ChatInfo, Context, Services, UserInfo
from handlers.i18n import Translator, resolve_language
from storage.accounts import touch_chat, touch_user


@dataclass(frozen=True, slots=True)
class PlatformUser:
    platform: str
    external_id: str
    username: str | None = None
    display_name: str | None = None
    language_hint: str | None = None  # e.g. Telegram's language_code


@dataclass(frozen=True, slots=True)
class PlatformChat:
    external_id: str
    kind: str = "private"
    title: str | None = None


def is_admin(config_admin_ids: tuple[str, ...], platform: str, external_id: str) -> bool:
    """ADMIN_IDS holds `platform:id` entries, or bare ids that match any platform."""
    return f"{platform}:{external_id}" in config_admin_ids or external_id in config_admin_ids


async def open_context(
    services: Services,
    user: PlatformUser,
    chat: PlatformChat,
    *,
    manages_chat: bool | None = None,
) -> Context:
    """Load (or create) the user and chat and build the request's Context.

    `manages_chat`: whether the user administers the chat (the adapter asks the
    platform); by default true in private chats and false in groups.
    """
    async with services.db.session() as session:
        user_row = await touch_user(
            session,
            user.platform,
            user.external_id,
            username=user.username,
            display_name=user.display_name,
        )
        chat_row = await touch_chat(
            session, user.platform, chat.external_id, kind=chat.kind, title=chat.title
        )
        chat_info = ChatInfo(chat_row.id, user.platform, chat.external_id, chat.kind)
        language = resolve_language(
            user_row.language, user.language_hint, services.config.default_language
        )
        if not chat_info.is_group and chat_row.language != language:
            # Deliveries to a personal chat (alarms, signals) speak its user's language.
            chat_row.language = language
    info = UserInfo(
        id=user_row.id,
        platform=user.platform,
        external_id=user.external_id,
        display_name=user_row.display_name,
        language=user_row.language,
        timezone=user_row.timezone,
        plan=user_row.plan,
        is_admin=is_admin(services.config.admin_ids, user.platform, user.external_id),
    )
    if manages_chat is None:
        manages_chat = not chat_info.is_group
    return Context(info, chat_info, services, Translator(language, user_row.timezone), manages_chat)
