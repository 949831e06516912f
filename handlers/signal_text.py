"""How a signal reads in a chat: one definition for /signals, /analyze and the
messages pushed to followers (rendered in each recipient's language)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.signals import Stats
from engine.strategies.base import Signal
from handlers.i18n import N_, Translator
from handlers.reply import Button, Field, Reply, Tone
from storage.follows import ANY_TIMEFRAME
from storage.models import SignalRecord

STATUS_LABELS = {
    "open": N_("open"),
    "target": N_("target hit"),
    "stop": N_("stop hit"),
    "expired": N_("expired"),
    "untracked": N_("not tracked"),
}
STATUS_ICONS = {"open": "⏳", "target": "🎯", "stop": "🛑", "expired": "⌛", "untracked": "•"}
SETUP_LABELS = {
    "support_bounce": N_("support bounce"),
    "resistance_rejection": N_("resistance rejection"),
    "breakout": N_("breakout"),
}
REGIME_LABELS = {
    "BULL": N_("BULL"),
    "BEAR": N_("BEAR"),
    "SIDEWAYS": N_("SIDEWAYS"),
    "TRANSITION": N_("TRANSITION"),
}
FACTOR_LABELS = {
    "sr": N_("S/R proximity"),
    "indicators": N_("indicator alignment"),
    "volume": N_("volume"),
    "structure": N_("market structure"),
    "regime": N_("regime"),
    "risk_reward": N_("risk/reward"),
}


@dataclass(frozen=True, slots=True)
class SignalView:
    """A stored signal as messages show it (also the payload of its notification)."""

    id: int
    symbol: str
    timeframe: str
    strategy: str
    side: str
    candle_open_ms: int
    entry: float
    stop: float | None
    target: float | None
    confidence: float
    regime: str
    status: str = "open"
    r_multiple: float | None = None
    source: str = "live"
    setup: str | None = None

    @classmethod
    def of(cls, row: SignalRecord) -> SignalView:
        setup = (row.factors or {}).get("setup")
        return cls(
            row.id,
            row.symbol,
            row.timeframe,
            row.strategy,
            row.side,
            row.candle_open_ms,
            row.entry,
            row.stop,
            row.target,
            row.confidence,
            row.regime,
            row.status,
            row.r_multiple,
            row.source,
            setup if isinstance(setup, str) else None,
        )

    @classmethod
    def of_signal(
        cls, signal_id: int, s: Signal, status: str = "open", source: str = "live"
    ) -> SignalView:
        """A signal just stored (by a scan or a webhook) as its notification shows it."""
        setup = s.factors.get("setup")
        return cls(
            signal_id,
            s.symbol,
            s.timeframe,
            s.strategy,
            s.side,
            s.candle_open_ms,
            s.entry,
            s.stop,
            s.target,
            s.confidence,
            s.regime,
            status,
            source=source,
            setup=setup if isinstance(setup, str) else None,
        )

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> SignalView:
        return cls(**{k: payload[k] for k in cls.__dataclass_fields__ if k in payload})

    def payload(self) -> dict[str, Any]:
        # Every field is a scalar: a plain dict (asdict's deep copy costs a
        # webhook burst more than the rest of building the message).
        return {name: getattr(self, name) for name in self.__dataclass_fields__}

    @property
    def reward_risk(self) -> float | None:
        if self.stop is None or self.target is None or self.entry == self.stop:
            return None
        return abs(self.target - self.entry) / abs(self.entry - self.stop)


def side_label(tr: Translator, side: str) -> str:
    return "🟢 " + tr.gettext(N_("BUY")) if side == "buy" else "🔴 " + tr.gettext(N_("SELL"))


def timeframe_label(tr: Translator, timeframe: str) -> str:
    return tr.gettext(N_("every timeframe")) if timeframe == ANY_TIMEFRAME else timeframe


def regime_label(tr: Translator, regime: str) -> str:
    return tr.gettext(REGIME_LABELS[regime]) if regime in REGIME_LABELS else regime


def setup_label(tr: Translator, setup: str) -> str:
    return tr.gettext(SETUP_LABELS[setup]) if setup in SETUP_LABELS else setup


def r_text(tr: Translator, r: float) -> str:
    return f"{'+' if r > 0 else ''}{tr.number(r, 2)}R"


def status_text(tr: Translator, view: SignalView) -> str:
    icon = STATUS_ICONS.get(view.status, "")
    label = f"{icon} {tr.gettext(STATUS_LABELS.get(view.status, view.status))}"
    if view.status in ("target", "stop", "expired") and view.r_multiple is not None:
        label += f" {r_text(tr, view.r_multiple)}"
    return label


def signal_line(tr: Translator, view: SignalView) -> str:
    """One line of a list: side, market, strategy, time, entry, status."""
    return tr.gettext(
        N_("{side} {symbol} {timeframe} · {strategy} · {time} · entry {entry} · {status}"),
        side=side_label(tr, view.side),
        symbol=view.symbol,
        timeframe=view.timeframe,
        strategy=view.strategy,
        time=tr.datetime(view.candle_open_ms),
        entry=tr.price(view.entry),
        status=status_text(tr, view),
    )


def signal_card(tr: Translator, view: SignalView) -> Reply:
    """The message a follower receives for a new signal."""
    fields = [Field(tr.gettext(N_("Entry")), tr.price(view.entry))]
    if view.stop is not None:
        fields.append(Field(tr.gettext(N_("Stop")), tr.price(view.stop)))
    if view.target is not None:
        fields.append(Field(tr.gettext(N_("Target")), tr.price(view.target)))
    if view.reward_risk is not None:
        fields.append(Field(tr.gettext(N_("Reward:risk")), tr.number(view.reward_risk, 2)))
    if view.source != "tradingview":  # an alert carries no confidence of ours
        fields.append(Field(tr.gettext(N_("Confidence")), tr.percent(view.confidence * 100, False)))
    if view.regime:
        fields.append(Field(tr.gettext(N_("Regime")), regime_label(tr, view.regime)))
    text = tr.gettext(
        N_("Decided at the close of the {timeframe} candle that opened {time}."),
        timeframe=view.timeframe,
        time=tr.datetime(view.candle_open_ms),
    )
    if view.setup:
        text = f"{tr.gettext(N_('Setup:'))} {setup_label(tr, view.setup)}\n{text}"
    return Reply(
        title=f"{side_label(tr, view.side)} {view.symbol} · {view.timeframe} · {view.strategy}",
        text=text,
        fields=fields,
        footer=tr.gettext(N_("Market information, not financial advice.")),
        tone=Tone.UP if view.side == "buy" else Tone.DOWN,
        buttons=[
            [
                Button(tr.gettext(N_("🔍 Analyze")), f"analyze {view.symbol} {view.timeframe}"),
                Button(tr.gettext(N_("📋 Signals")), f"signals {view.symbol}"),
            ]
        ],
    )


def stats_text(tr: Translator, name: str, s: Stats) -> str:
    """`rsi: 12 closed · 58% won · avg +0.41R` (the average R is the expectancy)."""
    return tr.gettext(
        N_("{name}: {count} closed · {win_rate} won · avg {avg_r}"),
        name=name,
        count=s.count,
        win_rate=tr.percent(s.win_rate * 100, False),
        avg_r=r_text(tr, s.avg_r),
    )
