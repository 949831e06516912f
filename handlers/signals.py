"""/analyze, /signals, /follow, /unfollow and /following."""

from __future__ import annotations

import asyncio

from engine.analysis import Analysis, analyze
from engine.charts import CHART_CANDLES
from engine.signals import track_record
from engine.strategies import STRATEGIES
from engine.strategies.pulsewave.levels import Level
from engine.strategies.pulsewave.strategy import PulsewaveParams, Setup
from handlers.args import ChoiceArg, SymbolArg, TimeframeArg
from handlers.context import Context
from handlers.errors import UserError
from handlers.i18n import N_
from handlers.market import SYMBOL, TIMEFRAME, stale_note
from handlers.registry import CommandGroup, Param
from handlers.reply import Button, Field, Reply, Tone
from handlers.signal_text import (
    ANY_TIMEFRAME,
    FACTOR_LABELS,
    SignalView,
    regime_label,
    setup_label,
    side_label,
    signal_line,
    stats_text,
    timeframe_label,
)
from storage import follows as follow_store
from storage import signals as signal_store

group = CommandGroup("market")

ANALYZE_CANDLES = 500  # enough for EMA 200 / SMA 200 and the regime's slow horizon
RECENT_SIGNALS = 8
DEFAULT_FOLLOW_STRATEGY = "pulsewave"
# The default first, then the other strategies, TradingView alerts and all of them.
FOLLOW_STRATEGIES = (
    DEFAULT_FOLLOW_STRATEGY,
    *(name for name in STRATEGIES if name != DEFAULT_FOLLOW_STRATEGY),
    "tradingview",
    follow_store.ALL_STRATEGIES,
)

ANY_TF = Param(
    "timeframe",
    TimeframeArg(),
    N_("timeframe (default: every timeframe)"),
    optional=True,
    default=None,
)
STRATEGY = Param(
    "strategy",
    ChoiceArg("STRATEGY", FOLLOW_STRATEGIES),
    N_("pulsewave (default), rsi, ma_cross, ut_bot, tradingview or all"),
    optional=True,
    default=None,
)


# --- /analyze ------------------------------------------------------------------


def _level_text(ctx: Context, level: Level) -> str:
    return ctx.ngettext(
        "{price} (strength {strength}/100, {touches} touch)",
        "{price} (strength {strength}/100, {touches} touches)",
        level.touches,
        price=ctx.tr.price(level.price),
        strength=ctx.tr.number(level.strength * 100, 0),
        touches=level.touches,
    )


def _reading(ctx: Context, value: float | None, decimals: int = 2) -> str:
    return "—" if value is None else ctx.tr.number(value, decimals)


def _setup_text(ctx: Context, setup: Setup, params: PulsewaveParams) -> str:
    passes = setup.score >= params.min_score and setup.reward_risk >= params.min_rr
    head = ctx._(
        N_("{side} {setup}: entry {entry} · stop {stop} · target {target} · R:R {rr}"),
        side=side_label(ctx.tr, setup.side),
        setup=setup_label(ctx.tr, setup.name),
        entry=ctx.tr.price(setup.entry),
        stop=ctx.tr.price(setup.stop),
        target=ctx.tr.price(setup.target),
        rr=ctx.tr.number(setup.reward_risk, 2),
    )
    verdict = (
        ctx._(N_("Confluence {score}/100: a signal."), score=ctx.tr.number(setup.score, 0))
        if passes
        else ctx._(
            N_("Confluence {score}/100: below the bar (needs {min_score} and R:R {min_rr})."),
            score=ctx.tr.number(setup.score, 0),
            min_score=ctx.tr.number(params.min_score, 0),
            min_rr=ctx.tr.number(params.min_rr, 1),
        )
    )
    maxima = params.weights.by_factor()
    total = sum(maxima.values()) or 1.0
    parts = [
        f"{ctx._(FACTOR_LABELS[name])} {ctx.tr.number(points, 0)}/"
        f"{ctx.tr.number(100 * maxima[name] / total, 0)}"
        for name, points in setup.points.items()
        if name in FACTOR_LABELS
    ]
    return f"{head}\n{verdict}\n" + " · ".join(parts)


def _markers(analysis: Analysis, first_visible_ms: int) -> tuple[tuple[int, str], ...]:
    """Every strategy's signals on the visible candles (one marker per candle and side)."""
    seen = {
        (s.candle_open_ms, s.side)
        for signals in analysis.signals.values()
        for s in signals
        if s.candle_open_ms >= first_visible_ms
    }
    return tuple(sorted(seen))


@group.command(
    "analyze",
    N_("Regime, indicator readings, support/resistance, confluence and the current setup"),
    params=[SYMBOL, TIMEFRAME],
    examples=["/analyze BTC", "/analyze ETH 4h"],
    draws=True,
)
async def analyze_command(ctx: Context, symbol: str, timeframe: str) -> Reply:
    candles = await ctx.services.market.candles(symbol, timeframe, ANALYZE_CANDLES)
    params = PulsewaveParams()
    analysis = await asyncio.to_thread(analyze, candles.frame, symbol, timeframe)
    r = analysis.readings
    fields = [
        Field(
            ctx._(N_("Regime")),
            ctx._(
                N_("{regime} (confidence {confidence})"),
                regime=regime_label(ctx.tr, analysis.regime),
                confidence=ctx.tr.percent(analysis.regime_confidence * 100, False),
            ),
        ),
        Field(ctx._(N_("Close")), ctx.tr.price(analysis.close)),
        Field("RSI 14", _reading(ctx, r["rsi_14"], 1)),
        Field(
            "MACD",
            ctx._(
                N_("{macd} (signal {signal}, histogram {hist})"),
                macd=_reading(ctx, r["macd"]),
                signal=_reading(ctx, r["macd_signal"]),
                hist=_reading(ctx, r["macd_hist"]),
            ),
        ),
        Field(
            ctx._(N_("Bollinger %B")),
            ctx._(
                N_("{percent_b} (bandwidth {bandwidth})"),
                percent_b=_reading(ctx, r["bb_percent"]),
                bandwidth=_reading(ctx, r["bb_bandwidth"]),
            ),
        ),
        Field("ATR 14", _reading(ctx, r["atr_14"])),
        Field(
            "EMA 20 / 50 / 200",
            " / ".join(_reading(ctx, r[k]) for k in ("ema_20", "ema_50", "ema_200")),
        ),
        Field(
            ctx._(N_("Supports")),
            "\n".join(_level_text(ctx, lv) for lv in analysis.supports) or "—",
            inline=False,
        ),
        Field(
            ctx._(N_("Resistances")),
            "\n".join(_level_text(ctx, lv) for lv in analysis.resistances) or "—",
            inline=False,
        ),
    ]
    setups = sorted(analysis.setups, key=lambda s: -s.score)
    setup_text = (
        "\n\n".join(_setup_text(ctx, s, params) for s in setups[:2])
        if setups
        else ctx._(N_("No setup at this candle: price is not at a level the strategy trades."))
    )
    fields.append(Field(ctx._(N_("Setup")), setup_text, inline=False))
    shown = candles.frame.index[-min(CHART_CANDLES, len(candles.frame))]
    first_visible = int(shown.value // 1_000_000)
    levels = tuple(lv.price for lv in [*analysis.supports, *analysis.resistances])
    image, _ = await ctx.services.charts.candle_chart(
        symbol, timeframe, levels, _markers(analysis, first_visible)
    )
    age = (candles.as_of_ms - candles.last_close_ms) if candles.last_close_ms else 0
    tone = {"BULL": Tone.UP, "BEAR": Tone.DOWN}.get(analysis.regime, Tone.NEUTRAL)
    return Reply(
        title=ctx._(N_("Analysis of {symbol} · {timeframe}"), symbol=symbol, timeframe=timeframe),
        text=stale_note(ctx, age) if candles.stale else "",
        fields=fields,
        footer=ctx._(
            N_("At the close of the candle that opened {time}. Not financial advice."),
            time=ctx.tr.datetime(analysis.candle_open_ms),
        ),
        image=image,
        tone=tone,
        buttons=[
            [
                Button(ctx._(N_("🔔 Follow signals")), f"follow {symbol} {timeframe}"),
                Button(ctx._(N_("📋 Signals")), f"signals {symbol}"),
            ]
        ],
    )


# --- /signals ------------------------------------------------------------------


@group.command(
    "signals",
    N_("Recent signals with their status, and the track record per strategy"),
    params=[
        Param("symbol", SymbolArg(), N_("market (default: every market)"), optional=True),
    ],
    examples=["/signals", "/signals BTC"],
)
async def signals_command(ctx: Context, symbol: str | None) -> Reply:
    async with ctx.services.db.session() as session:
        rows = await signal_store.recent_signals(session, symbol, RECENT_SIGNALS)
        closed = await signal_store.outcomes(session, symbol)
    where = symbol or ctx._(N_("all markets"))
    if not rows:
        return Reply(
            title=ctx._(N_("Signals · {where}"), where=where),
            text=ctx._(N_("No signals yet. Signals appear as candles close.")),
        )
    lines = [signal_line(ctx.tr, SignalView.of(row)) for row in rows]
    record = track_record(closed, by=("strategy",))
    record_lines = [stats_text(ctx.tr, key[0], stats) for key, stats in record.items()]
    fields = [
        Field(
            ctx._(N_("Track record")),
            "\n".join(record_lines) or ctx._(N_("No closed signals yet.")),
            inline=False,
        )
    ]
    return Reply(
        title=ctx._(N_("Signals · {where}"), where=where),
        text="\n".join(lines),
        fields=fields,
        footer=ctx._(
            N_(
                "Win rate and average R count closed signals only (target, stop or "
                "expired); a stop and a target inside one candle count as the stop."
            )
        ),
        buttons=[[Button(ctx._(N_("🔔 Following")), "following")]],
    )


# --- /follow, /unfollow, /following --------------------------------------------


FOLLOWS_FORBIDDEN = N_("Only the chat's admins can change what this chat follows.")


def _require_manager(ctx: Context) -> None:
    if not ctx.manages_chat:
        raise UserError(FOLLOWS_FORBIDDEN)


def _unfollow_action(symbol: str, timeframe: str, strategy: str) -> str:
    parts = ("unfollow", symbol, timeframe, strategy)
    return " ".join(part for part in parts if part != ANY_TIMEFRAME)


def _describe(ctx: Context, symbol: str, timeframe: str, strategy: str) -> str:
    return f"{symbol} · {timeframe_label(ctx.tr, timeframe)} · {strategy}"


@group.command(
    "follow",
    N_("Push new signals for a market into this chat"),
    params=[SYMBOL, ANY_TF, STRATEGY],
    examples=["/follow BTC", "/follow ETH 4h rsi", "/follow BTC all"],
)
async def follow_command(
    ctx: Context, symbol: str, timeframe: str | None, strategy: str | None
) -> Reply:
    _require_manager(ctx)
    timeframe = timeframe or ANY_TIMEFRAME
    strategy = strategy or DEFAULT_FOLLOW_STRATEGY
    limit = ctx.services.config.max_follows_per_chat
    async with ctx.services.db.session() as session:
        if await follow_store.count_follows(session, ctx.chat.id) >= limit:
            raise UserError(
                N_(
                    "This chat already has {limit} follows, the most it can. "
                    "Remove one with /unfollow first."
                ),
                limit=limit,
            )
        added = await follow_store.add_follow(
            session, ctx.chat.id, symbol, timeframe, strategy, ctx.user.id
        )
    what = _describe(ctx, symbol, timeframe, strategy)
    if not added:
        return Reply(text=ctx._(N_("This chat already follows {what}."), what=what))
    return Reply(
        title=ctx._(N_("✅ Following {what}"), what=what),
        text=ctx._(N_("New signals will be posted in this chat as their candle closes.")),
        buttons=[
            [
                Button(ctx._(N_("🔕 Unfollow")), _unfollow_action(symbol, timeframe, strategy)),
                Button(ctx._(N_("🔔 Following")), "following"),
            ]
        ],
    )


@group.command(
    "unfollow",
    N_("Stop pushing a market's signals into this chat"),
    params=[SYMBOL, ANY_TF, STRATEGY],
    examples=["/unfollow BTC", "/unfollow ETH 4h rsi"],
)
async def unfollow_command(
    ctx: Context, symbol: str, timeframe: str | None, strategy: str | None
) -> Reply:
    _require_manager(ctx)
    async with ctx.services.db.session() as session:
        removed = await follow_store.remove_follows(
            session, ctx.chat.id, symbol, timeframe, strategy
        )
    if not removed:
        raise UserError(N_("This chat does not follow {symbol}. See /following."), symbol=symbol)
    return Reply(
        text=ctx.ngettext(
            "Stopped {count} follow of {symbol}.",
            "Stopped {count} follows of {symbol}.",
            removed,
            count=removed,
            symbol=symbol,
        ),
        buttons=[[Button(ctx._("🔔 Following"), "following")]],
    )


@group.command(
    "following",
    "The markets whose signals this chat receives",
    examples=["/following"],
)
async def following_command(ctx: Context) -> Reply:
    async with ctx.services.db.session() as session:
        follows = await follow_store.chat_follows(session, ctx.chat.id)
    if not follows:
        return Reply(
            text=ctx._(N_("This chat follows no signals yet. Try /follow BTC.")),
            buttons=[[Button(ctx._(N_("🔔 Follow BTC")), "follow BTC")]],
        )
    lines = [_describe(ctx, f.symbol, f.timeframe, f.strategy) for f in follows]
    buttons = [
        [
            Button(
                ctx._(N_("🔕 {what}"), what=_describe(ctx, f.symbol, f.timeframe, f.strategy)),
                _unfollow_action(f.symbol, f.timeframe, f.strategy),
            )
        ]
        for f in follows
    ]
    return Reply(
        title=ctx._(N_("Following ({count})"), count=len(follows)),
        text="\n".join(lines),
        buttons=buttons if ctx.manages_chat else [],
    )
