"""Telegram's HTML parse mode (after tdlib's parse_html), strict about tags."""

from __future__ import annotations

import re
from typing import Any

from tests.telegram_server.entities import _byte_offset, utf16_len
from tests.telegram_server.errors import EntityParseError

_HTML_TAGS = frozenset(
    {
        "a",
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "span",
        "tg-spoiler",
        "tg-emoji",
        "code",
        "pre",
        "blockquote",
    }
)
_HTML_ENTITY_TYPES = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "span": "spoiler",
    "tg-spoiler": "spoiler",
    "code": "code",
    "pre": "pre",
}
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_ENTITY = re.compile(r"&(?:#([0-9]{1,7})|#[xX]([0-9a-fA-F]{1,6})|([a-zA-Z]{2,8}));")
_TAG_NAME = re.compile(r"[a-zA-Z0-9-]*")
_SPECIAL = re.compile(r"[<&]")


def _html_entity(text: str, index: int) -> tuple[str, int] | None:
    """Decode an HTML entity at `index`: (character, length), or None (a literal '&')."""
    match = _ENTITY.match(text, index)
    if match is None:
        return None
    if match[3] is not None:
        char = _NAMED_ENTITIES.get(match[3])
        return (char, match.end() - index) if char else None
    code = int(match[1]) if match[1] is not None else int(match[2], 16)
    if code == 0 or code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        return None
    return chr(code), match.end() - index


def _decode_html_value(value: str) -> str:
    out, index = [], 0
    while index < len(value):
        if value[index] == "&" and (decoded := _html_entity(value, index)):
            out.append(decoded[0])
            index += decoded[1]
        else:
            out.append(value[index])
            index += 1
    return "".join(out)


def parse_html(text: str) -> tuple[str, list[dict[str, Any]]]:
    """Telegram's HTML parse mode (after tdlib's parse_html), strict about tags."""
    out: list[str] = []
    offset = 0  # UTF-16 offset in the output
    stack: list[dict[str, Any]] = []
    entities: list[dict[str, Any]] = []
    index, size = 0, len(text)

    def emit(piece: str) -> None:
        nonlocal offset
        out.append(piece)
        offset += utf16_len(piece)

    while index < size:
        match = _SPECIAL.search(text, index)
        if match is None:
            emit(text[index:])
            break
        if match.start() > index:
            emit(text[index : match.start()])
        index = match.start()
        if text[index] == "&":
            decoded = _html_entity(text, index)
            if decoded is None:
                emit("&")
                index += 1
            else:
                emit(decoded[0])
                index += decoded[1]
            continue
        begin = index
        if index + 1 < size and text[index + 1] == "/":
            name_match = _TAG_NAME.match(text, index + 2)
            name = name_match.group().lower()
            index = name_match.end()
            while index < size and text[index].isspace():
                index += 1
            if not stack:
                raise EntityParseError(
                    f"Unexpected end tag at byte offset {_byte_offset(text, begin)}"
                )
            if index >= size or text[index] != ">":
                raise EntityParseError(
                    f'Can\'t find end tag corresponding to start tag "{stack[-1]["tag"]}"'
                )
            expected = stack[-1]["tag"]
            if name != expected:
                raise EntityParseError(
                    f"Unmatched end tag at byte offset {_byte_offset(text, begin)}, "
                    f'expected "</{expected}>", found "</{name}>"'
                )
            index += 1
            opened = stack.pop()
            _close_html_entity(opened, offset, stack, entities)
            continue
        name_match = _TAG_NAME.match(text, index + 1)
        name = name_match.group().lower()
        index = name_match.end()
        if name not in _HTML_TAGS:
            raise EntityParseError(
                f'Unsupported start tag "{name}" at byte offset {_byte_offset(text, begin)}'
            )
        attributes: dict[str, str] = {}
        while True:
            while index < size and text[index].isspace():
                index += 1
            if index >= size:
                raise EntityParseError(
                    f"Unclosed start tag at byte offset {_byte_offset(text, begin)}"
                )
            if text[index] == ">":
                index += 1
                break
            attr_match = _TAG_NAME.match(text, index)
            attr = attr_match.group().lower()
            if not attr:
                raise EntityParseError(
                    f'Empty attribute name in the tag "{name}" at byte offset '
                    f"{_byte_offset(text, begin)}"
                )
            index = attr_match.end()
            while index < size and text[index].isspace():
                index += 1
            value = ""
            if index < size and text[index] == "=":
                index += 1
                while index < size and text[index].isspace():
                    index += 1
                if index >= size:
                    raise EntityParseError(
                        f"Unclosed start tag at byte offset {_byte_offset(text, begin)}"
                    )
                if text[index] in "'\"":
                    end = text.find(text[index], index + 1)
                    if end < 0:
                        raise EntityParseError(
                            f'Unclosed start tag "{name}" at byte offset {_byte_offset(text, begin)}'
                        )
                    value = _decode_html_value(text[index + 1 : end])
                    index = end + 1
                else:
                    value_match = re.compile(r"[^\s>'\"]*").match(text, index)
                    value = _decode_html_value(value_match.group())
                    index = value_match.end()
            attributes[attr] = value
        if name == "span" and attributes.get("class") != "tg-spoiler":
            raise EntityParseError(
                f'Tag "span" must have class "tg-spoiler" at byte offset {_byte_offset(text, begin)}'
            )
        stack.append({"tag": name, "attrs": attributes, "offset": offset})
    if stack:
        raise EntityParseError(
            f'Can\'t find end tag corresponding to start tag "{stack[-1]["tag"]}"'
        )
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(out), entities


def _close_html_entity(
    opened: dict[str, Any],
    offset: int,
    stack: list[dict[str, Any]],
    entities: list[dict[str, Any]],
) -> None:
    tag, attrs = opened["tag"], opened["attrs"]
    length = offset - opened["offset"]
    language = attrs.get("class", "")
    if tag == "code" and stack and stack[-1]["tag"] == "pre" and language.startswith("language-"):
        stack[-1]["language"] = language.removeprefix("language-")
        return
    if length <= 0:
        return
    entity: dict[str, Any] = {"offset": opened["offset"], "length": length}
    if tag == "a":
        href = attrs.get("href", "")
        if not href:
            return
        user = re.fullmatch(r"tg://user\?id=(\d+)", href)
        if user:
            entity.update(
                type="text_mention", user={"id": int(user[1]), "is_bot": False, "first_name": ""}
            )
        else:
            entity.update(type="text_link", url=href)
    elif tag == "tg-emoji":
        entity.update(type="custom_emoji", custom_emoji_id=attrs.get("emoji-id", ""))
    elif tag == "blockquote":
        entity["type"] = "expandable_blockquote" if "expandable" in attrs else "blockquote"
    else:
        entity["type"] = _HTML_ENTITY_TYPES[tag]
        if tag == "pre" and opened.get("language"):
            entity["language"] = opened["language"]
    entities.append(entity)
