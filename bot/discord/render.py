"""A `Reply` as a Discord message: one embed, its attachments and a view of buttons.

- Title, text, fields and footer go into an embed, within Discord's limits (title
  256, description 4096, 25 fields of 256/1024, footer 2048, 6000 in all); text is
  plain, so Markdown characters are escaped. The colour follows `Reply.tone`.
- The DEMO marker of a replayed market closes the footer.
- A picture is attached and shown inside the embed (`attachment://name`); a
  document is attached beside it.
- Buttons become a `discord.ui.View` (`bot.discord.views`), at most 5 rows of 5.

`render` makes new `discord.File` objects on every call: a file can be sent once.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field

import discord
from discord.utils import escape_markdown

from bot.discord.views import ActionStore, build_view
from handlers.reply import Image, Reply, Tone

COLOURS = {
    Tone.NEUTRAL: 0x5865F2,  # Discord blurple
    Tone.UP: 0x2ECC71,
    Tone.DOWN: 0xE74C3C,
    Tone.ERROR: 0xF39C12,
}
TITLE_LIMIT = 256
DESCRIPTION_LIMIT = 4096
FIELD_LIMIT = 25
FIELD_NAME_LIMIT = 256
FIELD_VALUE_LIMIT = 1024
FOOTER_LIMIT = 2048
EMBED_TOTAL_LIMIT = 6000
_UNSAFE_FILENAME = re.compile(r"[^A-Za-z0-9_.-]+")


@dataclass
class Rendered:
    embeds: list[discord.Embed]
    files: list[discord.File] = field(default_factory=list)
    view: discord.ui.View | None = None
    ephemeral: bool = False

    def send_kwargs(self) -> dict[str, object]:
        """Arguments for `send_message`, `followup.send` and `Messageable.send`."""
        kwargs: dict[str, object] = {"embeds": self.embeds}
        if self.files:
            kwargs["files"] = self.files
        if self.view is not None:
            kwargs["view"] = self.view
        return kwargs

    def edit_kwargs(self) -> dict[str, object]:
        """Arguments for `edit_message` / `edit_original_response`: replaces the
        embeds, the attachments and the buttons (none if the reply has none)."""
        return {"embeds": self.embeds, "attachments": self.files, "view": self.view}


def cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def safe_filename(name: str, default: str = "chart.png") -> str:
    """A name Discord keeps as given (it is referenced by `attachment://`)."""
    cleaned = _UNSAFE_FILENAME.sub("_", name).strip("._")
    return cleaned[-100:] if cleaned else default


def _escape(text: str) -> str:
    return escape_markdown(text) if text else text


def build_embed(reply: Reply) -> discord.Embed:
    title = cut(_escape(reply.title), TITLE_LIMIT) if reply.title else None
    footer_lines = [line for line in (reply.footer, reply.demo and f"🧪 {reply.demo}") if line]
    footer = cut("\n".join(footer_lines), FOOTER_LIMIT) if footer_lines else None
    fields = [
        (
            cut(_escape(f.name), FIELD_NAME_LIMIT) or "\u200b",
            cut(_escape(f.value), FIELD_VALUE_LIMIT) or "—",
            f.inline,
        )
        for f in reply.fields[:FIELD_LIMIT]
    ]
    used = len(title or "") + len(footer or "") + sum(len(n) + len(v) for n, v, _ in fields)
    while fields and used > EMBED_TOTAL_LIMIT - 200:  # keep room for some text
        name, value, _ = fields.pop()
        used -= len(name) + len(value)
    room = min(DESCRIPTION_LIMIT, EMBED_TOTAL_LIMIT - used)
    description = cut(_escape(reply.text), room) if reply.text else None
    embed = discord.Embed(title=title, description=description, colour=COLOURS[reply.tone])
    for name, value, inline in fields:
        embed.add_field(name=name, value=value, inline=inline)
    if footer:
        embed.set_footer(text=footer)
    return embed


def render(
    reply: Reply,
    *,
    source: str | None = None,
    image: Image | None = None,
    store: ActionStore | None = None,
) -> Rendered:
    """`source`: the command line that produced the reply (decides what its buttons
    do, see `bot.discord.views`); `image`: a picture that came apart from the reply
    (a delivery's chart)."""
    embed = build_embed(reply)
    files: list[discord.File] = []
    picture = reply.image or image
    if picture is not None:
        name = safe_filename(picture.filename)
        files.append(discord.File(io.BytesIO(picture.png), filename=name))
        embed.set_image(url=f"attachment://{name}")
    if reply.document is not None:
        name = safe_filename(reply.document.filename, "document.bin")
        files.append(discord.File(io.BytesIO(reply.document.data), filename=name))
    view = build_view(reply.buttons, source, store) if reply.buttons else None
    return Rendered([embed], files, view, reply.ephemeral or reply.is_error)
