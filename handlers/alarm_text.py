"""How an alarm reads in a chat: one definition for /alarm, /alarms and the
message a fired alarm sends (rendered in the recipient chat's language)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

from engine.alarms import ALARM_KINDS
from engine.market.timeframes import DEFAULT_TIMEFRAME, duration_ms
from handlers.i18n import N_, Translator
from handlers.reply import Button, Reply, Tone
from storage.models import Alarm

PRICE_KINDS = ALARM_KINDS  # the kinds the price alarm book matches


@dataclass(frozen=True, slots=True)
class AlarmView:
    """An alarm as messages show it (also the payload of a fired alarm's message).

    `level` is a price (above/below/cross), a percentage (change) or the
    indicator's threshold (indicator); `timeframe` is the change window or the
    indicator's candles; `fired_value` the move in percent (change) or the
    indicator's value (indicator)."""

    id: int
    chat_id: int
    symbol: str
    kind: str
    level: float
    timeframe: str | None = None
    indicator: str | None = None
    direction: str | None = None
    reference: float | None = None
    status: str = "active"
    fired_ms: int | None = None
    fired_price: float | None = None
    fired_value: float | None = None
    demo: bool = False

    @classmethod
    def of(cls, row: Alarm) -> AlarmView:
        fired_ms = int(row.fired_at.timestamp() * 1000) if row.fired_at else None
        return cls(
            row.id,
            row.chat_id,
            row.symbol,
            row.kind,
            row.level,
            row.timeframe,
            row.indicator,
            row.direction,
            row.reference,
            row.status,
            fired_ms,
            row.fired_price,
            row.fired_value,
        )

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> AlarmView:
        return cls(**{k: payload[k] for k in cls.__dataclass_fields__ if k in payload})

    def payload(self) -> dict[str, Any]:
        return asdict(self)

    def fired(
        self, price: float, time_ms: int, value: float | None = None, demo: bool = False
    ) -> AlarmView:
        return replace(
            self,
            status="fired",
            fired_ms=time_ms,
            fired_price=price,
            fired_value=value,
            demo=demo,
        )


def chart_timeframe(view: AlarmView) -> str:
    """The chart a fired alarm comes with: the indicator's candles, a change
    window's candles when they are longer than an hour, else hourly candles."""
    if view.kind == "indicator" and view.timeframe:
        return view.timeframe
    longer = view.timeframe and duration_ms(view.timeframe) > duration_ms(DEFAULT_TIMEFRAME)
    if view.kind == "change" and longer:
        return view.timeframe
    return DEFAULT_TIMEFRAME


def indicator_number(tr: Translator, value: float) -> str:
    """An indicator's value or threshold: two decimals (RSI 71.25, MACD -50.00),
    more for small ones (%B 0.8512)."""
    return tr.number(value, 2) if abs(value) >= 1 else tr.price(value)


def describe(tr: Translator, view: AlarmView) -> str:
    """What the alarm watches: `BTC/USDT at or above 70,000.00`."""
    level = tr.price(view.level)
    if view.kind == "above":
        return tr.gettext(N_("{symbol} at or above {level}"), symbol=view.symbol, level=level)
    if view.kind == "below":
        return tr.gettext(N_("{symbol} at or below {level}"), symbol=view.symbol, level=level)
    if view.kind == "cross":
        return tr.gettext(N_("{symbol} crosses {level}"), symbol=view.symbol, level=level)
    if view.kind == "change":
        return tr.gettext(
            N_("{symbol} moves {pct} either way within {window}"),
            symbol=view.symbol,
            pct=tr.percent(view.level, False),
            window=view.timeframe,
        )
    message = (
        N_("{symbol} {indicator} on {timeframe} at or above {level}")
        if view.direction == "above"
        else N_("{symbol} {indicator} on {timeframe} at or below {level}")
    )
    return tr.gettext(
        message,
        symbol=view.symbol,
        indicator=view.indicator,
        timeframe=view.timeframe,
        level=indicator_number(tr, view.level),
    )


def status_text(tr: Translator, view: AlarmView) -> str:
    if view.status == "fired" and view.fired_ms is not None:
        return tr.gettext(
            N_("🔔 fired {time} at {price}"),
            time=tr.datetime(view.fired_ms),
            price=tr.price(view.fired_price) if view.fired_price is not None else "—",
        )
    return tr.gettext(N_("⏳ active"))


def alarm_line(tr: Translator, view: AlarmView) -> str:
    """One line of /alarms: `#12 · BTC/USDT at or above 70,000.00 · ⏳ active`."""
    return f"#{view.id} · {describe(tr, view)} · {status_text(tr, view)}"


def _fired_text(tr: Translator, view: AlarmView) -> str:
    price = tr.price(view.fired_price) if view.fired_price is not None else "—"
    if view.kind == "change":
        return tr.gettext(
            N_("Alarm #{id}: {symbol} moved {move} within {window}, to {price}."),
            id=view.id,
            symbol=view.symbol,
            move=tr.percent(view.fired_value),
            window=view.timeframe,
            price=price,
        )
    if view.kind == "indicator":
        value = "—" if view.fired_value is None else indicator_number(tr, view.fired_value)
        return tr.gettext(
            N_(
                "Alarm #{id}: {indicator} was {value} at the close of the {timeframe} "
                "candle; {symbol} closed at {price}."
            ),
            id=view.id,
            indicator=view.indicator,
            value=value,
            timeframe=view.timeframe,
            symbol=view.symbol,
            price=price,
        )
    return tr.gettext(
        N_("Alarm #{id}: {symbol} traded at {price}."), id=view.id, symbol=view.symbol, price=price
    )


def _tone(view: AlarmView) -> Tone:
    if view.kind == "above":
        return Tone.UP
    if view.kind == "below":
        return Tone.DOWN
    if view.kind == "cross" and view.fired_price is not None:
        return Tone.UP if view.fired_price >= view.level else Tone.DOWN
    if view.kind == "change" and view.fired_value is not None:
        return Tone.UP if view.fired_value >= 0 else Tone.DOWN
    return Tone.NEUTRAL


def alarm_card(tr: Translator, payload: dict[str, Any]) -> Reply:
    """The message a fired alarm sends (the chart comes with the notification)."""
    view = AlarmView.from_payload(payload)
    time_ms = view.fired_ms or 0
    reply = Reply(
        title=f"🔔 {describe(tr, view)}",
        text=_fired_text(tr, view),
        footer=tr.gettext(
            N_("Fired {time}. The alarm is now off; set a new one with /alarm."),
            time=tr.datetime(time_ms),
        ),
        tone=_tone(view),
        buttons=[
            [
                Button(tr.gettext(N_("📈 Chart")), f"chart {view.symbol} {chart_timeframe(view)}"),
                Button(tr.gettext(N_("🔔 Alarms")), "alarms"),
            ]
        ],
    )
    if view.demo:
        reply.demo = tr.gettext(N_("DEMO · replayed market at {time}"), time=tr.datetime(time_ms))
    return reply
