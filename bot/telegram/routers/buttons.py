"""Button presses: the command line behind the button runs through `dispatch`, and
the message it was pressed on changes as its `Mode` says (see `keyboards`)."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.types import CallbackQuery, Message

from bot.action_store import EXPIRED
from bot.telegram.keyboards import (
    TOGGLES,
    Mode,
    Press,
    Stored,
    confirmation,
    decode,
    encode,
    replace_button,
)
from bot.telegram.present import Presenter
from bot.telegram.routers.common import fits_toast, run_command, toast
from handlers.context import Context
from handlers.i18n import N_
from handlers.registry import split_command
from handlers.reply import Reply

ARE_YOU_SURE = N_("Are you sure? {what}")
YES = N_("✅ Yes")
NO = N_("✖ No")
FOLLOW_LABEL = N_("🔔 Follow signals")
UNFOLLOW_LABEL = N_("🔕 Unfollow")
FOLLOW_BTC_LABEL = N_("🔔 Follow BTC")
BELL, MUTED = "🔔", "🔕"


def _pressed_label(message: Message | None, data: str) -> str:
    markup = message.reply_markup if message is not None else None
    for row in markup.inline_keyboard if markup else []:
        for button in row:
            if button.callback_data == data:
                return button.text
    return ""


def toggled_label(ctx: Context, label: str, following: bool) -> str:
    """The label of a follow/unfollow button after it was pressed."""
    fixed = {ctx._(FOLLOW_LABEL), ctx._(UNFOLLOW_LABEL), ctx._(FOLLOW_BTC_LABEL)}
    if label in fixed or not label.startswith((BELL, MUTED)):
        return ctx._(UNFOLLOW_LABEL) if following else ctx._(FOLLOW_LABEL)
    return (MUTED if following else BELL) + label[1:]


async def on_press(query: CallbackQuery, ctx: Context, presenter: Presenter) -> None:
    press = await decode(query.data or "", presenter.store)
    if press is None:
        await query.answer(ctx._(EXPIRED), show_alert=True)
        return
    message = query.message if isinstance(query.message, Message) else None
    if press.m is Mode.NOOP:
        await query.answer()
        return
    if press.m is Mode.DISMISS:
        await query.answer()
        if message is not None:
            await _dismiss(presenter, message)
        return
    if press.m is Mode.PAGE:
        await _page(query, ctx, presenter, message, press)
        return
    if press.m is Mode.ASK:
        if message is None:  # too old to show the question under: never delete unasked
            await query.answer(ctx._(EXPIRED), show_alert=True)
            return
        await query.answer()
        what = _pressed_label(message, query.data or "") or f"/{press.a}"
        keyboard = confirmation(press.a, press.s, ctx._(YES), ctx._(NO), presenter.store)
        await presenter.send(
            message.chat.id,
            Reply(text=ctx._(ARE_YOU_SURE, what=what)),
            kind=message.chat.type,
            reply_to=message.message_id,
            keyboard=keyboard,
        )
        return
    reply = await run_command(ctx, presenter, press.a)
    if reply is None:
        await query.answer()
        return
    if reply.is_error and fits_toast(reply):
        await query.answer(toast(reply), show_alert=True)
        return
    if press.m is Mode.TOGGLE and message is not None and not reply.is_error:
        await _toggle(query, ctx, presenter, message, press, reply)
        return
    await query.answer()
    if press.m is Mode.CONFIRMED and message is not None:
        await _confirmed(ctx, presenter, message, press, reply)
        return
    edit = press.m is Mode.EDIT and message is not None and not reply.is_error
    if edit and message is not None and await presenter.edit(message, reply, source=press.a):
        return
    chat = message.chat if message is not None else None
    chat_id = chat.id if chat is not None else int(ctx.chat.external_id)
    await presenter.send(chat_id, reply, source=press.a, kind=chat.type if chat else None)


async def _toggle(
    query: CallbackQuery,
    ctx: Context,
    presenter: Presenter,
    message: Message,
    press: Press,
    reply: Reply,
) -> None:
    parsed = split_command(press.a)
    assert parsed is not None
    name, rest = parsed
    inverse = f"{TOGGLES[name]} {rest}".strip()
    label = toggled_label(ctx, _pressed_label(message, query.data or ""), name == "follow")
    new_data = encode(Press(m=Mode.TOGGLE, a=inverse), presenter.store)
    markup = replace_button(message.reply_markup, query.data or "", label, new_data)
    await query.answer(toast(reply))
    await presenter.edit_keyboard(message, markup)


async def _confirmed(
    ctx: Context, presenter: Presenter, message: Message, press: Press, reply: Reply
) -> None:
    """After "yes": the question shows the result, and the list it was about (the
    message it replies to) is refreshed."""
    if not await presenter.edit(message, reply, source=press.a):
        await presenter.send(message.chat.id, reply, source=press.a, kind=message.chat.type)
    target = message.reply_to_message
    if press.s and target is not None and not reply.is_error:
        fresh = await run_command(ctx, presenter, press.s)
        if fresh is not None and not await presenter.edit(target, fresh, source=press.s):
            await presenter.edit_keyboard(target, None)


async def _dismiss(presenter: Presenter, message: Message) -> None:
    try:
        await presenter.bot.delete_message(message.chat.id, message.message_id)
    except Exception:  # too old to delete (48 h): leave it without its buttons
        await presenter.edit_keyboard(message, None)


async def _page(
    query: CallbackQuery,
    ctx: Context,
    presenter: Presenter,
    message: Message | None,
    press: Press,
) -> None:
    reply = await run_command(ctx, presenter, press.s) if press.s else None
    await query.answer()
    if reply is None or message is None:
        return
    page = int(press.a) if press.a.isdigit() else 0
    if not await presenter.edit(message, reply, source=press.s, page=page):
        await presenter.send(message.chat.id, reply, source=press.s, kind=message.chat.type)


def build_router() -> Router:
    router = Router(name="buttons")
    ours = (
        f"{Press.__prefix__}{Press.__separator__}",
        f"{Stored.__prefix__}{Stored.__separator__}",
    )
    router.callback_query.register(on_press, F.data.startswith(ours))
    return router
