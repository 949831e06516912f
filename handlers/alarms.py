"""/alarm, /alarms and /delalarm.

One command sets every kind of alarm, read after the symbol:

- ``above|below|cross PRICE``
- ``change PCT [WINDOW]`` (WINDOW: a timeframe, default 1h)
- ``INDICATOR above|below VALUE [TF]`` (INDICATOR: see `engine.alarm_indicators`)

The registry parses SYMBOL and the condition word; the rest of the line depends
on that word, so it is read here, with the same argument types and errors.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from decimal import Decimal

from engine.alarm_indicators import (
    INDICATOR_FORMS,
    INDICATOR_NAMES,
    IndicatorSpec,
    indicator_candles,
    indicator_fires,
    latest_value,
    parse_indicator,
)
from engine.market.timeframes import DEFAULT_TIMEFRAME
from engine.market.types import STALE_CANDLES
from handlers.alarm_charts import PRICE_LEVEL_INDICATORS
from handlers.alarm_engine import alarm_service
from handlers.alarm_text import PRICE_KINDS, AlarmView, alarm_line, describe, indicator_number
from handlers.args import ChoiceArg, NumberArg, PercentArg, TextArg, TimeframeArg, shorten
from handlers.context import Context
from handlers.errors import ArgumentError, UserError
from handlers.i18n import N_
from handlers.market import SYMBOL
from handlers.registry import CommandGroup, Param
from handlers.reply import Button, Reply
from storage import alarms as alarm_store

group = CommandGroup("alarms")

MAX_DISTANCE = 100  # a price level more than 100x away from the price is a typo
MIN_CHANGE_PCT = Decimal("0.1")
POSITIVE_INDICATORS = ("ema", "sma", "atr", "volume")
MAX_ALARM_ID = 2**31 - 1


@dataclass(frozen=True, slots=True)
class Request:
    """A parsed /alarm line (after the symbol)."""

    kind: str
    level: Decimal
    timeframe: str | None = None
    indicator: IndicatorSpec | None = None
    direction: str | None = None


ALARMS_FORBIDDEN = N_("Only the chat's admins can change this chat's alarms.")


def _require_manager(ctx: Context) -> None:
    if not ctx.manages_chat:
        raise UserError(ALARMS_FORBIDDEN)


def _too_many(words: list[str]) -> ArgumentError:
    return ArgumentError(N_("Too many arguments: “{extra}”."), extra=shorten(" ".join(words)))


def _indicator(raw: str) -> IndicatorSpec:
    try:
        return parse_indicator(raw)
    except ValueError:
        name = raw.split("(")[0].strip().lower()
        if name in INDICATOR_NAMES:
            raise ArgumentError(
                N_("“{raw}” is not a valid indicator. Use one of: {forms}."),
                raw=shorten(raw),
                forms=INDICATOR_FORMS,
            ) from None
        raise ArgumentError(
            N_(
                "“{raw}” is not an alarm condition. Use above, below, cross, change "
                "or an indicator: {forms}."
            ),
            raw=shorten(raw),
            forms=INDICATOR_FORMS,
        ) from None


@dataclass(frozen=True)
class ConditionArg:
    """The word after the symbol: ``above``, ``below``, ``cross``, ``change`` or an
    indicator (checked here, so that a wrong word is reported before the rest)."""

    metavar: str = "CONDITION"
    choices: tuple[str, ...] = ()

    async def parse(self, ctx: Context, raw: str) -> str:
        word = raw.strip().lower()
        if word in (*PRICE_KINDS, "change"):
            return word
        return _indicator(raw).label()


CONDITION = Param(
    "condition",
    ConditionArg(),
    N_("above, below, cross, change, or an indicator: rsi, rsi(7), ema(50), macd, bb_pct …"),
)
VALUE = Param(
    "value",
    TextArg("VALUE", max_length=100),
    N_(
        "PRICE after above, below or cross; PCT [WINDOW] after change; "
        "above|below VALUE [TF] after an indicator"
    ),
    greedy=True,
)


async def parse_request(ctx: Context, condition: str, rest: str) -> Request:
    word, words = condition.strip().lower(), rest.split()
    if word in PRICE_KINDS:
        if len(words) > 1:  # (the registry makes sure there is a first word)
            raise _too_many(words[1:])
        return Request(word, await NumberArg("PRICE").parse(ctx, words[0]))
    if word == "change":
        if len(words) > 2:
            raise _too_many(words[2:])
        pct = await PercentArg().parse(ctx, words[0])
        if pct < MIN_CHANGE_PCT:
            raise ArgumentError(
                N_("{name} must be at least {limit}."),
                name="PCT",
                limit=ctx.tr.percent(float(MIN_CHANGE_PCT), False),
            )
        window = await TimeframeArg().parse(ctx, words[1]) if len(words) > 1 else DEFAULT_TIMEFRAME
        return Request("change", pct, timeframe=window)
    spec = parse_indicator(condition)  # checked by ConditionArg
    if len(words) < 2 or words[0].lower() not in ("above", "below"):
        raise ArgumentError(
            N_(
                "After {indicator} write above or below and a value, "
                "e.g. /alarm BTC {indicator} above 70 4h."
            ),
            indicator=spec.label(),
        )
    if len(words) > 3:
        raise _too_many(words[3:])
    level = await NumberArg("VALUE", positive=False).parse(ctx, words[1])
    if spec.name in POSITIVE_INDICATORS and level <= 0:
        raise ArgumentError(N_("{name} must be greater than zero."), name="VALUE")
    if spec.name == "rsi" and not 0 <= level <= 100:
        raise ArgumentError(N_("RSI runs from 0 to 100: choose a value in that range."))
    timeframe = await TimeframeArg().parse(ctx, words[2]) if len(words) > 2 else DEFAULT_TIMEFRAME
    return Request("indicator", level, timeframe, spec, words[0].lower())


def _check_distance(ctx: Context, symbol: str, level: float, price: float) -> None:
    if price > 0 and not price / MAX_DISTANCE <= level <= price * MAX_DISTANCE:
        raise UserError(
            N_(
                "{level} is more than {times} times away from the price of {symbol} "
                "({price}). Check the number."
            ),
            level=ctx.tr.price(level),
            times=MAX_DISTANCE,
            symbol=symbol,
            price=ctx.tr.price(price),
        )


def _stale_text(ctx: Context, symbol: str) -> str:
    return ctx._(
        N_(
            "⚠️ The data for {symbol} is stale right now: the alarm waits for fresh "
            "data before it can fire."
        ),
        symbol=symbol,
    )


@group.command(
    "alarm",
    N_("Alarm on a price, a move within a window, or an indicator"),
    params=[SYMBOL, CONDITION, VALUE],
    examples=[
        "/alarm BTC above 70000",
        "/alarm ETH cross 2,500",
        "/alarm BTC change 5% 4h",
        "/alarm BTC rsi below 30 4h",
        "/alarm ETH ema(50) above 2k 1d",
    ],
)
async def alarm_command(ctx: Context, symbol: str, condition: str, value: str) -> Reply:
    _require_manager(ctx)
    request = await parse_request(ctx, condition, value)
    market = ctx.services.market
    level = float(request.level)
    notes: list[str] = []
    current: float | None = None  # the indicator's value now
    if request.indicator is not None:
        assert request.timeframe is not None and request.direction is not None
        label = request.indicator.label()
        candles = await market.candles(symbol, request.timeframe, indicator_candles(label))
        reference = float(candles.frame["close"].iloc[-1])
        stale = candles.behind(STALE_CANDLES)
        if request.indicator.name in PRICE_LEVEL_INDICATORS:
            _check_distance(ctx, symbol, level, reference)
        current = await asyncio.to_thread(latest_value, request.indicator, candles.frame)
    else:
        ticker = await market.ticker(symbol)
        reference, stale = ticker.last, ticker.stale
        if request.kind in PRICE_KINDS:
            _check_distance(ctx, symbol, level, reference)
    service = await alarm_service(ctx.services)
    new = alarm_store.NewAlarm(
        symbol,
        request.kind,
        level,
        request.timeframe,
        request.indicator.label() if request.indicator else None,
        request.direction,
        reference,
    )
    limit = ctx.services.config.max_alarms_per_chat
    async with ctx.services.db.session() as session:
        row = await alarm_store.create_alarm(session, ctx.chat.id, ctx.user.id, new, limit)
    if row is None:
        raise UserError(
            N_(
                "This chat already has {limit} active alarms, the most it can. "
                "Delete one with /delalarm first."
            ),
            limit=limit,
        )
    view = AlarmView.of(row)
    service.track(view)
    notes.append(describe(ctx.tr, view))
    if request.indicator is None:
        notes.append(ctx._(N_("Price now: {price}."), price=ctx.tr.price(reference)))
    elif current is None:
        notes.append(
            ctx._(
                N_("{indicator} has no value yet on {timeframe}; the alarm waits for one."),
                indicator=view.indicator,
                timeframe=view.timeframe,
            )
        )
    else:
        notes.append(
            ctx._(
                N_("{indicator} now: {value} (last {timeframe} close)."),
                indicator=view.indicator,
                value=indicator_number(ctx.tr, current),
                timeframe=view.timeframe,
            )
        )
    if request.kind in ("above", "below") and indicator_fires(request.kind, level, reference):
        notes.append(
            ctx._(
                N_("The price is already past {level}: the alarm fires on the next price update."),
                level=ctx.tr.price(level),
            )
        )
    if request.direction in ("above", "below") and indicator_fires(
        request.direction, level, current
    ):
        notes.append(
            ctx._(
                N_(
                    "The condition already holds: the alarm fires at the next {timeframe} "
                    "close unless that changes."
                ),
                timeframe=view.timeframe,
            )
        )
    if stale:
        notes.append(_stale_text(ctx, symbol))
    return Reply(
        title=ctx._(N_("🔔 Alarm #{id} set"), id=view.id),
        text="\n".join(notes),
        footer=ctx._(N_("An alarm fires once, then turns off.")),
        buttons=[
            [
                Button(ctx._(N_("🗑 Delete")), f"delalarm {view.id}"),
                Button(ctx._(N_("🔔 Alarms")), "alarms"),
            ]
        ],
    )


@group.command(
    "alarms", N_("This chat's alarms, with buttons to delete them"), examples=["/alarms"]
)
async def alarms_command(ctx: Context) -> Reply:
    async with ctx.services.db.session() as session:
        rows = await alarm_store.chat_alarms(session, ctx.chat.id)
    if not rows:
        return Reply(text=ctx._(N_("This chat has no alarms yet. Try /alarm BTC above 70000.")))
    views = [AlarmView.of(row) for row in rows]
    active = sum(1 for v in views if v.status == "active")
    buttons = [[Button(f"🗑 #{v.id} · {describe(ctx.tr, v)}", f"delalarm {v.id}")] for v in views]
    if len(views) > 1:
        buttons.append([Button(ctx._(N_("🗑 Delete all")), "delalarm all")])
    return Reply(
        title=ctx._(
            N_("Alarms · {active} active of {limit}"),
            active=active,
            limit=ctx.services.config.max_alarms_per_chat,
        ),
        text="\n".join(alarm_line(ctx.tr, v) for v in views),
        buttons=buttons if ctx.manages_chat else [],
    )


@dataclass(frozen=True)
class AlarmIdArg:
    """An alarm's number from /alarms (``12`` or ``#12``), or ``all``."""

    metavar: str = "ID|all"
    choices: tuple[str, ...] = ()

    async def parse(self, ctx: Context, raw: str) -> int | str:
        text = raw.strip().lower().removeprefix("#")
        if text == "all":
            return "all"
        if text.isascii() and text.isdigit() and 0 < int(text) <= MAX_ALARM_ID:
            return int(text)
        raise ArgumentError(
            N_("“{raw}” is not an alarm number. Use a number from /alarms, or all."),
            raw=shorten(raw),
        )


@group.command(
    "delalarm",
    N_("Delete an alarm, or all of this chat's alarms"),
    params=[
        Param("target", AlarmIdArg(), N_("the alarm's number from /alarms, or all")),
        Param("confirm", ChoiceArg("confirm", ("confirm",)), optional=True),
    ],
    examples=["/delalarm 1", "/delalarm all"],
)
async def delalarm_command(ctx: Context, target: int | str, confirm: str | None) -> Reply:
    _require_manager(ctx)
    service = await alarm_service(ctx.services)
    alarms_button = Button(ctx._(N_("🔔 Alarms")), "alarms")
    if isinstance(target, int):
        async with ctx.services.db.session() as session:
            row = await alarm_store.delete_alarm(session, ctx.chat.id, target)
        if row is None:
            raise UserError(N_("This chat has no alarm #{id}. See /alarms."), id=target)
        service.forget(target)
        return Reply(
            text=ctx._(
                N_("Deleted alarm #{id}: {what}."),
                id=target,
                what=describe(ctx.tr, AlarmView.of(row)),
            ),
            buttons=[[alarms_button]],
        )
    if confirm is None:
        async with ctx.services.db.session() as session:
            count = await alarm_store.count_alarms(session, ctx.chat.id)
        if not count:
            return Reply(text=ctx._(N_("This chat has no alarms to delete.")))
        return Reply(
            text=ctx.ngettext(
                "Delete this chat's {count} alarm? This cannot be undone.",
                "Delete all {count} of this chat's alarms? This cannot be undone.",
                count,
                count=count,
            ),
            buttons=[
                [
                    Button(ctx._(N_("🗑 Yes, delete all")), "delalarm all confirm"),
                    Button(ctx._(N_("Keep them")), "alarms"),
                ]
            ],
        )
    async with ctx.services.db.session() as session:
        deleted, active_ids = await alarm_store.delete_all(session, ctx.chat.id)
    for alarm_id in active_ids:
        service.forget(alarm_id)
    return Reply(
        text=ctx.ngettext(
            "Deleted {count} alarm.", "Deleted {count} alarms.", deleted, count=deleted
        ),
        buttons=[[alarms_button]],
    )
