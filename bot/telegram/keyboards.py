"""Inline keyboards: a Reply's buttons as typed callback data within Telegram's 64 bytes.

A button carries a command line (`Button.action`, e.g. `chart BTC/USDT 4h`). On
Telegram it becomes a `Press`: the action, what pressing it does to the message it
sits on (`Mode`), and for some modes the command that produced that message (its
*source*, re-run to refresh or page the message). Packed, `c|e|chart BTC/USDT 4h|`
is far below 64 bytes, as nearly every action is. One that is not (or that contains
the separator) is kept server-side in an `ActionStore` and the button carries only
its short key (`k|<11 chars>`) for `ACTION_TTL` (two days), in memory and in the
database, so it works after a restart and on every process behind a load
balancer; a key that is gone (expired) answers "this button has expired, send the
command again".

How a button acts follows from its command and the message's source:

- the same command as the message (a chart's timeframe switcher, a price's refresh,
  another language in /lang): EDIT the message in place (editMessageMedia for a
  picture, editMessageText for text);
- follow/unfollow: TOGGLE (the button flips, the result shows as a notification);
- deleting one alarm: ASK for a confirmation first, then refresh the list;
- anything else: a NEW message.

A list with more rows of buttons than `PAGE_ROWS` gets PAGE buttons when its source
can be re-run (read-only commands in `REFRESHABLE`).
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot.action_store import ActionStore as SharedActionStore
from bot.action_store import Codec
from handlers.registry import command_name, split_command
from handlers.reply import Button
from storage.db import Database

PAGE_ROWS = 8
MAX_BUTTONS = 100  # Telegram's limit for one inline keyboard
# Commands that only read, so the front end may run them again to refresh or page
# the message they produced.
REFRESHABLE = frozenset(
    {"alarms", "following", "signals", "help", "price", "chart", "analyze", "journal", "stats"}
)
TOGGLES = {"follow": "unfollow", "unfollow": "follow"}


class Mode(StrEnum):
    NEW = "n"  # run the action, answer with a new message
    EDIT = "e"  # run the action, replace the message it was pressed on
    TOGGLE = "t"  # run the action, flip the button, show the result as a notification
    ASK = "q"  # ask "are you sure?" before running the action
    CONFIRMED = "y"  # the "yes" of ASK: run, then refresh the source message
    DISMISS = "d"  # the "no" of ASK: remove the question
    PAGE = "p"  # show page `action` of the source message's buttons
    NOOP = "x"  # the page counter


class Press(CallbackData, prefix="c", sep="|"):
    """A pressed button: mode, command line (or page number), source command."""

    m: Mode
    a: str
    s: str = ""


class Stored(CallbackData, prefix="k", sep="|"):
    """A `Press` too long for 64 bytes, by its key in the `ActionStore`."""

    key: str


class WizardStep(CallbackData, prefix="w", sep="|"):
    """A choice in a wizard step (`step` guards against presses on an old prompt)."""

    step: str
    value: str


ActionStore = SharedActionStore[Press]  # long presses, kept by a short key


def encode(press: Press, store: ActionStore) -> str:
    """Callback data for `press`: packed if it fits, else its key in `store`."""
    try:
        return press.pack()
    except ValueError:  # longer than 64 bytes, or the separator in the action
        return Stored(key=store.put(press)).pack()


async def decode(data: str, store: ActionStore) -> Press | None:
    """The press behind callback data; None when it is unknown or expired."""
    try:
        if data.startswith(Stored.__prefix__ + Stored.__separator__):
            return await store.get(Stored.unpack(data).key)
        if data.startswith(Press.__prefix__ + Press.__separator__):
            return Press.unpack(data)
    except (ValueError, TypeError):
        return None
    return None


CODEC: Codec[Press] = Codec(lambda press: press.model_dump(mode="json"), Press.model_validate)


def action_store(db: Database) -> ActionStore:
    """The Telegram front end's store of long presses, kept in `db` too."""
    return ActionStore(db=db, namespace="telegram", codec=CODEC)


def needs_confirmation(action: str) -> bool:
    """Deleting one alarm asks first (`delalarm all` has its own confirmation)."""
    parsed = split_command(action)
    if parsed is None or parsed[0] != "delalarm":
        return False
    words = parsed[1].lower().split()
    return bool(words) and "all" not in words


def button_press(action: str, source: str | None) -> Press:
    name = command_name(action)
    source_name = command_name(source)
    refreshable = source if source and source_name in REFRESHABLE else ""
    if name in TOGGLES:
        return Press(m=Mode.TOGGLE, a=action)
    if needs_confirmation(action):
        return Press(m=Mode.ASK, a=action, s=refreshable)
    if name is not None and name == source_name:
        return Press(m=Mode.EDIT, a=action)
    return Press(m=Mode.NEW, a=action)


def build_keyboard(
    rows: Sequence[Sequence[Button]],
    source: str | None,
    store: ActionStore,
    page: int = 0,
) -> InlineKeyboardMarkup | None:
    """A Reply's buttons as an inline keyboard (a page of it for long lists)."""
    rows = [list(row) for row in rows if row]
    if not rows:
        return None
    nav: list[InlineKeyboardButton] = []
    if source and len(rows) > PAGE_ROWS and command_name(source) in REFRESHABLE:
        pages = (len(rows) + PAGE_ROWS - 1) // PAGE_ROWS
        page = max(0, min(page, pages - 1))
        rows = rows[page * PAGE_ROWS : (page + 1) * PAGE_ROWS]
        if page > 0:
            nav.append(_nav("◀", Press(m=Mode.PAGE, a=str(page - 1), s=source), store))
        nav.append(_nav(f"{page + 1}/{pages}", Press(m=Mode.NOOP, a=""), store))
        if page < pages - 1:
            nav.append(_nav("▶", Press(m=Mode.PAGE, a=str(page + 1), s=source), store))
    keyboard: list[list[InlineKeyboardButton]] = []
    count = len(nav)
    for row in rows:
        row = row[: MAX_BUTTONS - count]
        if not row:
            break
        keyboard.append(
            [
                InlineKeyboardButton(
                    text=button.label,
                    callback_data=encode(button_press(button.action, source), store),
                )
                for button in row
            ]
        )
        count += len(row)
    if nav:
        keyboard.append(nav)
    return InlineKeyboardMarkup(inline_keyboard=keyboard)


def _nav(label: str, press: Press, store: ActionStore) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=label, callback_data=encode(press, store))


def replace_button(
    markup: InlineKeyboardMarkup | None, callback_data: str, label: str, new_data: str
) -> InlineKeyboardMarkup | None:
    """The same keyboard with the button carrying `callback_data` replaced."""
    if markup is None:
        return None
    rows = [
        [
            InlineKeyboardButton(text=label, callback_data=new_data)
            if button.callback_data == callback_data
            else button
            for button in row
        ]
        for row in markup.inline_keyboard
    ]
    return InlineKeyboardMarkup(inline_keyboard=rows)


def choices(
    step: str,
    options: Sequence[tuple[str, str]],
    cancel_label: str,
    per_row: int = 3,
) -> InlineKeyboardMarkup:
    """A wizard step's keyboard: its options (label, value), then Cancel."""
    buttons = [
        InlineKeyboardButton(text=label, callback_data=WizardStep(step=step, value=value).pack())
        for label, value in options
    ]
    rows = [buttons[i : i + per_row] for i in range(0, len(buttons), per_row)]
    rows.append(
        [
            InlineKeyboardButton(
                text=cancel_label, callback_data=WizardStep(step="cancel", value="").pack()
            )
        ]
    )
    return InlineKeyboardMarkup(inline_keyboard=rows)


def confirmation(
    action: str, source: str, yes: str, no: str, store: ActionStore
) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(
                    text=yes,
                    callback_data=encode(Press(m=Mode.CONFIRMED, a=action, s=source), store),
                ),
                InlineKeyboardButton(
                    text=no, callback_data=encode(Press(m=Mode.DISMISS, a=""), store)
                ),
            ]
        ]
    )
