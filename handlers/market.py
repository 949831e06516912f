"""/price and /chart."""

from __future__ import annotations

from engine.charts import CHART_CANDLES
from engine.market.timeframes import DEFAULT_TIMEFRAME
from handlers.args import SymbolArg, TimeframeArg
from handlers.context import Context
from handlers.i18n import N_
from handlers.registry import CommandGroup, Param
from handlers.reply import Button, Field, Reply, Tone

group = CommandGroup("market")

SYMBOL = Param("symbol", SymbolArg(), N_("market, e.g. BTC, ETH/USDT, btcusdt"))
TIMEFRAME = Param(
    "timeframe",
    TimeframeArg(),
    N_("timeframe: 1m 5m 15m 30m 1h 4h 1d 1w (default 1h)"),
    optional=True,
    default=DEFAULT_TIMEFRAME,
)
CHART_SWITCHER = ("15m", "1h", "4h", "1d", "1w")


def base_asset(symbol: str) -> str:
    return symbol.split("/")[0]


def data_age(ctx: Context, age_ms: int, as_of_ms: int, timeframe: str) -> str:
    return ctx._(
        N_("{age} (last {timeframe} candle closed {time})"),
        age=ctx.tr.duration(age_ms),
        timeframe=timeframe,
        time=ctx.tr.datetime(as_of_ms),
    )


def stale_note(ctx: Context, age_ms: int) -> str:
    """Said whenever the data is too old to act on (live feeds only)."""
    return ctx._(
        N_(
            "⚠️ Stale data: the last update is {age} old. Alarms and analysis for this "
            "market are paused until fresh data arrives."
        ),
        age=ctx.tr.duration(age_ms),
    )


@group.command(
    "price",
    N_("Last price, 24h change, high/low, volume and data age"),
    params=[SYMBOL],
    examples=["/price BTC", "/price eth-usdt"],
)
async def price(ctx: Context, symbol: str) -> Reply:
    ticker = await ctx.services.market.ticker(symbol)
    change = ticker.change_pct
    tone = Tone.NEUTRAL if change is None else Tone.UP if change >= 0 else Tone.DOWN
    arrow = {Tone.UP: "🟢", Tone.DOWN: "🔴"}.get(tone, "⚪")
    return Reply(
        title=f"{arrow} {symbol}  {ctx.tr.price(ticker.last)}",
        text=stale_note(ctx, ticker.age_ms) if ticker.stale else "",
        fields=[
            Field(ctx._(N_("24h change")), ctx.tr.percent(change)),
            Field(ctx._(N_("24h high")), ctx.tr.price(ticker.high)),
            Field(ctx._(N_("24h low")), ctx.tr.price(ticker.low)),
            Field(ctx._(N_("24h volume")), f"{ctx.tr.number(ticker.volume)} {base_asset(symbol)}"),
            Field(
                ctx._(N_("Data age")),
                data_age(ctx, ticker.age_ms, ticker.as_of_ms, ticker.timeframe),
                inline=False,
            ),
        ],
        tone=tone,
        buttons=[
            [
                Button(ctx._(N_("🔄 Refresh")), f"price {symbol}"),
                Button(ctx._(N_("📈 Chart")), f"chart {symbol} {DEFAULT_TIMEFRAME}"),
            ]
        ],
    )


@group.command(
    "chart",
    N_("Candlestick chart with EMA 20/50, Bollinger bands, volume and RSI"),
    params=[SYMBOL, TIMEFRAME],
    examples=["/chart BTC", "/chart ETH 4h"],
    draws=True,
)
async def chart(ctx: Context, symbol: str, timeframe: str) -> Reply:
    image, candles = await ctx.services.charts.candle_chart(symbol, timeframe)
    frame = candles.frame.iloc[-CHART_CANDLES:]  # the candles drawn (the rest is warm-up)
    last = float(frame["close"].iloc[-1])
    change = (last / float(frame["open"].iloc[0]) - 1) * 100 if frame["open"].iloc[0] else None
    tone = Tone.NEUTRAL if change is None else Tone.UP if change >= 0 else Tone.DOWN
    age = (candles.as_of_ms - candles.last_close_ms) if candles.last_close_ms else 0
    switcher = [
        Button(f"• {tf}" if tf == timeframe else tf, f"chart {symbol} {tf}")
        for tf in CHART_SWITCHER
        if tf in ctx.services.config.timeframes
    ]
    text = ctx._(
        N_("Last close {price} · {change} over {count} candles"),
        price=ctx.tr.price(last),
        change=ctx.tr.percent(change),
        count=len(frame),
    )
    if candles.stale:
        text = f"{stale_note(ctx, age)}\n{text}"
    return Reply(
        title=f"{symbol} · {timeframe}",
        text=text,
        fields=[
            Field(
                ctx._(N_("Data age")),
                data_age(ctx, age, candles.last_close_ms or 0, timeframe),
                inline=False,
            )
        ],
        image=image,
        tone=tone,
        buttons=[switcher],
    )
