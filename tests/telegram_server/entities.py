"""UTF-16 lengths and offsets as Telegram counts, and the entities of users' texts."""

from __future__ import annotations

import re
from typing import Any


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, as Telegram counts."""
    return len(text.encode("utf-16-le")) // 2


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode("utf-8"))


_INCOMING_ENTITIES = re.compile(
    r"(?P<bot_command>(?<![\w/])/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?)"
    r"|(?P<url>\bhttps?://[^\s<>]+)"
    r"|(?P<mention>(?<!\w)@[A-Za-z0-9_]{5,32})"
    r"|(?P<hashtag>(?<![\w#])#\w+)"
    r"|(?P<cashtag>(?<![\w$])\$[A-Z]{1,8}\b)"
)


def detect_entities(text: str) -> list[dict[str, Any]]:
    """The entities Telegram's clients attach to a user's text: bot commands (with their
    @bot suffix), URLs, mentions, hashtags and cashtags; offsets in UTF-16 units."""
    entities = []
    for match in _INCOMING_ENTITIES.finditer(text):
        kind = match.lastgroup
        if kind is None:
            continue
        entities.append(
            {
                "type": kind,
                "offset": utf16_len(text[: match.start()]),
                "length": utf16_len(match.group()),
            }
        )
    return entities
