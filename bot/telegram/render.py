"""A `Reply` as Telegram HTML: escaped, structured, split to fit Telegram's limits.

Everything in a Reply is plain text (user input, exchange symbols, translations):
it is escaped here, and only our own tags are added. Telegram counts its limits
(4,096 for a message, 1,024 for a caption) in UTF-16 code units of the text as shown,
after the markup is parsed, so that is what the splitter measures.

A reply is rendered as lines, each line a run of styled spans with its own tags, so a
split between lines never cuts a tag in half; a single line longer than a message is
cut at a space (or anywhere, as a last resort) into lines of its own.

>>> from handlers.reply import Field, Reply
>>> render_chunks(Reply(title="BTC <up>", text="a & b", fields=[Field("24h", "+2%")]))
['<b>BTC &lt;up&gt;</b>\\na &amp; b\\n\\n<b>24h</b>: +2%']
"""

from __future__ import annotations

import html
from dataclasses import dataclass

from handlers.reply import Reply

TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024


@dataclass(frozen=True, slots=True)
class Span:
    text: str
    tag: str | None = None  # "b", "i", "code"


Line = tuple[Span, ...]
BLANK: Line = ()


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def escape(text: str) -> str:
    """Text for Telegram HTML: only `&`, `<` and `>` need escaping there."""
    return html.escape(text, quote=False)


def line_size(line: Line) -> int:
    return sum(utf16_len(span.text) for span in line)


def line_html(line: Line) -> str:
    return "".join(
        f"<{s.tag}>{escape(s.text)}</{s.tag}>" if s.tag and s.text else escape(s.text) for s in line
    )


def _styled(text: str, tag: str | None = None) -> list[Line]:
    return [(Span(part, tag),) if part else BLANK for part in text.split("\n")]


def reply_lines(reply: Reply) -> list[Line]:
    """The reply's content as lines: DEMO marker, title, text, fields, footer."""
    sections: list[list[Line]] = []
    head: list[Line] = []
    if reply.demo:
        head += _styled(f"🧪 {reply.demo}", "i")
    if reply.title:
        head += _styled(reply.title, "b")
    if reply.text:
        head += _styled(reply.text)
    if head:
        sections.append(head)
    if reply.fields:
        block: list[Line] = []
        for field in reply.fields:
            name = Span(field.name, "b")
            value_lines = field.value.split("\n") if field.value else []
            if len(value_lines) == 1 and field.inline:
                block.append((name, Span(": " + value_lines[0])))
            else:
                block.append((name,))
                block += [(Span(v),) if v else BLANK for v in value_lines]
        sections.append(block)
    if reply.footer:
        sections.append(_styled(reply.footer, "i"))
    lines: list[Line] = []
    for section in sections:
        if lines:
            lines.append(BLANK)
        lines += section
    return lines


def _cut(text: str, limit: int) -> tuple[str, str]:
    """The longest head of `text` within `limit` UTF-16 units, cut at a space if one is
    in the second half of it."""
    size = 0
    end = 0
    for index, char in enumerate(text):
        size += utf16_len(char)
        if size > limit:
            break
        end = index + 1
    head = text[:end]
    space = head.rfind(" ")
    if end < len(text) and space > end // 2:
        return text[:space], text[space + 1 :]
    return head, text[end:]


def split_line(line: Line, limit: int) -> list[Line]:
    """A line too long for one message as several lines, each within `limit`."""
    out: list[Line] = []
    current: list[Span] = []
    room = limit
    for span in line:
        text = span.text
        while text:
            if utf16_len(text) <= room:
                current.append(Span(text, span.tag))
                room -= utf16_len(text)
                break
            head, text = _cut(text, room)
            if head:
                current.append(Span(head, span.tag))
            out.append(tuple(current))
            current, room = [], limit
    if current:
        out.append(tuple(current))
    return out


def pack(lines: list[Line], first_limit: int, limit: int) -> list[str]:
    """Lines into HTML chunks: the first within `first_limit`, the others within `limit`.
    Blank lines at a chunk's edges are dropped (Telegram would trim them anyway)."""
    chunks: list[list[Line]] = []
    current: list[Line] = []
    size = 0
    budget = first_limit
    queue = list(reversed(lines))
    while queue:
        line = queue.pop()
        need = line_size(line) + (1 if current else 0)
        if size + need <= budget:
            if current or line:  # no blank line opens a chunk
                current.append(line)
                size += need
            continue
        if not current and line_size(line) > budget:
            pieces = split_line(line, budget)
            queue.extend(reversed(pieces))
            continue
        chunks.append(current)
        current, size, budget = [], 0, limit
        queue.append(line)
    if current:
        chunks.append(current)
    rendered = []
    for chunk in chunks:
        while chunk and not chunk[-1]:
            chunk.pop()
        text = "\n".join(line_html(line) for line in chunk)
        if text.strip():
            rendered.append(text)
    return rendered


def render_chunks(reply: Reply) -> list[str]:
    """A text reply as messages (usually one)."""
    return pack(reply_lines(reply), TEXT_LIMIT, TEXT_LIMIT)


def render_caption(reply: Reply) -> tuple[str | None, list[str]]:
    """A reply with a picture or a document: its caption (within 1,024), and what did
    not fit in it as follow-up messages (within 4,096 each)."""
    chunks = pack(reply_lines(reply), CAPTION_LIMIT, TEXT_LIMIT)
    if not chunks:
        return None, []
    return chunks[0], chunks[1:]


def plain(html_text: str) -> str:
    """The text a user sees for our own HTML (tests and callback-answer toasts)."""
    out = html_text
    for tag in ("b", "i", "code"):
        out = out.replace(f"<{tag}>", "").replace(f"</{tag}>", "")
    return html.unescape(out)
