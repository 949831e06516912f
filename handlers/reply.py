"""What a handler returns: platform-neutral, rendered by each adapter.

Text is plain (adapters escape it for HTML or Markdown); structure goes into
`title`, `fields` and `footer`, which Telegram shows as bold lines, Discord as
an embed and the console as aligned text. Buttons carry a command line that the
dispatcher runs when pressed, so a button is exactly a command the user could type.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Tone(StrEnum):
    NEUTRAL = "neutral"
    UP = "up"
    DOWN = "down"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class Button:
    label: str
    action: str  # a command line without the slash, e.g. "chart BTC/USDT 4h"


@dataclass(frozen=True, slots=True)
class Image:
    """A PNG. `cache_key` names the picture (same key, same picture), so that a
    platform can upload it once and re-send its file id."""

    png: bytes
    cache_key: str
    filename: str = "chart.png"


@dataclass(frozen=True, slots=True)
class Document:
    data: bytes
    filename: str
    mime: str = "application/octet-stream"


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    value: str
    inline: bool = True


@dataclass(slots=True)
class Reply:
    text: str = ""
    title: str | None = None
    fields: list[Field] = field(default_factory=list)
    footer: str | None = None
    image: Image | None = None
    document: Document | None = None
    buttons: list[list[Button]] = field(default_factory=list)
    tone: Tone = Tone.NEUTRAL
    ephemeral: bool = False  # private data: Discord shows it to the caller only
    demo: str | None = None  # replayed market: the DEMO marker adapters show

    @property
    def is_error(self) -> bool:
        return self.tone is Tone.ERROR

    def plain_text(self) -> str:
        """Everything textual as plain lines (console, logs, tests)."""
        lines: list[str] = []
        if self.demo:
            lines.append(f"[{self.demo}]")
        if self.title:
            lines.append(self.title)
        if self.text:
            lines.append(self.text)
        if self.fields:
            width = max(len(f.name) for f in self.fields)
            indent = "\n" + " " * (width + 4)
            lines.extend(
                f"  {f.name.ljust(width)}  {f.value.replace(chr(10), indent)}" for f in self.fields
            )
        if self.footer:
            lines.append(self.footer)
        return "\n".join(lines)
