"""Outbox notifications as messages: each kind's payload rendered into a `Reply`
in the recipient chat's language, at send time (so a chat that changed its
language since the event was decided gets the new one)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from handlers.i18n import Translator
from handlers.reply import Reply
from handlers.signal_text import SignalView, signal_card

Renderer = Callable[[Translator, dict[str, Any]], Reply]

RENDERERS: dict[str, Renderer] = {
    "signal": lambda tr, payload: signal_card(tr, SignalView.from_payload(payload)),
    # A broadcast is the admin's own text, sent as written.
    "broadcast": lambda tr, payload: Reply(text=str(payload.get("text", ""))),
}


# Payload key: [symbol, timeframe] of the market chart a notification should carry
# but that was not drawn when it was queued (a webhook answers before any chart
# could be drawn). The delivery worker renders it before the first send, stores
# it with the notification and uploads it once, like any other picture.
LATE_CHART = "late_chart"


def with_late_chart(payload: dict[str, Any], symbol: str, timeframe: str) -> dict[str, Any]:
    return {**payload, LATE_CHART: [symbol, timeframe]}


def late_chart(payload: dict[str, Any]) -> tuple[str, str] | None:
    """The chart a notification asks the worker to draw, if any."""
    wanted = payload.get(LATE_CHART)
    if isinstance(wanted, list) and len(wanted) == 2 and all(isinstance(w, str) for w in wanted):
        return wanted[0], wanted[1]
    return None


def register_renderer(kind: str, renderer: Renderer) -> None:
    """Areas that queue their own kinds (alarms, webhooks) register them here."""
    RENDERERS[kind] = renderer


def render_notification(kind: str, payload: dict[str, Any], language: str) -> Reply:
    """The message for one recipient; `KeyError` for a kind nobody registered."""
    return RENDERERS[kind](Translator(language), payload)
