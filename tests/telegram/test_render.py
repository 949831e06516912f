"""Reply → Telegram HTML: escaping, structure, and splitting within Telegram's limits
(checked with the Bot API server's own HTML parser and UTF-16 counting)."""

from __future__ import annotations

import pytest

from bot.telegram.render import (
    CAPTION_LIMIT,
    TEXT_LIMIT,
    escape,
    plain,
    render_caption,
    render_chunks,
)
from handlers.reply import Field, Reply
from tests.telegram_server import parse_html, utf16_len


def shown(chunk: str) -> str:
    """What Telegram shows for a chunk (and proof that it parses)."""
    text, _ = parse_html(chunk)
    return text


def test_everything_supplied_is_escaped() -> None:
    hostile = '<b>x</b> & <a href="javascript:alert(1)">y</a> </i>'
    reply = Reply(
        title=hostile,
        text=hostile,
        fields=[Field(hostile, hostile)],
        footer=hostile,
        demo=hostile,
    )
    [chunk] = render_chunks(reply)
    text, entities = parse_html(chunk)
    assert text.count(hostile) == 6  # shown literally, every time
    assert {e["type"] for e in entities} == {"bold", "italic"}  # only our own tags
    assert escape("a<b>&c") == "a&lt;b&gt;&amp;c"
    assert plain(chunk) == text


def test_structure_of_a_reply() -> None:
    reply = Reply(
        title="BTC/USDT",
        text="line one\nline two",
        fields=[Field("24h", "+2%"), Field("Levels", "1\n2", inline=False)],
        footer="Not advice",
        demo="DEMO · replayed",
    )
    [chunk] = render_chunks(reply)
    assert shown(chunk) == (
        "🧪 DEMO · replayed\nBTC/USDT\nline one\nline two\n\n24h: +2%\nLevels\n1\n2\n\nNot advice"
    )
    assert chunk.startswith("<i>🧪 DEMO · replayed</i>\n<b>BTC/USDT</b>\n")
    assert render_chunks(Reply()) == []


@pytest.mark.parametrize("unit", ["x", "é", "🚀", "<&>"])
def test_long_text_splits_into_valid_messages(unit: str) -> None:
    lines = [f"{n:05d} " + unit * 97 for n in range(200)]  # ≈ 20,000 characters
    reply = Reply(title="Title", text="\n".join(lines))
    chunks = render_chunks(reply)
    assert len(chunks) > 1
    texts = [shown(chunk) for chunk in chunks]
    assert all(0 < utf16_len(text) <= TEXT_LIMIT for text in texts)
    assert "\n".join(texts) == "Title\n" + "\n".join(lines)  # nothing lost, nothing cut


def test_one_huge_line_is_cut_at_spaces() -> None:
    words = " ".join(f"w{n}" for n in range(3000))  # one line of ~17,000 characters
    chunks = render_chunks(Reply(text=words))
    texts = [shown(chunk) for chunk in chunks]
    assert all(utf16_len(t) <= TEXT_LIMIT for t in texts)
    assert " ".join(texts).split() == words.split()  # cut between words only
    glued = "🚀" * 5000  # no space at all: cut anywhere, never inside a character
    texts = [shown(chunk) for chunk in render_chunks(Reply(text=glued))]
    assert "".join(texts) == glued and all(utf16_len(t) <= TEXT_LIMIT for t in texts)


def test_caption_overflow_moves_to_messages() -> None:
    reply = Reply(title="<Chart>", text="\n".join(f"row {n} " + "z" * 50 for n in range(100)))
    caption, rest = render_caption(reply)
    assert caption is not None and utf16_len(shown(caption)) <= CAPTION_LIMIT
    assert shown(caption).startswith("<Chart>\nrow 0")
    assert rest and all(utf16_len(shown(chunk)) <= TEXT_LIMIT for chunk in rest)
    together = "\n".join([shown(caption), *(shown(c) for c in rest)])
    assert together == "<Chart>\n" + reply.text
    short_caption, none = render_caption(Reply(title="BTC · 4h", text="Last close 1"))
    assert none == [] and shown(short_caption or "") == "BTC · 4h\nLast close 1"
