"""Simulated people and chats, and the updates they cause (messages, button presses,
payments), queued for getUpdates or the webhook."""

from __future__ import annotations

import asyncio
import itertools
import mimetypes
import re
from collections import deque
from collections.abc import Callable
from typing import Any

from tests.telegram_server.constants import ADMIN_STATUSES
from tests.telegram_server.entities import detect_entities
from tests.telegram_server.media import image_size
from tests.telegram_server.records import SentMessage, SimChat, SimUser, _Query


class People:
    """Simulated users, private chats, groups; what they send and press.

    A part of `TelegramServer` (server.py), whose `__init__` sets up the state used here."""

    bot_id: int
    bot_username: str
    privacy_mode: bool
    wall_clock: Callable[[], float]
    users: dict[int, SimUser]
    chats: dict[int, SimChat]
    received: list[dict[str, Any]]
    updates: dict[int, dict[str, Any]]
    _messages: dict[tuple[int, int], SentMessage | dict[str, Any]]
    _file_counter: itertools.count[int]
    _update_ids: itertools.count[int]
    _query_ids: itertools.count[int]
    _pending: deque[dict[str, Any]]
    _callback_queries: dict[str, _Query]
    _pre_checkouts: dict[str, _Query]
    _payments: set[tuple[int, str]]
    _webhook_wake: asyncio.Event

    # -- simulated people and chats -------------------------------------------------------------

    def user(
        self,
        id: int,
        first_name: str | None = None,
        *,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "en",
        is_premium: bool = False,
    ) -> SimUser:
        """A simulated Telegram user (created, or updated if the id exists)."""
        if id <= 0:
            raise ValueError("user ids are positive")
        user = SimUser(
            id,
            first_name or f"User {id}",
            last_name=last_name,
            username=username,
            language_code=language_code,
            is_premium=is_premium,
        )
        self.users[id] = user
        if id in self.chats:
            self.chats[id].user = user
        return user

    def private_chat(self, user: SimUser | int) -> SimChat:
        """The user's private chat with the bot (the user has pressed Start)."""
        user = self._sim_user(user)
        chat = self.chats.get(user.id)
        if chat is None:
            chat = self.chats[user.id] = SimChat(user.id, "private", user=user)
        return chat

    def group(
        self,
        id: int,
        title: str = "Test group",
        members: dict[int, str] | None = None,
        *,
        kind: str = "group",
        username: str | None = None,
        bot_status: str = "member",
        is_forum: bool = False,
    ) -> SimChat:
        """A group, supergroup or channel the bot is in; `members` maps user ids (created if
        unknown) to "creator" | "administrator" | "member" | "restricted" | "left" | "kicked"."""
        if id >= 0:
            raise ValueError("group and channel ids are negative (supergroups: -100…)")
        if kind not in ("group", "supergroup", "channel"):
            raise ValueError(f"unknown chat kind {kind!r}")
        for user_id in members or {}:
            if user_id not in self.users:
                self.user(user_id)
        chat = SimChat(
            id,
            kind,
            title=title,
            username=username,
            members=dict(members or {}),
            bot_status=bot_status,
            is_forum=is_forum,
        )
        self.chats[id] = chat
        return chat

    def add_member(self, chat_id: int, user: SimUser | int, status: str = "member") -> None:
        self.chats[chat_id].members[self._sim_user(user).id] = status

    def block_chat(self, chat_id: int) -> None:
        """The user blocks the bot (private) or the bot is removed (groups): sends get 403."""
        self._known_chat(chat_id).blocked = True

    def unblock_chat(self, chat_id: int) -> None:
        self._known_chat(chat_id).blocked = False

    def deactivate_user(self, user_id: int) -> None:
        """The account is deleted: sends to its private chat get 403 "user is deactivated"."""
        self.users[user_id].deactivated = True

    def migrate_group(self, chat_id: int, new_id: int) -> SimChat:
        """Upgrade a group to a supergroup: sends to the old id get 400 with
        `migrate_to_chat_id` (aiogram's `TelegramMigrateToChat`)."""
        old = self._known_chat(chat_id)
        new = self.group(
            new_id,
            old.title or "",
            old.members,
            kind="supergroup",
            username=old.username,
            bot_status=old.bot_status,
        )
        old.migrated_to = new_id
        return new

    def _sim_user(self, user: SimUser | int) -> SimUser:
        if isinstance(user, SimUser):
            self.users.setdefault(user.id, user)
            return user
        return self.users.get(user) or self.user(user)

    def _known_chat(self, chat_id: int) -> SimChat:
        chat = self.chats.get(chat_id)
        if chat is None:
            if chat_id in self.users:
                return self.private_chat(chat_id)
            raise KeyError(f"no chat {chat_id}; create it with private_chat() or group()")
        return chat

    # -- incoming updates ---------------------------------------------------------------------

    async def send_text(
        self,
        user: SimUser | int,
        text: str,
        chat: SimChat | int | None = None,
        *,
        reply_to: SentMessage | int | None = None,
    ) -> int | None:
        """The user sends `text` (to their private chat by default); returns the update_id,
        or None if a group message would not reach a bot in privacy mode."""
        sim = self._sim_user(user)
        target = self._incoming_chat(sim, chat)
        message = self._incoming_message(sim, target, reply_to)
        message["text"] = text
        entities = detect_entities(text)
        if entities:
            message["entities"] = entities
        if not self._reaches_bot(target, text, message):
            return None
        return self._queue_message(message)

    async def send_document(
        self,
        user: SimUser | int,
        filename: str,
        content: bytes,
        caption: str | None = None,
        *,
        chat: SimChat | int | None = None,
        mime_type: str | None = None,
    ) -> int | None:
        """The user sends a file; the bot can fetch it with getFile + the file route."""
        sim = self._sim_user(user)
        target = self._incoming_chat(sim, chat)
        mime = mime_type or mimetypes.guess_type(filename)[0] or "application/octet-stream"
        stored = self._store_file("document", content, file_name=filename, mime_type=mime)
        message = self._incoming_message(sim, target, None)
        message["document"] = self._document_api(stored)
        if caption:
            message["caption"] = caption
        if not self._reaches_bot(target, caption or "", message):
            return None
        return self._queue_message(message)

    async def send_photo(
        self,
        user: SimUser | int,
        content: bytes,
        caption: str | None = None,
        *,
        chat: SimChat | int | None = None,
    ) -> int | None:
        """The user sends a photo (PNG or JPEG bytes)."""
        sim = self._sim_user(user)
        target = self._incoming_chat(sim, chat)
        width, height = image_size(content)
        sizes = self._store_photo(content, width, height)
        message = self._incoming_message(sim, target, None)
        message["photo"] = sizes
        if caption:
            message["caption"] = caption
        if not self._reaches_bot(target, caption or "", message):
            return None
        return self._queue_message(message)

    async def press_button(
        self,
        user: SimUser | int,
        message: SentMessage | tuple[int, int],
        callback_data: str | None = None,
        *,
        text: str | None = None,
    ) -> int:
        """The user presses an inline button of the bot's `message` (by callback_data, or by
        its label with `text=`); returns the update_id. The button must exist."""
        sim = self._sim_user(user)
        if isinstance(message, tuple):
            found = self._messages.get(message)
            if not isinstance(found, SentMessage):
                raise LookupError(f"the bot sent no message {message}")
            message = found
        if message.deleted:
            raise LookupError(f"message {message.message_id} was deleted")
        if text is not None:
            callback_data = message.button(text).get("callback_data")
        if callback_data is None or callback_data not in message.callback_data:
            raise LookupError(
                f"no button with callback_data {callback_data!r} in message "
                f"{message.message_id}: {message.callback_data}"
            )
        chat = self.chats[message.chat_id]
        query_id = str(next(self._query_ids))
        update_id = self._queue_update(
            "callback_query",
            {
                "id": query_id,
                "from": sim.to_api(),
                "message": self._message_api(message),
                "chat_instance": str((chat.id * 2654435761) & 0x7FFFFFFFFFFFFFFF),
                "data": callback_data,
            },
        )
        self._callback_queries[query_id] = _Query(update_id)
        return update_id

    async def pre_checkout(
        self,
        user: SimUser | int,
        *,
        total_amount: int,
        payload: str,
        currency: str = "XTR",
    ) -> int:
        """The user confirms a payment: a pre_checkout_query the bot must answer."""
        sim = self._sim_user(user)
        query_id = str(next(self._query_ids))
        update_id = self._queue_update(
            "pre_checkout_query",
            {
                "id": query_id,
                "from": sim.to_api(),
                "currency": currency,
                "total_amount": total_amount,
                "invoice_payload": payload,
            },
        )
        self._pre_checkouts[query_id] = _Query(update_id)
        return update_id

    async def successful_payment(
        self,
        user: SimUser | int,
        *,
        total_amount: int,
        payload: str,
        currency: str = "XTR",
        charge_id: str | None = None,
        chat: SimChat | int | None = None,
    ) -> int:
        """The payment went through: a message with `successful_payment`."""
        sim = self._sim_user(user)
        target = self._incoming_chat(sim, chat)
        charge = charge_id or f"stxLocal{next(self._file_counter):010d}"
        self._payments.add((sim.id, charge))
        message = self._incoming_message(sim, target, None)
        message["successful_payment"] = {
            "currency": currency,
            "total_amount": total_amount,
            "invoice_payload": payload,
            "telegram_payment_charge_id": charge,
            "provider_payment_charge_id": "" if currency == "XTR" else f"prv_{charge}",
        }
        return self._queue_message(message)

    def _incoming_chat(self, user: SimUser, chat: SimChat | int | None) -> SimChat:
        if chat is None:
            return self.private_chat(user)
        target = chat if isinstance(chat, SimChat) else self._known_chat(chat)
        if not target.is_private and user.id not in target.members:
            target.members[user.id] = "member"
        return target

    def _incoming_message(
        self, user: SimUser, chat: SimChat, reply_to: SentMessage | int | None
    ) -> dict[str, Any]:
        message: dict[str, Any] = {
            "message_id": self._take_message_id(chat.id),
            "from": user.to_api(),
            "chat": chat.to_api(),
            "date": int(self.wall_clock()),
        }
        if reply_to is not None:
            key = (chat.id, reply_to if isinstance(reply_to, int) else reply_to.message_id)
            replied = self._messages.get(key)
            if replied is None:
                raise LookupError(f"no message {key} to reply to")
            message["reply_to_message"] = (
                self._message_api(replied) if isinstance(replied, SentMessage) else replied
            )
        return message

    def _reaches_bot(self, chat: SimChat, text: str, message: dict[str, Any]) -> bool:
        """Privacy mode: in groups the bot only gets commands meant for it and replies to it."""
        if chat.is_private or not self.privacy_mode or chat.bot_status in ADMIN_STATUSES:
            return True
        match = re.match(r"/[A-Za-z0-9_]+(?:@([A-Za-z0-9_]+))?", text)
        if match and (match[1] is None or match[1].lower() == self.bot_username.lower()):
            return True
        replied = message.get("reply_to_message", {})
        return replied.get("from", {}).get("id") == self.bot_id

    def _queue_message(self, message: dict[str, Any]) -> int:
        chat_id = message["chat"]["id"]
        self._messages[(chat_id, message["message_id"])] = message
        self.received.append(message)
        return self._queue_update("message", message)

    def _queue_update(self, kind: str, payload: dict[str, Any]) -> int:
        update_id = next(self._update_ids)
        update = {"update_id": update_id, kind: payload}
        self.updates[update_id] = update
        self._pending.append(update)
        self._wake_poller("update")
        self._webhook_wake.set()
        self._notify()
        return update_id

    @property
    def pending_updates(self) -> int:
        """Updates queued and not yet confirmed (getUpdates offset) or delivered (webhook)."""
        return len(self._pending)
