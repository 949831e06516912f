"""Text as Telegram shows it: a parse_mode applied, then leading/trailing whitespace trimmed."""

from __future__ import annotations

from typing import Any

from tests.telegram_server.entities import utf16_len
from tests.telegram_server.errors import EntityParseError
from tests.telegram_server.html_mode import parse_html
from tests.telegram_server.markdown_mode import parse_markdown, parse_markdown_v2


def parse_entities(text: str, parse_mode: str | None) -> tuple[str, list[dict[str, Any]]]:
    """(plain text, entities) for a parse_mode; raises EntityParseError as Telegram would."""
    text = text.replace("\r", "")
    mode = (parse_mode or "").strip().lower()
    if not mode:
        return text, []
    if mode == "html":
        return parse_html(text)
    if mode == "markdownv2":
        return parse_markdown_v2(text)
    if mode == "markdown":
        return parse_markdown(text)
    raise EntityParseError(f"unsupported parse_mode {parse_mode!r}")


def _trim(text: str, entities: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """Telegram strips leading and trailing whitespace; entities follow."""
    stripped = text.strip()
    if stripped == text:
        return text, entities
    if not stripped:
        return "", []
    shift = utf16_len(text[: len(text) - len(text.lstrip())])
    length = utf16_len(stripped)
    kept = []
    for entity in entities:
        start = max(0, entity["offset"] - shift)
        end = min(length, entity["offset"] + entity["length"] - shift)
        if end > start:
            kept.append({**entity, "offset": start, "length": end - start})
    return stripped, kept
