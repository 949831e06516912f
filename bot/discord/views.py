"""Buttons: a Reply's `Button`s as a `discord.ui.View`, and presses routed back.

A button carries a command line (`Button.action`). On Discord it becomes a custom id
(at most 100 characters) saying what pressing it does to the message it sits on:

- ``e`` EDIT: the same command as the message (a chart's timeframe switcher, a
  price's refresh, the yes of "delete all?"): the message is replaced in place;
- ``r`` REFRESH: an action on a list (deleting an alarm from /alarms, unfollowing
  from /following): the result goes to the presser alone, the list is re-drawn;
- ``n`` NEW: anything else answers with a new message.

``pw:<mode>:<list>:<n>:<action>`` holds it all (``n``, the button's position, keeps
ids unique within a message). An action too long for that is kept in an
`ActionStore` (in memory and in the database, so it survives a restart and
works on every process) and the button carries ``pk:<key>:<n>``; a key that is
gone (expired) answers "this button has expired".

Presses arrive through `ActionButton`, a `DynamicItem` registered once on the
client: it matches every custom id above, so buttons keep working after a restart
and no view is kept in memory per message (views are stopped before sending).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import discord

from bot.action_store import ActionStore as SharedActionStore
from bot.action_store import Codec
from handlers.registry import command_name, split_command
from handlers.reply import Button
from storage.db import Database

if TYPE_CHECKING:
    from bot.discord.app import PulseClient

CUSTOM_ID_LIMIT = 100
LABEL_LIMIT = 80
MAX_ROWS = 5
ROW_WIDTH = 5
# Commands whose message a button of the same command replaces in place.
EDITABLE = frozenset(
    {"price", "chart", "analyze", "signals", "help", "lang", "alarms", "following", "delalarm"}
)
# Lists (commands without arguments) re-drawn after an action pressed on them.
LISTS = {"alarms": frozenset({"delalarm"}), "following": frozenset({"unfollow", "follow"})}
DANGER = frozenset({"delalarm", "unfollow"})
TEMPLATE = (
    r"pw:(?P<mode>[enr]):(?P<list>[a-z_]{0,32}):(?P<index>\d{1,2}):(?P<action>.+)"
    r"|pk:(?P<key>[A-Za-z0-9_-]{11}):(?P<kindex>\d{1,2})"
)


@dataclass(frozen=True, slots=True)
class Press:
    mode: str  # e, r or n (see the module docstring)
    action: str  # the command line to run
    refresh: str = ""  # mode r: the list command to re-draw


def press_for(action: str, source: str | None) -> Press:
    """What pressing `action` does on a message produced by the line `source`."""
    name = command_name(action) or ""
    origin = split_command(source) if source else None
    if origin is not None:
        if name == origin[0] and name in EDITABLE:
            return Press("e", action)
        if not origin[1] and name in LISTS.get(origin[0], ()):
            return Press("r", action, origin[0])
    return Press("n", action)


ActionStore = SharedActionStore[Press]  # long presses, kept by a short key


def encode(press: Press, index: int, store: ActionStore | None) -> str:
    custom_id = f"pw:{press.mode}:{press.refresh}:{index}:{press.action}"
    if len(custom_id) <= CUSTOM_ID_LIMIT and "\n" not in press.action:
        return custom_id
    if store is None:
        raise ValueError(f"button action too long for a custom id: {press.action[:40]!r}")
    return f"pk:{store.put(press)}:{index}"


async def decode(custom_id: str, store: ActionStore | None) -> Press | None:
    """The press behind a custom id; None if it is not ours or has expired."""
    match = ActionButton.__discord_ui_compiled_template__.fullmatch(custom_id)
    if match is None:
        return None
    if match["key"] is not None:
        return await store.get(match["key"]) if store is not None else None
    return Press(match["mode"], match["action"], match["list"])


CODEC: Codec[Press] = Codec(asdict, lambda fields: Press(**fields))


def action_store(db: Database) -> ActionStore:
    """The Discord front end's store of long presses, kept in `db` too."""
    return ActionStore(db=db, namespace="discord", codec=CODEC)


def _layout(rows: list[list[Button]]) -> list[list[Button]]:
    """At most 5 rows of 5: rows as given when they fit, else packed five a row."""
    rows = [row for row in rows if row]
    if len(rows) <= MAX_ROWS and all(len(row) <= ROW_WIDTH for row in rows):
        return rows
    flat = [button for row in rows for button in row][: MAX_ROWS * ROW_WIDTH]
    return [flat[i : i + ROW_WIDTH] for i in range(0, len(flat), ROW_WIDTH)]


def _style(button: Button, press: Press) -> discord.ButtonStyle:
    if command_name(press.action) in DANGER:
        return discord.ButtonStyle.danger
    if button.label.startswith("• "):  # the current choice (a chart's timeframe)
        return discord.ButtonStyle.primary
    return discord.ButtonStyle.secondary


def build_view(
    rows: list[list[Button]], source: str | None, store: ActionStore | None
) -> discord.ui.View | None:
    view = discord.ui.View(timeout=None)
    index = 0
    for row_number, row in enumerate(_layout(rows)):
        for button in row:
            press = press_for(button.action, source)
            label = button.label if len(button.label) <= LABEL_LIMIT else button.label[:79] + "…"
            view.add_item(
                discord.ui.Button(
                    label=label or "…",
                    custom_id=encode(press, index, store),
                    style=_style(button, press),
                    row=row_number,
                )
            )
            index += 1
    if not view.children:
        return None
    # Presses are routed by `ActionButton`; a stopped view is not kept per message.
    view.stop()
    return view


class ActionButton(discord.ui.DynamicItem[discord.ui.Button], template=TEMPLATE):
    """Every PulseWave button, whatever message it is on."""

    def __init__(self, item: discord.ui.Button) -> None:
        super().__init__(item)

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: Any, /
    ) -> ActionButton:
        assert isinstance(item, discord.ui.Button)
        return cls(item)

    async def callback(self, interaction: discord.Interaction[PulseClient]) -> None:
        await interaction.client.frontend.on_press(interaction, self.item.custom_id or "")
