"""The command registry: every command declared once (name, typed parameters,
help, examples). Help text, the Telegram menu, Discord's slash-command tree and
the console all come from here; so does argument parsing.

>>> from handlers.args import SymbolArg
>>> group = CommandGroup("market")
>>> @group.command("price", N_("Last price"), params=[Param("symbol", SymbolArg())],
...                examples=["/price BTC"])
... async def price(ctx, symbol): ...
>>> Registry([group]).find("price").usage
'/price SYMBOL'
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from handlers.args import ArgType, shorten
from handlers.context import Context
from handlers.errors import ArgumentError
from handlers.i18n import N_
from handlers.reply import Reply

Handler = Callable[..., Awaitable[Reply]]

MAX_INPUT_LENGTH = 4096  # Telegram's own message limit; nothing longer is a command


@dataclass(frozen=True)
class Param:
    name: str
    type: ArgType
    help: str = ""
    optional: bool = False
    default: Any = None
    greedy: bool = False  # takes the rest of the line (free text)


@dataclass(frozen=True)
class Command:
    name: str
    summary: str  # N_-marked, translated when shown
    handler: Handler
    params: tuple[Param, ...] = ()
    examples: tuple[str, ...] = ()
    category: str = "general"
    admin_only: bool = False
    aliases: tuple[str, ...] = ()
    # Its reply carries a picture drawn on demand (seconds, not milliseconds): the
    # chat adapters say so at once ("sending a photo…", an early Discord defer).
    draws: bool = False

    @property
    def usage(self) -> str:
        parts = [f"/{self.name}"]
        for param in self.params:
            metavar = param.type.metavar + ("…" if param.greedy else "")
            parts.append(f"[{metavar}]" if param.optional else metavar)
        return " ".join(parts)

    async def parse_args(self, ctx: Context, text: str) -> dict[str, Any]:
        """Parse the text after the command name into keyword arguments."""
        # A greedy last parameter (free text) takes the rest of the line as it was typed.
        greedy = bool(self.params) and self.params[-1].greedy
        tokens = text.split(None, len(self.params) - 1) if greedy else text.split()
        values: dict[str, Any] = {}
        position = 0  # next token to parse
        skipped: ArgumentError | None = None  # why the last optional parameter was skipped
        for index, param in enumerate(self.params):
            if position < len(tokens):
                try:
                    values[param.name] = await param.type.parse(ctx, tokens[position])
                    position += 1
                    skipped = None
                    continue
                except ArgumentError as error:
                    # An optional parameter that was left out: `/follow BTC rsi` skips
                    # the timeframe when fewer words than parameters remain.
                    left_out = len(tokens) - position < len(self.params) - index
                    if not (param.optional and left_out):
                        raise (skipped or error) from None
                    skipped = skipped or error
            if param.optional:
                values[param.name] = param.default
            else:
                raise ArgumentError(N_("Missing {metavar}."), metavar=param.type.metavar)
        if len(tokens) > position:
            extra = " ".join(tokens[position:])
            raise ArgumentError(N_("Too many arguments: “{extra}”."), extra=shorten(extra))
        return values


@dataclass
class CommandGroup:
    """The commands of one area (like an aiogram Router), collected by the Registry."""

    category: str
    commands: list[Command] = field(default_factory=list)

    def command(
        self,
        name: str,
        summary: str,
        *,
        params: Iterable[Param] = (),
        examples: Iterable[str] = (),
        admin_only: bool = False,
        aliases: Iterable[str] = (),
        draws: bool = False,
    ) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.commands.append(
                Command(
                    name,
                    summary,
                    handler,
                    tuple(params),
                    tuple(examples),
                    self.category,
                    admin_only,
                    tuple(aliases),
                    draws,
                )
            )
            return handler

        return register


class Registry:
    """All commands by name and alias, in declaration order."""

    def __init__(self, groups: Iterable[CommandGroup]) -> None:
        self.commands: list[Command] = []
        self._by_name: dict[str, Command] = {}
        for group in groups:
            for command in group.commands:
                for key in (command.name, *command.aliases):
                    if key in self._by_name:
                        raise ValueError(f"command /{key} declared twice")
                    self._by_name[key] = command
                self.commands.append(command)

    def find(self, name: str) -> Command | None:
        return self._by_name.get(name.lower())

    def names(self) -> list[str]:
        return list(self._by_name)

    def visible(self, is_admin: bool) -> list[Command]:
        return [c for c in self.commands if is_admin or not c.admin_only]

    def command_for(self, line: str | None) -> Command | None:
        """The command `line` runs (`"/chart@PulseBot ETH"` → chart), if any."""
        name = command_name(line)
        return self.find(name) if name is not None else None


def command_name(line: str | None) -> str | None:
    """`"/chart@PulseBot ETH 4h"` → `"chart"`; None if there is no name."""
    parsed = split_command(line or "")
    return parsed[0] if parsed else None


def split_command(text: str) -> tuple[str, str] | None:
    """`"/chart@PulseBot ETH 4h"` → `("chart", "ETH 4h")`; None if there is no name.

    >>> split_command("/chart@PulseBot ETH 4h"), split_command("price btc"), split_command("  ")
    (('chart', 'ETH 4h'), ('price', 'btc'), None)
    """
    stripped = text.strip()
    if not stripped:
        return None
    head, _, rest = stripped.partition(" ")
    name = head.lstrip("/").split("@", 1)[0].lower()
    if not name:
        return None
    return name, rest.strip()
