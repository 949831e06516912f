"""Discord's slash-command tree, generated from the command registry.

Every registry command becomes an `app_commands.Command` with one option per
parameter, typed from its argument type:

- timeframes, strategies (`ChoiceArg`) and languages: fixed choices;
- symbols, alarm ids, alarm conditions and command names: autocomplete (the
  exchange's markets, this chat's alarms, the alarm kinds and indicator forms,
  the commands); a suggestion is only a help, the parser checks what is sent;
- numbers and percentages: number options; free text: a string.

The callback rebuilds the command line from the options in the registry's order
(`/chart BTC/USDT 4h`) and runs it through the same dispatcher as every front
end, so parsing, validation and errors are the same as on Telegram.

Names and descriptions are localised by `CatalogueTranslator` from the gettext
catalogues (`locales/`), for the Discord locales of the languages we speak.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any, Optional

import discord
from discord import app_commands
from discord.app_commands import Choice, locale_str

from bot.discord.respond import platform_chat, translator_for
from engine.alarm_indicators import INDICATOR_NAMES
from handlers.alarm_text import AlarmView, describe
from handlers.alarms import AlarmIdArg, ConditionArg
from handlers.args import (
    ChoiceArg,
    CommandNameArg,
    LanguageArg,
    NumberArg,
    PercentArg,
    SymbolArg,
    TextArg,
    TimeframeArg,
)
from handlers.context import Services
from handlers.i18n import DEFAULT_LANGUAGE, SUPPORTED_LANGUAGES, translations
from handlers.registry import Command, Param
from handlers.session import is_admin
from storage import alarms as alarm_store
from storage.accounts import get_chat, get_user

Run = Callable[[discord.Interaction, str], Awaitable[None]]

DESCRIPTION_LIMIT = 100
MAX_SUGGESTIONS = 25
_NAME = re.compile(r"^[-_\w]{1,32}$")
CONDITIONS = (
    "above",
    "below",
    "cross",
    "change",
    *(name for name in INDICATOR_NAMES if name not in ("ema", "sma")),
    "rsi(7)",
    "ema(20)",
    "ema(50)",
    "ema(200)",
    "sma(50)",
    "sma(200)",
)
_NAME_CONTEXTS = (
    app_commands.TranslationContextLocation.command_name,
    app_commands.TranslationContextLocation.parameter_name,
)


def _cut(text: str, limit: int = DESCRIPTION_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def text(msgid: str) -> locale_str:
    """A translatable name or description: shown in English within Discord's 100
    characters, translated from its full msgid."""
    return locale_str(_cut(msgid), msgid=msgid)


def discord_language(locale: discord.Locale) -> str | None:
    """`id` → id, `tr` → tr, `en-US` → None (English is the source language)."""
    code = str(locale.value).split("-")[0].lower()
    return code if code in SUPPORTED_LANGUAGES and code != DEFAULT_LANGUAGE else None


class CatalogueTranslator(app_commands.Translator):
    """Command names, descriptions and choices from the gettext catalogues."""

    async def translate(
        self,
        string: locale_str,
        locale: discord.Locale,
        context: app_commands.TranslationContextTypes,
    ) -> str | None:
        language = discord_language(locale)
        if language is None:
            return None
        msgid = string.extras.get("msgid", string.message)
        translated = translations(language).gettext(msgid)
        if not translated or translated == msgid:
            return None
        if context.location in _NAME_CONTEXTS:
            name = translated.lower()
            return name if _NAME.match(name) else None
        return _cut(translated)


def format_value(value: object) -> str:
    """An option's value as the parser reads it (a float without exponent)."""
    if isinstance(value, float):
        number = Decimal(repr(value)).normalize()
        return format(number, "f")
    return str(value).strip()


def command_line(command: Command, values: dict[str, Any]) -> str:
    """The options of a slash command as a command line, in the registry's order."""
    parts = [command.name]
    for param in command.params:
        value = values.get(param.name)
        if value is not None and format_value(value):
            parts.append(format_value(value))
    return " ".join(parts)


class Suggestions:
    """Autocomplete callbacks (Discord asks on every keystroke: keep them quick)."""

    def __init__(self, services: Services) -> None:
        self.services = services

    async def symbols(self, interaction: discord.Interaction, current: str) -> list[Choice[str]]:
        known = await self.services.market.symbols()
        query = re.sub(r"[^A-Z0-9]", "", current.upper())
        favourites = self.services.config.watchlist
        quote = self.services.config.quote_currency.upper()

        def rank(symbol: str) -> tuple[int, ...] | None:
            base, _, symbol_quote = symbol.partition("/")
            compact = base + symbol_quote
            if not query or query in (base, compact):
                match = 0
            elif base.startswith(query):
                match = 1
            elif compact.startswith(query):
                match = 2
            elif query in compact:
                match = 3
            else:
                return None
            return (match, symbol not in favourites, symbol_quote != quote, len(symbol))

        ranked = sorted((r, s) for s in known if (r := rank(s)) is not None)
        return [Choice(name=s, value=s) for _, s in ranked[:MAX_SUGGESTIONS]]

    async def commands(self, interaction: discord.Interaction, current: str) -> list[Choice[str]]:
        tr = translator_for(interaction)
        admin = is_admin(self.services.config.admin_ids, "discord", str(interaction.user.id))
        query = current.strip().lstrip("/").lower()
        return [
            Choice(name=_cut(f"/{c.name} — {tr.gettext(c.summary)}"), value=c.name)
            for c in self.services.registry.visible(admin)
            if c.name.startswith(query)
        ][:MAX_SUGGESTIONS]

    async def alarm_ids(self, interaction: discord.Interaction, current: str) -> list[Choice[str]]:
        # Read only (no user or chat upserted per keystroke): a chat we do not know
        # has no alarms to suggest.
        async with self.services.db.session() as session:
            chat = await get_chat(session, "discord", platform_chat(interaction).external_id)
            user = await get_user(session, "discord", str(interaction.user.id))
            rows = await alarm_store.chat_alarms(session, chat.id) if chat is not None else []
        tr = translator_for(interaction, user.language if user is not None else None)
        query = current.strip().lstrip("#").lower()
        described = ((v, describe(tr, v)) for v in map(AlarmView.of, rows))
        choices = [
            Choice(name=_cut(f"#{v.id} · {label}"), value=str(v.id))
            for v, label in described
            if str(v.id).startswith(query) or query in label.lower()
        ]
        if len(rows) > 1 and "all".startswith(query):
            choices.append(Choice(name="all", value="all"))
        return choices[:MAX_SUGGESTIONS]

    async def conditions(self, interaction: discord.Interaction, current: str) -> list[Choice[str]]:
        query = current.strip().lower()
        found = [c for c in CONDITIONS if c.startswith(query)]
        if query and query not in found and ("(" in query or not found):
            found.insert(0, _cut(query))  # e.g. rsi(21): offered as typed
        return [Choice(name=c, value=c) for c in found[:MAX_SUGGESTIONS]]


def _option(param: Param, services: Services, suggest: Suggestions) -> tuple[Any, Any, Any]:
    """(annotation, choices, autocomplete) of a parameter's option."""
    arg = param.type
    if isinstance(arg, TimeframeArg):
        return str, [Choice(name=tf, value=tf) for tf in services.config.timeframes], None
    if isinstance(arg, LanguageArg):
        return str, [Choice(name=n, value=c) for c, n in SUPPORTED_LANGUAGES.items()], None
    if isinstance(arg, ChoiceArg):
        return str, [Choice(name=c, value=c) for c in arg.options[:MAX_SUGGESTIONS]], None
    if isinstance(arg, SymbolArg):
        return app_commands.Range[str, 1, 32], None, suggest.symbols
    if isinstance(arg, CommandNameArg):
        return app_commands.Range[str, 1, 32], None, suggest.commands
    if isinstance(arg, AlarmIdArg):
        return app_commands.Range[str, 1, 16], None, suggest.alarm_ids
    if isinstance(arg, ConditionArg):
        return app_commands.Range[str, 1, 32], None, suggest.conditions
    if isinstance(arg, PercentArg):
        return app_commands.Range[float, 0, float(arg.maximum)], None, None
    if isinstance(arg, NumberArg):
        low = 0.0 if arg.positive else -float(arg.maximum)
        return app_commands.Range[float, low, float(arg.maximum)], None, None
    if isinstance(arg, TextArg):
        return app_commands.Range[str, 1, min(arg.max_length, 6000)], None, None
    return str, None, None


def slash_command(
    command: Command, services: Services, suggest: Suggestions, run: Run
) -> app_commands.Command[Any, ..., None]:
    parameters = [
        inspect.Parameter(
            "interaction", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=discord.Interaction
        )
    ]
    descriptions: dict[str, locale_str] = {}
    choices: dict[str, list[Choice[Any]]] = {}
    completers: dict[str, Any] = {}
    for param in command.params:
        annotation, fixed, completer = _option(param, services, suggest)
        parameters.append(
            inspect.Parameter(
                param.name,
                inspect.Parameter.KEYWORD_ONLY,
                annotation=Optional[annotation] if param.optional else annotation,  # noqa: UP045
                default=None if param.optional else inspect.Parameter.empty,
            )
        )
        descriptions[param.name] = text(param.help or param.type.metavar)
        if fixed:
            choices[param.name] = fixed
        if completer is not None:
            completers[param.name] = completer

    async def callback(interaction: discord.Interaction, **values: Any) -> None:
        await run(interaction, command_line(command, values))

    callback.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    callback.__name__ = callback.__qualname__ = command.name
    callback.__discord_app_commands_param_description__ = descriptions  # type: ignore[attr-defined]
    callback.__discord_app_commands_param_choices__ = choices  # type: ignore[attr-defined]
    callback.__discord_app_commands_param_autocomplete__ = completers  # type: ignore[attr-defined]
    return app_commands.Command(
        name=locale_str(command.name), description=text(command.summary), callback=callback
    )


def build_tree(client: discord.Client, services: Services, run: Run) -> app_commands.CommandTree:
    """The tree of every registry command (set `CatalogueTranslator` before syncing)."""
    tree = app_commands.CommandTree(client)
    suggest = Suggestions(services)
    for command in services.registry.commands:
        tree.add_command(slash_command(command, services, suggest, run))
    return tree
