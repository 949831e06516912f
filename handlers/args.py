"""Argument types shared by every front end: parsing, validation and the error
each gives, in the user's language, when the input is wrong.

Every type has a `metavar` (shown in usage), optional `choices` (Discord shows
them as choices, Telegram as buttons) and an async `parse(ctx, raw)`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

from engine.market.symbols import close_matches, normalize_symbol
from engine.market.timeframes import TIMEFRAMES, normalize_timeframe
from engine.market.types import UnknownSymbol
from handlers.context import Context
from handlers.errors import ArgumentError, UserError
from handlers.i18n import N_, SUPPORTED_LANGUAGES

MAX_NUMBER = Decimal("1e15")  # larger than any price, balance or quantity we handle
_SUFFIXES = {"k": Decimal(1_000), "m": Decimal(1_000_000), "b": Decimal(1_000_000_000)}
_NUMBER = re.compile(r"^[+-]?(\d{1,3}(,\d{3})+|\d+)(\.\d+)?|[+-]?\.\d+$")


class ArgType(Protocol):
    metavar: str

    @property
    def choices(self) -> tuple[str, ...]: ...

    async def parse(self, ctx: Context, raw: str) -> Any: ...


def shorten(raw: str, limit: int = 24) -> str:
    """User input echoed back in an error, cut so that it cannot flood the reply."""
    return raw if len(raw) <= limit else raw[: limit - 1] + "…"


def parse_number(raw: str) -> Decimal | None:
    """`70000`, `70,000`, `70k`, `1.5m`, `0.25` → Decimal; None if not a number.

    Only ASCII digits count (no `٣`, no `1e400`, no `nan`); commas must group
    thousands, so `1,5` is rejected rather than guessed.

    >>> [parse_number(s) for s in ("70,000", "70k", "1.5m", "1,5", "nan")]
    [Decimal('70000'), Decimal('70000'), Decimal('1500000.0'), None, None]
    """
    text = raw.strip().lower().replace("_", "")
    multiplier = Decimal(1)
    if text and text[-1] in _SUFFIXES:
        multiplier, text = _SUFFIXES[text[-1]], text[:-1]
    if not text.isascii() or not _NUMBER.fullmatch(text):
        return None
    try:
        value = Decimal(text.replace(",", "")) * multiplier
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


@dataclass(frozen=True)
class SymbolArg:
    """A market symbol; checked against the markets the feed serves."""

    metavar: str = "SYMBOL"
    choices: tuple[str, ...] = ()

    async def parse(self, ctx: Context, raw: str) -> str:
        symbol = normalize_symbol(raw, ctx.services.config.quote_currency)
        if symbol is None:
            raise ArgumentError(
                N_("“{raw}” is not a market symbol. Try BTC, ETH/USDT or BTCUSDT."),
                raw=shorten(raw),
            )
        market = ctx.services.market
        if not await market.has_symbol(symbol):
            raise UnknownSymbol(symbol, close_matches(symbol, await market.symbols()))
        return symbol


@dataclass(frozen=True)
class TimeframeArg:
    metavar: str = "TF"

    @property
    def choices(self) -> tuple[str, ...]:
        return TIMEFRAMES

    async def parse(self, ctx: Context, raw: str) -> str:
        timeframe = normalize_timeframe(raw)
        if timeframe is None or timeframe not in ctx.services.config.timeframes:
            raise ArgumentError(
                N_("“{raw}” is not a timeframe. Use one of: {choices}."),
                raw=shorten(raw),
                choices=" ".join(ctx.services.config.timeframes),
            )
        return timeframe


@dataclass(frozen=True)
class NumberArg:
    """A positive-or-not number within bounds (`70k`, `70,000`, `1.5m`)."""

    metavar: str = "NUMBER"
    minimum: Decimal | None = None
    maximum: Decimal = MAX_NUMBER
    positive: bool = True
    choices: tuple[str, ...] = ()

    async def parse(self, ctx: Context, raw: str) -> Decimal:
        value = parse_number(raw)
        if value is None:
            raise ArgumentError(
                N_("“{raw}” is not a number. Examples: 70000, 70,000, 70k, 1.5m."), raw=shorten(raw)
            )
        if abs(value) > self.maximum:
            raise ArgumentError(
                N_("{name} is too large (at most {limit})."),
                name=self.metavar,
                limit=ctx.tr.number(float(self.maximum), 0),
            )
        if self.positive and value <= 0:
            raise ArgumentError(N_("{name} must be greater than zero."), name=self.metavar)
        if self.minimum is not None and value < self.minimum:
            raise ArgumentError(
                N_("{name} must be at least {limit}."),
                name=self.metavar,
                limit=ctx.tr.number(float(self.minimum)),
            )
        return value


@dataclass(frozen=True)
class PercentArg:
    """`2%` or `2` → Decimal('2') (percent units)."""

    metavar: str = "PCT"
    maximum: Decimal = Decimal(100)
    choices: tuple[str, ...] = ()

    async def parse(self, ctx: Context, raw: str) -> Decimal:
        value = parse_number(raw.strip().removesuffix("%"))
        if value is None or not (0 < value <= self.maximum):
            raise ArgumentError(
                N_("“{raw}” is not a percentage between 0 and {limit}. Example: 2%."),
                raw=shorten(raw),
                limit=ctx.tr.number(float(self.maximum), 0),
            )
        return value


@dataclass(frozen=True)
class ChoiceArg:
    metavar: str
    options: tuple[str, ...] = field(default=())

    @property
    def choices(self) -> tuple[str, ...]:
        return self.options

    async def parse(self, ctx: Context, raw: str) -> str:
        value = raw.strip().lower()
        if value not in self.options:
            raise ArgumentError(
                N_("“{raw}” is not valid here. Use one of: {choices}."),
                raw=shorten(raw),
                choices=" ".join(self.options),
            )
        return value


@dataclass(frozen=True)
class LanguageArg:
    metavar: str = "CODE"

    @property
    def choices(self) -> tuple[str, ...]:
        return tuple(SUPPORTED_LANGUAGES)

    async def parse(self, ctx: Context, raw: str) -> str:
        code = raw.strip().lower().replace("_", "-").split("-")[0]
        if code not in SUPPORTED_LANGUAGES:
            raise ArgumentError(
                N_("“{raw}” is not a language I speak. Choose one of: {choices}."),
                raw=shorten(raw),
                choices=", ".join(SUPPORTED_LANGUAGES),
            )
        return code


@dataclass(frozen=True)
class CommandNameArg:
    metavar: str = "COMMAND"
    choices: tuple[str, ...] = ()

    async def parse(self, ctx: Context, raw: str) -> str:
        name = raw.strip().lstrip("/").split("@")[0].lower()
        if ctx.services.registry.find(name) is None:
            raise UserError(
                N_("There is no command /{name}. Send /help for the list."), name=shorten(name)
            )
        return ctx.services.registry.find(name).name  # type: ignore[union-attr]


@dataclass(frozen=True)
class TextArg:
    """Free text (the rest of the line when the parameter is greedy)."""

    metavar: str = "TEXT"
    max_length: int = 1000
    choices: tuple[str, ...] = ()

    async def parse(self, ctx: Context, raw: str) -> str:
        text = raw.strip()
        if len(text) > self.max_length:
            raise ArgumentError(
                N_("That text is too long (at most {limit} characters)."), limit=self.max_length
            )
        return text
