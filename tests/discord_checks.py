"""Discord's documented limits on what a bot sends, as the local emulator
(`tests/discord_server.py`) enforces them: messages (content, embeds, components,
attachments), application commands (bulk overwrite) and autocomplete answers.

Each check returns Discord-style form errors (`{"field": "what is wrong", …}`),
empty when the payload is valid; the server answers 400 `Invalid Form Body`
(code 50035) with them.
"""

from __future__ import annotations

import re
from typing import Any

LOCALES = frozenset(
    "id da de en-GB en-US es-ES es-419 fr hr it lt hu nl no pl pt-BR ro fi sv-SE vi tr cs "  # noqa: SIM905
    "el bg ru uk hi th zh-CN ja zh-TW ko".split()
)
COMMAND_NAME = re.compile(r"^[-_\w]{1,32}$")
OPTION_TYPES = {3: "string", 4: "integer", 5: "boolean", 6: "user", 10: "number"}


def _length(errors: dict[str, str], key: str, value: Any, low: int, high: int) -> None:
    if not isinstance(value, str) or not low <= len(value) <= high:
        errors[key] = f"must be {low}-{high} characters (got {value!r:.60})"


def embed_errors(embeds: list[dict[str, Any]], filenames: set[str]) -> dict[str, str]:
    errors: dict[str, str] = {}
    if len(embeds) > 10:
        errors["embeds"] = "at most 10 embeds"
    total = 0
    for i, embed in enumerate(embeds):
        key = f"embeds.{i}"
        for name, limit in (("title", 256), ("description", 4096)):
            if name in embed:
                _length(errors, f"{key}.{name}", embed[name], 1, limit)
                total += len(embed[name] or "")
        footer = (embed.get("footer") or {}).get("text")
        if footer is not None:
            _length(errors, f"{key}.footer.text", footer, 1, 2048)
            total += len(footer)
        fields = embed.get("fields", [])
        if len(fields) > 25:
            errors[f"{key}.fields"] = "at most 25 fields"
        for j, field in enumerate(fields):
            _length(errors, f"{key}.fields.{j}.name", field.get("name"), 1, 256)
            _length(errors, f"{key}.fields.{j}.value", field.get("value"), 1, 1024)
            total += len(field.get("name") or "") + len(field.get("value") or "")
        image = (embed.get("image") or {}).get("url", "")
        if image.startswith("attachment://") and image[13:] not in filenames:
            errors[f"{key}.image.url"] = f"no attachment named {image[13:]!r}"
        if not isinstance(embed.get("color", 0), int):
            errors[f"{key}.color"] = "must be an integer"
    if total > 6000:
        errors["embeds"] = f"embeds hold {total} characters, more than 6000"
    return errors


def component_errors(rows: list[dict[str, Any]]) -> dict[str, str]:
    errors: dict[str, str] = {}
    if len(rows) > 5:
        errors["components"] = "at most 5 action rows"
    seen: set[str] = set()
    for i, row in enumerate(rows):
        items = row.get("components", [])
        if row.get("type") != 1 or not 1 <= len(items) <= 5:
            errors[f"components.{i}"] = "an action row holds 1-5 components"
        for j, item in enumerate(items):
            key = f"components.{i}.components.{j}"
            if item.get("type") == 2 and item.get("style") != 5:
                custom_id = item.get("custom_id")
                _length(errors, f"{key}.custom_id", custom_id, 1, 100)
                if custom_id in seen:
                    errors[f"{key}.custom_id"] = "custom ids must be unique in a message"
                seen.add(custom_id)
            if "label" in item:
                _length(errors, f"{key}.label", item["label"], 1, 80)
    return errors


def message_errors(payload: dict[str, Any], filenames: list[str], *, edit: bool = False) -> dict:
    errors: dict[str, str] = {}
    if "content" in payload and payload["content"] is not None:
        _length(errors, "content", payload["content"], 0, 2000)
    errors.update(embed_errors(payload.get("embeds") or [], set(filenames)))
    errors.update(component_errors(payload.get("components") or []))
    if len(filenames) > 10:
        errors["files"] = "at most 10 attachments"
    empty = not (payload.get("content") or payload.get("embeds") or filenames)
    if empty and not edit and not payload.get("components"):
        errors["message"] = "Cannot send an empty message (50006)"
    return errors


def _localizations(errors: dict[str, str], key: str, item: dict[str, Any], high: int) -> None:
    for field in ("name_localizations", "description_localizations"):
        for locale, value in (item.get(field) or {}).items():
            if locale not in LOCALES:
                errors[f"{key}.{field}.{locale}"] = "not a Discord locale"
            limit = 32 if field == "name_localizations" else high
            _length(errors, f"{key}.{field}.{locale}", value, 1, limit)
            if field == "name_localizations" and not COMMAND_NAME.match(value or ""):
                errors[f"{key}.{field}.{locale}"] = f"invalid name {value!r}"


def command_errors(commands: list[dict[str, Any]]) -> dict[str, str]:
    errors: dict[str, str] = {}
    if len(commands) > 100:
        errors["commands"] = "at most 100 global chat commands"
    names = [c.get("name") for c in commands]
    if len(names) != len(set(names)):
        errors["commands"] = "command names must be unique"
    for i, command in enumerate(commands):
        key = str(i)
        name = command.get("name", "")
        if not COMMAND_NAME.match(name) or name != name.lower():
            errors[f"{key}.name"] = f"invalid command name {name!r}"
        _length(errors, f"{key}.description", command.get("description"), 1, 100)
        _localizations(errors, key, command, 100)
        options = command.get("options", [])
        if len(options) > 25:
            errors[f"{key}.options"] = "at most 25 options"
        required_done = False
        for j, option in enumerate(options):
            okey = f"{key}.options.{j}"
            if option.get("type") not in OPTION_TYPES:
                errors[f"{okey}.type"] = f"unsupported option type {option.get('type')}"
            if not COMMAND_NAME.match(option.get("name", "")):
                errors[f"{okey}.name"] = "invalid option name"
            _length(errors, f"{okey}.description", option.get("description"), 1, 100)
            _localizations(errors, okey, option, 100)
            if option.get("required") and required_done:
                errors[f"{okey}.required"] = "required options must come before optional ones"
            required_done = required_done or not option.get("required")
            choices = option.get("choices") or []
            if choices and option.get("autocomplete"):
                errors[f"{okey}.autocomplete"] = "autocomplete and choices are exclusive"
            if len(choices) > 25:
                errors[f"{okey}.choices"] = "at most 25 choices"
            for k, choice in enumerate(choices):
                _length(errors, f"{okey}.choices.{k}.name", choice.get("name"), 1, 100)
                _localizations(errors, f"{okey}.choices.{k}", choice, 100)
    return errors


def autocomplete_errors(data: dict[str, Any]) -> dict[str, str]:
    errors: dict[str, str] = {}
    choices = data.get("choices")
    if not isinstance(choices, list) or len(choices) > 25:
        return {"choices": "a list of at most 25 choices"}
    for k, choice in enumerate(choices):
        _length(errors, f"choices.{k}.name", choice.get("name"), 1, 100)
        if isinstance(choice.get("value"), str):
            _length(errors, f"choices.{k}.value", choice["value"], 1, 100)
    return errors
