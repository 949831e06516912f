"""Request parameters: reading them (query, urlencoded, multipart, JSON, webhook answers),
typed access and validation, and the `Parameters` part of `TelegramServer`."""

from __future__ import annotations

import contextlib
import itertools
import json
import re
from typing import Any

import aiohttp
from aiohttp import web

from tests.telegram_server.constants import BUTTON_ACTIONS, CALLBACK_DATA_LIMIT
from tests.telegram_server.entities import utf16_len
from tests.telegram_server.errors import ApiError, EntityParseError, bad_request
from tests.telegram_server.formatting import _trim, parse_entities
from tests.telegram_server.records import SentMessage, SimChat, SimUser, _Part

# -- request parsing ----------------------------------------------------------------------------


def _json(payload: dict[str, Any], status: int = 200) -> web.Response:
    return web.Response(
        text=json.dumps(payload, ensure_ascii=False),
        status=status,
        content_type="application/json",
    )


async def _read_params(request: web.Request) -> tuple[dict[str, Any], dict[str, _Part]]:
    """Parameters from the query string and a urlencoded, multipart or JSON body."""
    params: dict[str, Any] = dict(request.query)
    files: dict[str, _Part] = {}
    if not request.body_exists:
        return params, files
    if request.content_type == "application/json":
        try:
            body = await request.json()
        except ValueError:
            raise bad_request("can't parse JSON encoded request body") from None
        if not isinstance(body, dict):
            raise bad_request("can't parse JSON encoded request body")
        params.update(body)
        return params, files
    try:
        form = await request.post()
    except web.HTTPRequestEntityTooLarge:
        raise ApiError(413, "Request Entity Too Large") from None
    for key, value in form.items():
        if isinstance(value, web.FileField):
            files[key] = _Part(value.filename, value.file.read(), value.content_type)
        else:
            params[key] = value
    return params, files


async def _read_webhook_reply(
    response: aiohttp.ClientResponse,
) -> tuple[dict[str, Any], dict[str, _Part]] | None:
    """A method call in a webhook's answer: JSON, or multipart as aiogram sends it."""
    if response.content_type == "application/json":
        with contextlib.suppress(ValueError):
            body = await response.json()
            if isinstance(body, dict) and body.get("method"):
                return body, {}
        return None
    if response.content_type != "multipart/form-data":
        return None
    params: dict[str, Any] = {}
    files: dict[str, _Part] = {}
    reader = aiohttp.MultipartReader(response.headers, response.content)
    while True:
        part = await reader.next()
        if part is None:
            break
        if not isinstance(part, aiohttp.BodyPartReader) or part.name is None:
            continue
        if part.filename:
            files[part.name] = _Part(part.filename, bytes(await part.read()))
        else:
            params[part.name] = await part.text()
    return (params, files) if params.get("method") else None


def _str(params: dict[str, Any], key: str) -> str | None:
    value = params.get(key)
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _int(params: dict[str, Any], key: str) -> int | None:
    value = params.get(key)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise bad_request(f"invalid {key} specified") from None


def _bool(params: dict[str, Any], key: str) -> bool:
    value = params.get(key)
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1")
    return bool(value)


def _json_value(params: dict[str, Any], key: str, error: str) -> Any:
    value = params.get(key)
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            raise bad_request(error) from None
    return value


def _chat_key(chat_id: Any) -> Any:
    try:
        return int(chat_id)
    except (TypeError, ValueError):
        return chat_id


def _check_inline_keyboard(rows: Any) -> None:
    if not isinstance(rows, list):
        raise bad_request('field "inline_keyboard" must be an Array')
    total = 0
    for row in rows:
        if not isinstance(row, list):
            raise bad_request('field "inline_keyboard" must be an Array of Arrays')
        for button in row:
            total += 1
            if not isinstance(button, dict):
                raise bad_request("can't parse inline keyboard button: Object expected")
            label = button.get("text")
            if not isinstance(label, str) or not label.strip():
                raise bad_request("BUTTON_TEXT_INVALID")
            actions = [key for key in BUTTON_ACTIONS if key in button]
            if not actions:
                raise bad_request(
                    "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"
                )
            if len(actions) > 1:
                raise bad_request(
                    "can't parse inline keyboard button: exactly one of the optional fields "
                    f"must be used, found {', '.join(actions)}"
                )
            if "callback_data" in button:
                data = button["callback_data"]
                if not isinstance(data, str) or not 1 <= len(data.encode()) <= CALLBACK_DATA_LIMIT:
                    raise bad_request("BUTTON_DATA_INVALID")
            if "url" in button:
                url = str(button["url"])
                if not re.match(r"(?i)(https?|tg|ton)://\S+$", url):
                    raise bad_request(
                        f"inline keyboard button URL '{url}' is invalid: Wrong HTTP URL"
                    )
    if total > 100:
        raise bad_request("reply markup is too long")


# -- the server's part ---------------------------------------------------------------------------


class Parameters:
    """Resolving the target chat and reading a send's text, reply markup and reply target.

    A part of `TelegramServer` (server.py), whose `__init__` sets up the state used here."""

    users: dict[int, SimUser]
    chats: dict[int, SimChat]
    auto_chats: bool
    _messages: dict[tuple[int, int], SentMessage | dict[str, Any]]

    # -- parameters ------------------------------------------------------------------------------

    def _chat(self, params: dict[str, Any]) -> SimChat:
        raw = params.get("chat_id")
        if raw is None or raw == "":
            raise bad_request("chat_id is empty")
        chat: SimChat | None = None
        if isinstance(raw, str) and raw.startswith("@"):
            wanted = raw[1:].lower()
            chat = next(
                (c for c in self.chats.values() if (c.username or "").lower() == wanted), None
            )
            if chat is None:
                raise bad_request("chat not found")
            return chat
        try:
            chat_id = int(raw)
        except (TypeError, ValueError):
            raise bad_request("chat not found") from None
        chat = self.chats.get(chat_id)
        if chat is None:
            if chat_id > 0 and chat_id in self.users:
                raise ApiError(403, "Forbidden: bot can't initiate conversation with a user")
            if not self.auto_chats or chat_id == 0:
                raise bad_request("chat not found")
            chat = self.private_chat(chat_id) if chat_id > 0 else self.group(chat_id)
        if chat.migrated_to is not None:
            raise ApiError(
                400,
                "Bad Request: group chat was upgraded to a supergroup chat",
                migrate_to_chat_id=chat.migrated_to,
            )
        return chat

    def _writable_chat(self, params: dict[str, Any]) -> SimChat:
        """The target chat of a send or edit, which the bot must be allowed to write to."""
        chat = self._chat(params)
        if chat.is_private:
            if chat.user is not None and chat.user.deactivated:
                raise ApiError(403, "Forbidden: user is deactivated")
            if chat.blocked:
                raise ApiError(403, "Forbidden: bot was blocked by the user")
        elif chat.blocked or chat.bot_status in ("left", "kicked"):
            if chat.type == "channel":
                raise ApiError(403, "Forbidden: bot is not a member of the channel chat")
            raise ApiError(403, f"Forbidden: bot was kicked from the {chat.type} chat")
        return chat

    def _formatted(
        self,
        text: str,
        params: dict[str, Any],
        *,
        mode_key: str,
        entities_key: str,
        limit: int,
        caption: bool,
    ) -> tuple[str, list[dict[str, Any]]]:
        if params.get(entities_key):  # explicit entities: parse_mode is ignored
            given = _json_value(params, entities_key, "can't parse entities JSON object")
            if not isinstance(given, list) or not all(isinstance(e, dict) for e in given):
                raise bad_request("can't parse entities JSON object")
            plain, entities = text.replace("\r", ""), [dict(e) for e in given]
        else:
            try:
                plain, entities = parse_entities(text, _str(params, mode_key))
            except EntityParseError as error:
                raise bad_request(f"can't parse entities: {error}") from None
        plain, entities = _trim(plain, entities)
        length = utf16_len(plain)
        if caption:
            if length > limit:
                raise bad_request("message caption is too long")
        elif length == 0:
            raise bad_request("message text is empty")
        elif length > limit:
            raise bad_request("message is too long")
        return plain, entities

    def _reply_markup(self, params: dict[str, Any], *, inline_only: bool = False) -> Any:
        raw = params.get("reply_markup")
        if raw is None or raw == "":
            return None
        markup = _json_value(
            params, "reply_markup", "can't parse reply keyboard markup JSON object"
        )
        if not isinstance(markup, dict):
            raise bad_request("can't parse reply keyboard markup JSON object")
        if "inline_keyboard" in markup:
            _check_inline_keyboard(markup["inline_keyboard"])
            return markup if any(markup["inline_keyboard"]) else None
        if inline_only:
            raise bad_request("inline keyboard expected")
        if "keyboard" in markup:
            rows = markup["keyboard"]
            if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
                raise bad_request('field "keyboard" must be an Array of Arrays')
            for button in itertools.chain.from_iterable(rows):
                label = button if isinstance(button, str) else (button or {}).get("text")
                if not isinstance(label, str) or not label:
                    raise bad_request("keyboard button text must be non-empty")
            return markup
        if markup.get("remove_keyboard") or markup.get("force_reply"):
            return markup
        raise bad_request("can't parse reply keyboard markup JSON object")

    def _reply_to(self, chat: SimChat, params: dict[str, Any]) -> int | None:
        message_id = _int(params, "reply_to_message_id")
        allow_missing = _bool(params, "allow_sending_without_reply")
        if params.get("reply_parameters"):
            reply = _json_value(params, "reply_parameters", "can't parse reply parameters")
            if not isinstance(reply, dict) or "message_id" not in reply:
                raise bad_request("can't parse reply parameters")
            message_id = int(reply["message_id"])
            allow_missing = allow_missing or bool(reply.get("allow_sending_without_reply"))
            if reply.get("chat_id") not in (None, chat.id):
                raise bad_request("message to be replied not found")
        if message_id is None:
            return None
        found = self._messages.get((chat.id, message_id))
        if found is None or (isinstance(found, SentMessage) and found.deleted):
            if allow_missing:
                return None
            raise bad_request("message to be replied not found")
        return message_id
