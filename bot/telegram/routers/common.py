"""Small pieces the routers share: running a command line and answering with it."""

from __future__ import annotations

from contextlib import suppress
from dataclasses import replace

from aiogram import Bot
from aiogram.types import Message

from bot.telegram.present import Presenter
from bot.telegram.render import plain, render_chunks
from handlers.context import Context
from handlers.dispatch import dispatch
from handlers.registry import split_command
from handlers.reply import Reply

TOAST_LIMIT = 200  # Telegram's limit for a callback query's answer


def normalized(text: str) -> str | None:
    """`/Chart@PulseBot ETH 4h` → `chart ETH 4h` (the source of the reply)."""
    parsed = split_command(text)
    if parsed is None:
        return None
    return f"{parsed[0]} {parsed[1]}".strip()


async def addressed_to_us(bot: Bot, text: str) -> bool:
    """False for `/price@other_bot`: in a group, a command for another bot."""
    head = text.strip().split(maxsplit=1)[0] if text.strip() else ""
    if "@" not in head:
        return True
    me = await bot.me()
    return head.split("@", 1)[1].lower() == (me.username or "").lower()


async def run_command(ctx: Context, presenter: Presenter, line: str) -> Reply | None:
    """Dispatch `line`; for commands that draw a picture, show "sending a photo…"."""
    command = ctx.services.registry.command_for(line)
    if command is not None and command.draws and ctx.chat.external_id:
        with suppress(Exception):
            await presenter.bot.send_chat_action(int(ctx.chat.external_id), "upload_photo")
    return await dispatch(ctx, line)


async def answer(
    message: Message, ctx: Context, presenter: Presenter, reply: Reply, source: str | None
) -> list[Message]:
    """Send `reply` into the message's chat (in a group, as a reply to the command)."""
    in_group = message.chat.type != "private"
    return await presenter.send(
        message.chat.id,
        reply,
        source=source,
        kind=message.chat.type,
        reply_to=message.message_id if in_group and message.from_user else None,
    )


def toast(reply: Reply) -> str:
    """A reply as a button press's notification (short plain text)."""
    chunks = render_chunks(replace(reply, demo=None))
    text = plain(chunks[0]) if chunks else ""
    return text if len(text) <= TOAST_LIMIT else text[: TOAST_LIMIT - 1] + "…"


def fits_toast(reply: Reply) -> bool:
    chunks = render_chunks(replace(reply, demo=None))
    return len(chunks) == 1 and len(plain(chunks[0])) <= TOAST_LIMIT
