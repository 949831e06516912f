"""Typed commands: every command of the registry, as Telegram text.

`/name args` (or `/name@this_bot args` in a group) goes to `handlers.dispatch`, the
same path as the console's. `/alarm` and `/follow` without arguments start their
wizards instead. In a private chat, text without a slash is tried as a command too
(`price btc`); in groups the bot only answers commands (and wizard replies).
"""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.fsm.context import FSMContext
from aiogram.types import Message

from bot.telegram.present import Presenter
from bot.telegram.routers import wizards
from bot.telegram.routers.common import addressed_to_us, answer, normalized, run_command
from handlers.context import Context
from handlers.i18n import N_
from handlers.registry import split_command
from handlers.reply import Reply, Tone

NO_TEXT = N_("I read text commands only. Send /help for the list of commands.")


async def on_text(
    message: Message,
    ctx: Context,
    presenter: Presenter,
    state: FSMContext,
    raw_state: str | None,
    bot: Bot,
) -> None:
    text = message.text or ""
    is_command = text.lstrip().startswith("/")
    if not is_command and message.chat.type != "private":
        return  # groups: only commands are for the bot
    if is_command and not await addressed_to_us(bot, text):
        return
    if raw_state is not None:  # read once per update by aiogram's FSM middleware
        await state.clear()  # a command ends a wizard the user walked away from
    parsed = split_command(text)
    if parsed is not None and is_command:
        name, rest = parsed
        if name == "start" and rest:
            text = "/start"  # a deep link's payload (t.me/bot?start=…): not an argument
        elif not rest and await wizards.start(name, message, ctx, presenter, state):
            return
    reply = await run_command(ctx, presenter, text)
    if reply is not None:
        await answer(message, ctx, presenter, reply, normalized(text))


async def on_other(message: Message, ctx: Context, presenter: Presenter) -> None:
    """Stickers, photos, voice…: say what the bot understands."""
    reply = Reply(text=ctx._(NO_TEXT), tone=Tone.ERROR)
    await answer(message, ctx, presenter, reply, None)


def build_router() -> Router:
    router = Router(name="commands")
    router.message.register(on_text, F.text)
    router.message.register(on_other, F.chat.type == "private")
    return router
