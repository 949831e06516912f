"""What the wizards ask: `/alarm` (symbol → kind → level) and `/follow` (symbol →
timeframe → strategy). Each step offers buttons and accepts typed input, checked
with the same argument types (and errors) as the typed command; the last step
builds the command line a user could have typed and runs it.

The conversation itself (aiogram FSM, cancel, bad input) is `routers/wizards.py`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal

from handlers.alarms import ALARMS_FORBIDDEN
from handlers.args import ChoiceArg, NumberArg, PercentArg, SymbolArg, TimeframeArg
from handlers.context import Context
from handlers.i18n import N_
from handlers.signals import FOLLOW_STRATEGIES, FOLLOWS_FORBIDDEN

Values = dict[str, str]
ANY = "any"
ALARM_KINDS = ("above", "below", "cross", "change")
SYMBOL_BUTTONS = 9


@dataclass(frozen=True)
class Step:
    key: str
    prompt: Callable[[Context, Values], Awaitable[str]]
    options: Callable[[Context, Values], list[tuple[str, str]]]  # (label, value)
    parse: Callable[[Context, str, Values], Awaitable[str]]  # raises UserError/MarketError


@dataclass(frozen=True)
class Wizard:
    command: str
    title: str  # N_-marked
    forbidden: str  # N_-marked: said to a group member who is not an admin
    steps: tuple[Step, ...]
    build: Callable[[Values], str]  # the command line to run at the end


def number_text(value: Decimal) -> str:
    """A Decimal as a plain number for a command line: 70000, 0.5."""
    return format(value.normalize(), "f")


# --- shared: the market -----------------------------------------------------------


async def _symbol_prompt(ctx: Context, values: Values) -> str:
    return ctx._(N_("Which market? Pick one or type its symbol (e.g. SOL or SOL/USDT)."))


def _symbol_options(ctx: Context, values: Values) -> list[tuple[str, str]]:
    symbols = ctx.services.config.watchlist[:SYMBOL_BUTTONS]
    return [(symbol.split("/")[0], symbol) for symbol in symbols]


async def _symbol_parse(ctx: Context, raw: str, values: Values) -> str:
    return await SymbolArg().parse(ctx, raw)


SYMBOL_STEP = Step("symbol", _symbol_prompt, _symbol_options, _symbol_parse)


# --- /alarm -----------------------------------------------------------------------


async def _kind_prompt(ctx: Context, values: Values) -> str:
    return ctx._(N_("{symbol}: alert me when the price…"), symbol=values["symbol"])


def _kind_options(ctx: Context, values: Values) -> list[tuple[str, str]]:
    return [
        (ctx._(N_("⬆️ rises to")), "above"),
        (ctx._(N_("⬇️ falls to")), "below"),
        (ctx._(N_("↕️ crosses")), "cross"),
        (ctx._(N_("📊 moves by %")), "change"),
    ]


async def _kind_parse(ctx: Context, raw: str, values: Values) -> str:
    return await ChoiceArg("KIND", ALARM_KINDS).parse(ctx, raw)


async def _level_prompt(ctx: Context, values: Values) -> str:
    symbol = values["symbol"]
    if values["kind"] == "change":
        return ctx._(
            N_("By how many percent within an hour? Pick one or type it (e.g. 5%)."),
        )
    try:
        last = (await ctx.services.market.ticker(symbol)).last
    except Exception:  # the price is a help here, not a requirement
        return ctx._(N_("At what price? Type it (e.g. 70000 or 70k)."))
    return ctx._(
        N_("{symbol} is at {price} now. At what price? Type it (e.g. {example})."),
        symbol=symbol,
        price=ctx.tr.price(last),
        example=f"{last * 1.05:.0f}" if last >= 100 else f"{last * 1.05:.4g}",
    )


def _level_options(ctx: Context, values: Values) -> list[tuple[str, str]]:
    if values.get("kind") == "change":
        return [("2%", "2"), ("5%", "5"), ("10%", "10")]
    return []


async def _level_parse(ctx: Context, raw: str, values: Values) -> str:
    if values["kind"] == "change":
        return number_text(await PercentArg().parse(ctx, raw)) + "%"
    return number_text(await NumberArg("PRICE").parse(ctx, raw))


ALARM = Wizard(
    command="alarm",
    title=N_("🔔 New alarm"),
    forbidden=ALARMS_FORBIDDEN,
    steps=(
        SYMBOL_STEP,
        Step("kind", _kind_prompt, _kind_options, _kind_parse),
        Step("level", _level_prompt, _level_options, _level_parse),
    ),
    build=lambda v: f"alarm {v['symbol']} {v['kind']} {v['level']}",
)


# --- /follow ----------------------------------------------------------------------


async def _timeframe_prompt(ctx: Context, values: Values) -> str:
    return ctx._(N_("{symbol}: signals of which timeframe?"), symbol=values["symbol"])


def _timeframe_options(ctx: Context, values: Values) -> list[tuple[str, str]]:
    config = ctx.services.config
    offered = config.signal_timeframes or tuple(
        tf for tf in ("1h", "4h") if tf in config.timeframes
    )
    frames = [(tf, tf) for tf in offered]
    return [(ctx._(N_("Every timeframe")), ANY), *frames]


async def _timeframe_parse(ctx: Context, raw: str, values: Values) -> str:
    if raw.strip().lower() in (ANY, "every", "*"):
        return ANY
    return await TimeframeArg().parse(ctx, raw)


async def _strategy_prompt(ctx: Context, values: Values) -> str:
    return ctx._(N_("Which strategy's signals? pulsewave is the default."))


def _strategy_options(ctx: Context, values: Values) -> list[tuple[str, str]]:
    return [(name, name) for name in FOLLOW_STRATEGIES]


async def _strategy_parse(ctx: Context, raw: str, values: Values) -> str:
    return await ChoiceArg("STRATEGY", FOLLOW_STRATEGIES).parse(ctx, raw)


def _follow_line(values: Values) -> str:
    parts = ["follow", values["symbol"], values["timeframe"], values["strategy"]]
    return " ".join(part for part in parts if part != ANY)


FOLLOW = Wizard(
    command="follow",
    title=N_("📡 Follow signals"),
    forbidden=FOLLOWS_FORBIDDEN,
    steps=(
        SYMBOL_STEP,
        Step("timeframe", _timeframe_prompt, _timeframe_options, _timeframe_parse),
        Step("strategy", _strategy_prompt, _strategy_options, _strategy_parse),
    ),
    build=_follow_line,
)

WIZARDS: dict[str, Wizard] = {wizard.command: wizard for wizard in (ALARM, FOLLOW)}
