"""Chat information: getChat, getChatMember and getChatAdministrators."""

from __future__ import annotations

from typing import Any

from tests.telegram_server.constants import ADMIN_STATUSES
from tests.telegram_server.errors import ApiError, bad_request
from tests.telegram_server.params import _int
from tests.telegram_server.records import SimChat, SimUser, _Part


class Chats:
    """Chats and their members as the bot sees them.

    A part of `TelegramServer` (server.py), whose `__init__` sets up the state used here."""

    bot_id: int
    users: dict[int, SimUser]

    # -- methods: chats and files ----------------------------------------------------------------

    def _get_chat(self, params: dict[str, Any], files: dict[str, _Part]) -> Any:
        chat = self._chat(params)
        if not chat.is_private and (chat.blocked or chat.bot_status in ("left", "kicked")):
            raise ApiError(403, f"Forbidden: bot is not a member of the {chat.type} chat")
        info = chat.to_api()
        info.update(
            accent_color_id=0,
            max_reaction_count=11,
            accepted_gift_types={
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        )
        return info

    def _member_api(self, chat: SimChat, user_id: int) -> dict[str, Any]:
        if user_id == self.bot_id:
            user = self.bot_user
            status = "member" if chat.is_private else chat.bot_status
        else:
            sim = self.users.get(user_id)
            if sim is None:
                raise bad_request("user not found")
            user = sim.to_api()
            if chat.is_private:
                status = "member" if user_id == chat.id else "left"
            else:
                status = chat.members.get(user_id, "left")
        return _chat_member(user, status)

    def _get_chat_member(self, params: dict[str, Any], files: dict[str, _Part]) -> Any:
        chat = self._chat(params)
        user_id = _int(params, "user_id")
        if user_id is None:
            raise bad_request("user_id is empty")
        return self._member_api(chat, user_id)

    def _get_chat_administrators(self, params: dict[str, Any], files: dict[str, _Part]) -> Any:
        chat = self._chat(params)
        if chat.is_private:
            raise bad_request("there are no administrators in the private chat")
        admins = [
            self._member_api(chat, user_id)
            for user_id, status in chat.members.items()
            if status in ADMIN_STATUSES
        ]
        if chat.bot_status in ADMIN_STATUSES:
            admins.append(self._member_api(chat, self.bot_id))
        return admins


def _chat_member(user: dict[str, Any], status: str) -> dict[str, Any]:
    data: dict[str, Any] = {"status": status, "user": user}
    if status == "creator":
        data["is_anonymous"] = False
    elif status == "administrator":
        data.update(
            can_be_edited=False,
            is_anonymous=False,
            can_manage_chat=True,
            can_delete_messages=True,
            can_manage_video_chats=True,
            can_restrict_members=True,
            can_promote_members=False,
            can_change_info=True,
            can_invite_users=True,
            can_post_stories=False,
            can_edit_stories=False,
            can_delete_stories=False,
            can_send_welcome_messages=False,
            can_pin_messages=True,
        )
    elif status == "restricted":
        flags = [
            "can_send_messages",
            "can_send_audios",
            "can_send_documents",
            "can_send_photos",
            "can_send_videos",
            "can_send_video_notes",
            "can_send_voice_notes",
            "can_send_polls",
            "can_send_other_messages",
            "can_add_web_page_previews",
            "can_react_to_messages",
            "can_edit_tag",
            "can_change_info",
            "can_invite_users",
            "can_pin_messages",
            "can_manage_topics",
        ]
        data.update(dict.fromkeys(flags, False), is_member=True, until_date=0)
    elif status == "kicked":
        data["until_date"] = 0
    return data
