"""The bot's commands (per scope and language), menu button, name and descriptions."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from tests.telegram_server.constants import COMMAND_SCOPES
from tests.telegram_server.errors import bad_request
from tests.telegram_server.params import _json_value, _str
from tests.telegram_server.records import _Part


class Commands:
    """setMyCommands & co., setChatMenuButton & co., setMyName & co.

    A part of `TelegramServer` (server.py), whose `__init__` sets up the state used here."""

    bot_name: str
    commands: dict[tuple[str, str], list[dict[str, str]]]
    bot_texts: dict[tuple[str, str], str]
    menu_buttons: dict[int | None, dict[str, Any]]

    # -- methods: commands, menu, bot texts ----------------------------------------------------

    def _command_key(self, params: dict[str, Any]) -> tuple[str, str]:
        scope: Any = {"type": "default"}
        if params.get("scope"):
            scope = _json_value(params, "scope", "can't parse BotCommandScope JSON object")
        if not isinstance(scope, dict) or scope.get("type") not in COMMAND_SCOPES:
            raise bad_request("can't parse BotCommandScope JSON object")
        kind = str(scope["type"])
        if kind in ("chat", "chat_administrators", "chat_member"):
            chat = self._chat({"chat_id": scope.get("chat_id")})
            kind = f"{kind}:{chat.id}"
            if scope["type"] == "chat_member":
                kind += f":{int(scope.get('user_id', 0))}"
        language = _str(params, "language_code") or ""
        if language and not re.fullmatch(r"[a-z]{2}", language):
            raise bad_request("LANG_CODE_INVALID")
        return kind, language

    def _set_my_commands(self, params: dict[str, Any], files: dict[str, _Part]) -> bool:
        commands = _json_value(params, "commands", "can't parse commands JSON object")
        if not isinstance(commands, list):
            raise bad_request("can't parse commands JSON object")
        if len(commands) > 100:
            raise bad_request("BOT_COMMANDS_TOO_MUCH")
        cleaned = []
        for command in commands:
            if not isinstance(command, dict):
                raise bad_request("can't parse BotCommand JSON object")
            name = str(command.get("command", "")).removeprefix("/")
            description = str(command.get("description", ""))
            if not re.fullmatch(r"[a-z0-9_]{1,32}", name):
                raise bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(description) <= 256:
                raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
            cleaned.append({"command": name, "description": description})
        key = self._command_key(params)
        if cleaned:
            self.commands[key] = cleaned
        else:
            self.commands.pop(key, None)
        return True

    def _get_my_commands(self, params: dict[str, Any], files: dict[str, _Part]) -> Any:
        return self.commands.get(self._command_key(params), [])

    def _delete_my_commands(self, params: dict[str, Any], files: dict[str, _Part]) -> bool:
        self.commands.pop(self._command_key(params), None)
        return True

    def _set_bot_text(self, kind: str, limit: int) -> Callable[..., bool]:
        def handler(params: dict[str, Any], files: dict[str, _Part]) -> bool:
            value = _str(params, kind) or ""
            if len(value) > limit:
                raise bad_request(f"{kind.upper()}_INVALID")
            key = (kind, _str(params, "language_code") or "")
            if value:
                self.bot_texts[key] = value
            else:
                self.bot_texts.pop(key, None)
            return True

        return handler

    def _get_bot_text(self, kind: str) -> Callable[..., dict[str, str]]:
        def handler(params: dict[str, Any], files: dict[str, _Part]) -> dict[str, str]:
            language = _str(params, "language_code") or ""
            value = self.bot_texts.get((kind, language)) or self.bot_texts.get((kind, ""), "")
            if kind == "name" and not value:
                value = self.bot_name
            return {kind: value}

        return handler

    def _set_chat_menu_button(self, params: dict[str, Any], files: dict[str, _Part]) -> bool:
        chat_id = self._chat(params).id if params.get("chat_id") not in (None, "") else None
        button: Any = {"type": "default"}
        if params.get("menu_button"):
            button = _json_value(params, "menu_button", "can't parse menu button JSON object")
        if not isinstance(button, dict) or button.get("type") not in (
            "default",
            "commands",
            "web_app",
        ):
            raise bad_request("can't parse menu button JSON object")
        self.menu_buttons[chat_id] = button
        return True

    def _get_chat_menu_button(self, params: dict[str, Any], files: dict[str, _Part]) -> Any:
        chat_id = self._chat(params).id if params.get("chat_id") not in (None, "") else None
        return self.menu_buttons.get(chat_id) or self.menu_buttons.get(None) or {"type": "default"}
