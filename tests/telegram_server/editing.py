"""Changing the bot's messages: editMessageText, editMessageCaption, editMessageMedia,
editMessageReplyMarkup and deleteMessage."""

from __future__ import annotations

from typing import Any

from tests.telegram_server.constants import ADMIN_STATUSES, NOT_MODIFIED, TEXT_LIMIT
from tests.telegram_server.errors import bad_request
from tests.telegram_server.params import _int, _json_value, _str
from tests.telegram_server.records import SentMessage, SimChat, _Part


class Editing:
    """Edits and deletions of messages (validated, throttled, recorded).

    A part of `TelegramServer` (server.py), whose `__init__` sets up the state used here."""

    chats: dict[int, SimChat]
    deleted: list[tuple[int, int]]
    _messages: dict[tuple[int, int], SentMessage | dict[str, Any]]

    # -- methods: editing ------------------------------------------------------------------------

    def _edit_message_text(self, params: dict[str, Any], files: dict[str, _Part]) -> Any:
        message = self._message_target(params)
        if message.text is None:
            raise bad_request("there is no text in the message to edit")
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
        markup = self._reply_markup(params, inline_only=True)
        if (plain, entities, markup) == (message.plain, message.entities, message.reply_markup):
            raise bad_request(NOT_MODIFIED)
        self._throttle(self.chats[message.chat_id])
        return self._apply_edit(
            message,
            "editMessageText",
            text=text,
            parse_mode=_str(params, "parse_mode"),
            plain=plain,
            entities=entities,
            reply_markup=markup,
        )

    def _edit_message_caption(self, params: dict[str, Any], files: dict[str, _Part]) -> Any:
        message = self._message_target(params)
        if message.text is not None or message.invoice is not None:
            raise bad_request("there is no caption in the message to edit")
        caption, plain, entities = self._caption(params)
        markup = self._reply_markup(params, inline_only=True)
        if (plain, entities, markup) == (
            message.plain or "",
            message.entities,
            message.reply_markup,
        ):
            raise bad_request(NOT_MODIFIED)
        self._throttle(self.chats[message.chat_id])
        return self._apply_edit(
            message,
            "editMessageCaption",
            caption=caption,
            parse_mode=_str(params, "parse_mode"),
            plain=plain,
            entities=entities,
            reply_markup=markup,
        )

    def _edit_message_media(self, params: dict[str, Any], files: dict[str, _Part]) -> Any:
        message = self._message_target(params)
        if message.photo is None and message.document is None:
            raise bad_request("there is no media in the message to edit")
        spec = _json_value(params, "media", "can't parse InputMedia JSON object")
        if not isinstance(spec, dict) or not spec.get("media"):
            raise bad_request("can't parse InputMedia JSON object")
        kind = spec.get("type")
        if kind not in ("photo", "document"):
            raise bad_request(f"unsupported media type {kind!r} in this test server")
        media = self._input_file({"media": spec["media"]}, files, "media")
        media_params = {k: v for k, v in spec.items() if k not in ("type", "media")}
        caption, plain, entities = self._caption(media_params)
        markup = self._reply_markup(params, inline_only=True)
        chat = self.chats[message.chat_id]
        if kind == "photo":
            dims, sizes = self._photo_input(media)
            same = not isinstance(media, _Part) and sizes[-1]["file_id"] == message.photo_file_id
        else:
            existing = self._document_input(media)
            same = existing is not None and existing.file_id == message.document_file_id
        if same and (plain, entities, markup) == (
            message.plain or "",
            message.entities,
            message.reply_markup,
        ):
            raise bad_request(NOT_MODIFIED)
        self._throttle(chat)
        changes: dict[str, Any] = {
            "caption": caption,
            "parse_mode": _str(media_params, "parse_mode"),
            "plain": plain,
            "entities": entities,
            "reply_markup": markup,
        }
        if kind == "photo":
            sizes, uploaded = self._commit_photo(media, dims, sizes, "editMessageMedia", chat)
            changes.update(
                photo=sizes,
                photo_file_id=sizes[-1]["file_id"],
                document=None,
                document_name=None,
                uploaded=uploaded,
            )
        else:
            stored, uploaded = self._commit_document(media, existing, "editMessageMedia", chat)
            changes.update(
                document=self._document_api(stored),
                document_name=stored.file_name,
                photo=None,
                photo_file_id=None,
                uploaded=uploaded,
            )
        return self._apply_edit(message, "editMessageMedia", **changes)

    def _edit_message_reply_markup(self, params: dict[str, Any], files: dict[str, _Part]) -> Any:
        message = self._message_target(params)
        markup = self._reply_markup(params, inline_only=True)
        if markup == message.reply_markup:
            raise bad_request(NOT_MODIFIED)
        self._throttle(self.chats[message.chat_id])
        return self._apply_edit(message, "editMessageReplyMarkup", reply_markup=markup)

    def _delete_message(self, params: dict[str, Any], files: dict[str, _Part]) -> bool:
        chat = self._chat(params)
        message_id = _int(params, "message_id")
        if message_id is None:
            raise bad_request("message identifier is not specified")
        found = self._messages.get((chat.id, message_id))
        if found is None or (isinstance(found, SentMessage) and found.deleted):
            raise bad_request("message to delete not found")
        if isinstance(found, SentMessage):
            found.deleted = True
        elif not chat.is_private and chat.bot_status not in ADMIN_STATUSES:
            raise bad_request("message can't be deleted")
        else:
            del self._messages[(chat.id, message_id)]
        self.deleted.append((chat.id, message_id))
        return True
