"""The bot's messages: their ids, records and Bot API shape, and the send methods
(sendMessage, sendPhoto, sendDocument, sendChatAction, sendInvoice)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from tests.telegram_server.constants import CAPTION_LIMIT, CHAT_ACTIONS, TEXT_LIMIT
from tests.telegram_server.errors import bad_request
from tests.telegram_server.params import _int, _json_value, _str
from tests.telegram_server.records import Edit, SentMessage, SimChat, _Part


class Messages:
    """What the bot sends, and how messages look in answers and updates.

    A part of `TelegramServer` (server.py), whose `__init__` sets up the state used here."""

    wall_clock: Callable[[], float]
    chats: dict[int, SimChat]
    sent: list[SentMessage]
    edits: list[Edit]
    chat_actions: list[tuple[int, str]]
    listeners: list[Callable[[SentMessage], None]]
    _by_chat: dict[int, list[SentMessage]]
    _messages: dict[tuple[int, int], SentMessage | dict[str, Any]]
    _next_message_id: dict[int, int]

    # -- messages --------------------------------------------------------------------------------

    def _take_message_id(self, chat_id: int) -> int:
        message_id = self._next_message_id.get(chat_id, 1)
        self._next_message_id[chat_id] = message_id + 1
        return message_id

    def _new_message(self, chat: SimChat, method: str, **fields: Any) -> SentMessage:
        message = SentMessage(
            chat_id=chat.id,
            message_id=self._take_message_id(chat.id),
            method=method,
            date=int(self.wall_clock()),
            **fields,
        )
        self.sent.append(message)
        self._by_chat.setdefault(chat.id, []).append(message)
        self._messages[(chat.id, message.message_id)] = message
        for listener in self.listeners:
            listener(message)
        return message

    def _message_api(self, message: SentMessage, *, with_reply: bool = True) -> dict[str, Any]:
        chat = self.chats[message.chat_id]
        data: dict[str, Any] = {"message_id": message.message_id}
        if chat.type == "channel":
            data["sender_chat"] = chat.to_api()
        else:
            data["from"] = self.bot_user
        data["chat"] = chat.to_api()
        data["date"] = message.date
        if message.edit_date is not None:
            data["edit_date"] = message.edit_date
        if with_reply and message.reply_to_message_id is not None:
            replied = self._messages.get((message.chat_id, message.reply_to_message_id))
            if isinstance(replied, SentMessage):
                data["reply_to_message"] = self._message_api(replied, with_reply=False)
            elif replied is not None:
                data["reply_to_message"] = {
                    k: v for k, v in replied.items() if k != "reply_to_message"
                }
        if message.text is not None:
            data["text"] = message.plain
            if message.entities:
                data["entities"] = message.entities
        if message.photo is not None:
            data["photo"] = message.photo
        if message.document is not None:
            data["document"] = message.document
        if message.text is None and message.plain:
            data["caption"] = message.plain
            if message.entities:
                data["caption_entities"] = message.entities
        if message.invoice is not None:
            data["invoice"] = message.invoice
        if message.reply_markup and "inline_keyboard" in message.reply_markup:
            data["reply_markup"] = message.reply_markup
        if message.params.get("protect_content") in (True, "true", "True", "1"):
            data["has_protected_content"] = True
        return data

    def _message_target(self, params: dict[str, Any]) -> SentMessage:
        if params.get("inline_message_id"):
            raise bad_request("MESSAGE_ID_INVALID")
        chat = self._writable_chat(params)
        message_id = _int(params, "message_id")
        if message_id is None:
            raise bad_request("message identifier is not specified")
        found = self._messages.get((chat.id, message_id))
        if found is None or (isinstance(found, SentMessage) and found.deleted):
            raise bad_request("message to edit not found")
        if not isinstance(found, SentMessage):
            raise bad_request("message can't be edited")
        return found

    def _apply_edit(self, message: SentMessage, method: str, **changes: Any) -> dict[str, Any]:
        before = message.snapshot()
        message.versions.append(before)
        for key, value in changes.items():
            setattr(message, key, value)
        message.edit_date = int(self.wall_clock())
        self.edits.append(
            Edit(method, message.chat_id, message.message_id, before, message.snapshot(), message)
        )
        for listener in self.listeners:
            listener(message)
        return self._message_api(message)

    # -- methods: sending ------------------------------------------------------------------------

    def _send_message(self, params: dict[str, Any], files: dict[str, _Part]) -> Any:
        chat = self._writable_chat(params)
        text = _str(params, "text")
        if text is None:
            raise bad_request("message text is empty")
        plain, entities = self._formatted(
            text,
            params,
            mode_key="parse_mode",
            entities_key="entities",
            limit=TEXT_LIMIT,
            caption=False,
        )
        markup = self._reply_markup(params)
        reply_to = self._reply_to(chat, params)
        self._throttle(chat)
        message = self._new_message(
            chat,
            "sendMessage",
            text=text,
            parse_mode=_str(params, "parse_mode"),
            plain=plain,
            entities=entities,
            reply_markup=markup,
            reply_to_message_id=reply_to,
            params=params,
        )
        return self._message_api(message)

    def _caption(self, params: dict[str, Any]) -> tuple[str | None, str, list[dict[str, Any]]]:
        caption = _str(params, "caption")
        if not caption:
            return None, "", []
        plain, entities = self._formatted(
            caption,
            params,
            mode_key="parse_mode",
            entities_key="caption_entities",
            limit=CAPTION_LIMIT,
            caption=True,
        )
        return caption, plain, entities

    def _send_photo(self, params: dict[str, Any], files: dict[str, _Part]) -> Any:
        chat = self._writable_chat(params)
        media = self._input_file(params, files, "photo")
        if media is None:
            raise bad_request("there is no photo in the request")
        dims, sizes = self._photo_input(media)
        caption, plain, entities = self._caption(params)
        markup = self._reply_markup(params)
        reply_to = self._reply_to(chat, params)
        self._throttle(chat)
        sizes, uploaded = self._commit_photo(media, dims, sizes, "sendPhoto", chat)
        message = self._new_message(
            chat,
            "sendPhoto",
            caption=caption,
            parse_mode=_str(params, "parse_mode"),
            photo_file_id=sizes[-1]["file_id"],
            photo=sizes,
            uploaded=uploaded,
            plain=plain,
            entities=entities,
            reply_markup=markup,
            reply_to_message_id=reply_to,
            params=params,
        )
        return self._message_api(message)

    def _send_document(self, params: dict[str, Any], files: dict[str, _Part]) -> Any:
        chat = self._writable_chat(params)
        media = self._input_file(params, files, "document")
        if media is None:
            raise bad_request("there is no document in the request")
        existing = self._document_input(media)
        caption, plain, entities = self._caption(params)
        markup = self._reply_markup(params)
        reply_to = self._reply_to(chat, params)
        self._throttle(chat)
        stored, uploaded = self._commit_document(media, existing, "sendDocument", chat)
        message = self._new_message(
            chat,
            "sendDocument",
            caption=caption,
            parse_mode=_str(params, "parse_mode"),
            document_name=stored.file_name,
            document=self._document_api(stored),
            uploaded=uploaded,
            plain=plain,
            entities=entities,
            reply_markup=markup,
            reply_to_message_id=reply_to,
            params=params,
        )
        return self._message_api(message)

    def _send_chat_action(self, params: dict[str, Any], files: dict[str, _Part]) -> bool:
        chat = self._writable_chat(params)
        action = _str(params, "action")
        if not action:
            raise bad_request("action is empty")
        if action not in CHAT_ACTIONS:
            raise bad_request("wrong parameter action in request")
        self.chat_actions.append((chat.id, action))
        return True

    def _send_invoice(self, params: dict[str, Any], files: dict[str, _Part]) -> Any:
        chat = self._writable_chat(params)
        title = _str(params, "title") or ""
        description = _str(params, "description") or ""
        payload = _str(params, "payload") or ""
        currency = _str(params, "currency") or ""
        if not 1 <= len(title) <= 32:
            raise bad_request("TITLE_INVALID" if title else "invoice title is empty")
        if not 1 <= len(description) <= 255:
            raise bad_request("DESCRIPTION_INVALID")
        if not 1 <= len(payload.encode()) <= 128:
            raise bad_request("INVOICE_PAYLOAD_INVALID")
        if not re.fullmatch(r"[A-Z]{3}", currency):
            raise bad_request("CURRENCY_INVALID")
        prices = _json_value(params, "prices", "can't parse prices JSON object")
        if not isinstance(prices, list) or not prices:
            raise bad_request("can't parse prices JSON object")
        try:
            amounts = [int(p["amount"]) for p in prices if str(p["label"]).strip()]
        except (KeyError, TypeError, ValueError):
            raise bad_request("can't parse prices JSON object") from None
        if len(amounts) != len(prices):
            raise bad_request("can't parse prices JSON object")
        provider_token = _str(params, "provider_token") or ""
        if currency == "XTR" and (len(prices) != 1 or provider_token):
            raise bad_request("STARS_INVOICE_INVALID")
        if currency != "XTR" and not provider_token:
            raise bad_request("PAYMENT_PROVIDER_INVALID")
        if sum(amounts) <= 0:
            raise bad_request("CURRENCY_TOTAL_AMOUNT_INVALID")
        markup = self._reply_markup(params, inline_only=True)
        self._throttle(chat)
        invoice = {
            "title": title,
            "description": description,
            "start_parameter": _str(params, "start_parameter") or "",
            "currency": currency,
            "total_amount": sum(amounts),
        }
        message = self._new_message(
            chat, "sendInvoice", invoice=invoice, reply_markup=markup, params=params
        )
        return self._message_api(message)
