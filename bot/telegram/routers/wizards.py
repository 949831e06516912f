"""The wizards' conversation (aiogram FSM): one state while a wizard runs, with the
wizard's name, the step and the answers so far in the state's data.

Every step can be answered with a button or by typing; a wrong answer is explained
(in the same words as the typed command's errors) and the step is asked again.
Cancel works at every step: the ✖ button, `/cancel`, or typing "cancel". Any other
command ends the wizard and runs (see `routers/commands.py`).
"""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext

from bot.telegram.keyboards import WizardStep, choices
from bot.telegram.present import Presenter
from bot.telegram.render import escape
from bot.telegram.routers.common import answer, run_command
from bot.telegram.wizards import WIZARDS, Values, Wizard
from engine.market.types import MarketError
from handlers.context import Context
from handlers.dispatch import market_error_text
from handlers.errors import UserError
from handlers.i18n import N_
from handlers.reply import Reply, Tone

CANCEL_WORDS = frozenset({"cancel", "/cancel", "stop", "✖"})
CANCEL_WORD = N_("cancel")  # typed in the user's language, it cancels too
CANCEL_LABEL = N_("✖ Cancel")
CANCELLED = N_("Cancelled: nothing was changed.")
NOTHING = N_("There is nothing to cancel.")
EXPIRED = N_("That question is closed.")
HINT_CANCEL = N_("Send /cancel to stop.")
HINT_GROUP = N_("Reply to this message to type an answer.")


class Wizards(StatesGroup):
    active = State()


async def start(
    name: str, message: Message, ctx: Context, presenter: Presenter, state: FSMContext
) -> bool:
    """Start the wizard of command `name` if it has one (and the command exists)."""
    wizard = WIZARDS.get(name)
    if wizard is None or ctx.services.registry.find(name) is None:
        return False
    if not ctx.manages_chat:
        await answer(
            message, ctx, presenter, Reply(text=ctx._(wizard.forbidden), tone=Tone.ERROR), None
        )
        return True
    await state.set_state(Wizards.active)
    await state.set_data({"wizard": name, "step": 0, "values": {}})
    await _ask(message, None, ctx, presenter, wizard, 0, {})
    return True


async def _prompt(
    ctx: Context, wizard: Wizard, index: int, values: Values, error: str | None
) -> tuple[Reply, InlineKeyboardMarkup]:
    step = wizard.steps[index]
    lines = [f"⚠️ {error}", ""] if error else []
    lines.append(await step.prompt(ctx, values))
    if ctx.chat.is_group:
        lines.append(ctx._(HINT_GROUP))
    reply = Reply(
        title=f"{ctx._(wizard.title)} ({index + 1}/{len(wizard.steps)})",
        text="\n".join(lines),
        footer=ctx._(HINT_CANCEL),
    )
    keyboard = choices(step.key, step.options(ctx, values), ctx._(CANCEL_LABEL))
    return reply, keyboard


async def _ask(
    message: Message,
    prompt: Message | None,
    ctx: Context,
    presenter: Presenter,
    wizard: Wizard,
    index: int,
    values: Values,
    error: str | None = None,
) -> None:
    """Ask step `index`: in place of the last prompt after a button, else anew."""
    reply, keyboard = await _prompt(ctx, wizard, index, values, error)
    if prompt is not None and await presenter.edit(prompt, reply, source=None, keyboard=keyboard):
        return
    in_group = message.chat.type != "private"
    await presenter.send(
        message.chat.id,
        reply,
        kind=message.chat.type,
        keyboard=keyboard,
        reply_to=message.message_id if in_group and prompt is None else None,
    )


async def _advance(
    message: Message,
    prompt: Message | None,
    raw: str,
    ctx: Context,
    presenter: Presenter,
    state: FSMContext,
    data: dict,
) -> None:
    """Take `raw` as the answer to the current step (`data`: the wizard's, as read)."""
    wizard = WIZARDS[data["wizard"]]
    index: int = data["step"]
    values: Values = dict(data["values"])
    step = wizard.steps[index]
    try:
        values[step.key] = await step.parse(ctx, raw.strip(), values)
    except UserError as error:
        text = ctx._(error.message, **error.values)
        await _ask(message, prompt, ctx, presenter, wizard, index, values, text)
        return
    except MarketError as error:
        text = market_error_text(ctx, error)
        await _ask(message, prompt, ctx, presenter, wizard, index, values, text)
        return
    if index + 1 < len(wizard.steps):
        await state.set_data({**data, "step": index + 1, "values": values})
        await _ask(message, prompt, ctx, presenter, wizard, index + 1, values)
        return
    await state.clear()
    line = wizard.build(values)
    if prompt is not None:  # the finished prompt keeps its text, loses its buttons
        await presenter.edit_text(prompt, f"{escape(ctx._(wizard.title))}: /{escape(line)}")
    reply = await run_command(ctx, presenter, line)
    if reply is not None:
        await answer(message, ctx, presenter, reply, line)


async def _cancel(
    message: Message, prompt: Message | None, ctx: Context, presenter: Presenter, state: FSMContext
) -> None:
    await state.clear()
    text = ctx._(CANCELLED)
    if prompt is not None and await presenter.edit_text(prompt, escape(text)):
        return
    await answer(message, ctx, presenter, Reply(text=text), None)


async def on_cancel_command(
    message: Message,
    ctx: Context,
    presenter: Presenter,
    state: FSMContext,
    raw_state: str | None,
) -> None:
    if raw_state is None:  # read once per update by aiogram's FSM middleware
        await answer(message, ctx, presenter, Reply(text=ctx._(NOTHING)), None)
        return
    await _cancel(message, None, ctx, presenter, state)


async def on_typed(message: Message, ctx: Context, presenter: Presenter, state: FSMContext) -> None:
    text = (message.text or "").strip()
    # aiogram's gettext (its i18n middleware set the user's language, same catalogues)
    if text.lower() in {*CANCEL_WORDS, gettext(CANCEL_WORD).lower()}:
        await _cancel(message, None, ctx, presenter, state)
        return
    await _advance(message, None, text, ctx, presenter, state, await state.get_data())


async def on_choice(
    query: CallbackQuery,
    callback_data: WizardStep,
    ctx: Context,
    presenter: Presenter,
    state: FSMContext,
    raw_state: str | None,
) -> None:
    prompt = query.message if isinstance(query.message, Message) else None
    data = await state.get_data() if raw_state == Wizards.active.state else {}
    wizard = WIZARDS.get(data.get("wizard", ""))
    if prompt is None or wizard is None:
        await query.answer(ctx._(EXPIRED), show_alert=True)
        return
    if callback_data.step == "cancel":
        await query.answer()
        await _cancel(prompt, prompt, ctx, presenter, state)
        return
    if wizard.steps[data["step"]].key != callback_data.step:
        await query.answer(ctx._(EXPIRED), show_alert=True)
        return
    await query.answer()
    await _advance(prompt, prompt, callback_data.value, ctx, presenter, state, data)


def build_router() -> Router:
    router = Router(name="wizards")
    router.message.register(on_cancel_command, Command("cancel"))
    router.message.register(on_typed, Wizards.active, F.text, ~F.text.startswith("/"))
    router.callback_query.register(on_choice, WizardStep.filter())
    return router
