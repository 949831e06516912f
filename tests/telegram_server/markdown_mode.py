"""Telegram's MarkdownV2 and legacy Markdown parse modes (after tdlib's parsers)."""

from __future__ import annotations

import re
from typing import Any

from tests.telegram_server.entities import _byte_offset, utf16_len
from tests.telegram_server.errors import EntityParseError

_MDV2_RESERVED = "_*[]()~`>#+-=|{}.!"
_MDV2_NAMES = {
    "bold": "Bold",
    "italic": "Italic",
    "underline": "Underline",
    "strikethrough": "Strikethrough",
    "spoiler": "Spoiler",
    "code": "Code",
    "pre": "Pre",
    "text_link": "TextUrl",
    "custom_emoji": "CustomEmoji",
}


def parse_markdown_v2(text: str) -> tuple[str, list[dict[str, Any]]]:
    """Telegram's MarkdownV2 (after tdlib's parse_markdown_v2): reserved characters outside
    entities must be escaped."""
    out: list[str] = []
    offset = 0
    stack: list[dict[str, Any]] = []
    entities: list[dict[str, Any]] = []
    index, size = 0, len(text)

    def emit(piece: str) -> None:
        nonlocal offset
        out.append(piece)
        offset += utf16_len(piece)

    def at(position: int) -> str:
        return text[position] if position < size else ""

    while index < size:
        char = text[index]
        if char == "\\" and index + 1 < size and 0 < ord(text[index + 1]) <= 126:
            emit(text[index + 1])
            index += 2
            continue
        current = stack[-1]["type"] if stack else None
        reserved = "`" if current in ("code", "pre") else _MDV2_RESERVED
        if char not in reserved:
            emit(char)
            index += 1
            continue
        ends = {
            "bold": char == "*",
            "italic": char == "_" and at(index + 1) != "_",
            "code": char == "`",
            "pre": text.startswith("```", index),
            "text_link": char == "]",
            "custom_emoji": char == "]",
            "underline": text.startswith("__", index),
            "strikethrough": char == "~",
            "spoiler": text.startswith("||", index),
        }
        if current is not None and ends[current]:
            opened = stack.pop()
            entity: dict[str, Any] = {
                "offset": opened["offset"],
                "length": offset - opened["offset"],
            }
            if current in ("text_link", "custom_emoji"):
                index += 1
                url = ""
                if at(index) == "(":
                    url_begin = index
                    index += 1
                    chars = []
                    while index < size and text[index] != ")":
                        if text[index] == "\\" and index + 1 < size:
                            index += 1
                        chars.append(text[index])
                        index += 1
                    if index >= size:
                        raise EntityParseError(
                            f"Can't find end of a URL at byte offset {_byte_offset(text, url_begin)}"
                        )
                    index += 1
                    url = "".join(chars)
                if current == "custom_emoji":
                    emoji = re.fullmatch(r"tg://emoji\?id=(\d+)", url)
                    if not emoji:
                        raise EntityParseError("Custom emoji entity must contain a tg://emoji URL")
                    entity.update(type="custom_emoji", custom_emoji_id=emoji[1])
                else:
                    entity.update(type="text_link", url=url or "".join(out)[-entity["length"] :])
            else:
                index += {"underline": 2, "spoiler": 2, "pre": 3}.get(current, 1)
                entity["type"] = current
                if current == "pre" and opened.get("language"):
                    entity["language"] = opened["language"]
            if entity["length"] > 0:
                entities.append(entity)
            continue
        begin = index
        item: dict[str, Any] = {"offset": offset, "byte": _byte_offset(text, begin)}
        if char == "_":
            if at(index + 1) == "_":
                item["type"], index = "underline", index + 2
            else:
                item["type"], index = "italic", index + 1
        elif char == "*":
            item["type"], index = "bold", index + 1
        elif char == "~":
            item["type"], index = "strikethrough", index + 1
        elif char == "|" and at(index + 1) == "|":
            item["type"], index = "spoiler", index + 2
        elif char == "[":
            item["type"], index = "text_link", index + 1
        elif char == "!" and at(index + 1) == "[":
            item["type"], index = "custom_emoji", index + 2
        elif char == "`":
            if text.startswith("```", index):
                index += 3
                language_end = index
                while (
                    language_end < size
                    and not text[language_end].isspace()
                    and text[language_end] != "`"
                ):
                    language_end += 1
                if language_end > index and at(language_end) == "\n":
                    item["language"] = text[index:language_end]
                    index = language_end
                if at(index) == "\n":
                    index += 1
                item["type"] = "pre"
            else:
                item["type"], index = "code", index + 1
        elif char == ">" and (index == 0 or text[index - 1] == "\n"):
            index += 1  # a blockquote line marker
            continue
        else:
            raise EntityParseError(
                f"Character '{char}' is reserved and must be escaped with the preceding '\\'"
            )
        item["offset"] = offset
        stack.append(item)
    if stack:
        raise EntityParseError(
            f"Can't find end of {_MDV2_NAMES[stack[-1]['type']]} entity at byte offset "
            f"{stack[-1]['byte']}"
        )
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(out), entities


def parse_markdown(text: str) -> tuple[str, list[dict[str, Any]]]:
    """Telegram's legacy Markdown: *bold*, _italic_, `code`, ```pre```, [text](url)."""
    out: list[str] = []
    offset = 0
    entities: list[dict[str, Any]] = []
    index, size = 0, len(text)

    def emit(piece: str) -> None:
        nonlocal offset
        out.append(piece)
        offset += utf16_len(piece)

    while index < size:
        char = text[index]
        if char == "\\" and index + 1 < size and text[index + 1] in "_*`[":
            emit(text[index + 1])
            index += 2
            continue
        if char not in "_*`[":
            emit(char)
            index += 1
            continue
        begin = index
        end_char = "]" if char == "[" else char
        index += 1
        is_pre = False
        language = ""
        if char == "`" and text.startswith("``", index):
            is_pre = True
            index += 2
            language_end = index
            while (
                language_end < size
                and not text[language_end].isspace()
                and text[language_end] != "`"
            ):
                language_end += 1
            if language_end > index and language_end < size and text[language_end] == "\n":
                language = text[index:language_end]
                index = language_end + 1
        start = offset
        while index < size and (
            text[index] != end_char or (is_pre and not text.startswith("```", index))
        ):
            emit(text[index])
            index += 1
        if index >= size:
            raise EntityParseError(
                f"Can't find end of the entity starting at byte offset {_byte_offset(text, begin)}"
            )
        index += 3 if is_pre else 1
        length = offset - start
        entity: dict[str, Any] = {"offset": start, "length": length}
        if char == "[":
            url = ""
            if index < size and text[index] == "(":
                close = text.find(")", index + 1)
                if close >= 0:
                    url = text[index + 1 : close]
                    index = close + 1
            if not url:
                continue
            entity.update(type="text_link", url=url)
        elif is_pre:
            entity["type"] = "pre"
            if language:
                entity["language"] = language
        else:
            entity["type"] = {"_": "italic", "*": "bold", "`": "code"}[char]
        if length > 0:
            entities.append(entity)
    return "".join(out), entities
