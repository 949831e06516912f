"""TradingView alerts arriving by webhook: parsed, checked, stored as a signal
and queued for every chat following that market (platform-neutral; the HTTP
route is in `bot/webhooks.py`, the batch storage in `handlers/tradingview_store.py`).

Accepted bodies (TradingView sends the alert message as typed by the user):

- JSON: ``{"symbol": "BINANCE:BTCUSDT", "timeframe": "60", "action": "buy",
  "price": 65000, "timestamp": "2025-03-01T12:00:00Z", "strategy": "my-rsi",
  "parameters": {"stop": 64000, "target": 68000}, "passphrase": "…"}``.
  Required: symbol, timeframe, action; price is required unless the market
  has a current price. `timestamp` defaults to now, `strategy` to ``tradingview``.
- Text: ``key=value`` words (``symbol=BTCUSDT timeframe=1h action=buy price=65000``)
  or the short form ``buy BTCUSDT 1h 65000 [strategy]``.

Symbols accept TradingView's forms (``BINANCE:BTCUSDT``, ``BTCUSDT.P``) and
timeframes its interval codes (``1 5 15 30 60 240 D 1D W 1W``) besides ours.

**Once**: an alert is keyed by its content (symbol, timeframe, action, strategy,
timestamp, price); TradingView retrying a delivery, or the same alert posted
twice, is stored and sent once. The signal's candle is the one containing the
alert's timestamp; it is stored with strategy ``tv:<strategy>`` (or
``tradingview``) so it never collides with PulseWave's own strategies, and it is
delivered to chats following the market with strategy ``all``, ``tradingview``
or the alert's own strategy name.

**Group commit**: the route checks an alert (`parse_body`, `to_alert`, then
`check`, all without the database) and hands it to its process's `Intake`
(`handlers/tradingview_intake.py`), whose single writer task stores everything
queued meanwhile in one transaction; the answer comes after that commit.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from engine.market.symbols import normalize_symbol
from engine.market.timeframes import bucket_start, normalize_timeframe
from engine.strategies.base import Signal
from handlers.context import Services
from handlers.tradingview_store import Checked

__all__ = [
    "Alert",
    "AlertError",
    "Checked",
    "check",
    "parse_body",
    "to_alert",
]

MAX_BODY = 16 * 1024
_STRATEGY = re.compile(r"^[A-Za-z0-9_.\-]{1,24}$")


class AlertError(ValueError):
    """The alert cannot be accepted; `status` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class Alert:
    symbol: str
    timeframe: str
    side: str
    price: float | None
    timestamp_ms: int
    strategy: str  # the alert's own name ("tradingview" when none was given)
    stop: float | None
    target: float | None

    @property
    def stored_strategy(self) -> str:
        return "tradingview" if self.strategy == "tradingview" else f"tv:{self.strategy}"

    def key(self) -> str:
        raw = json.dumps(
            [self.symbol, self.timeframe, self.side, self.strategy, self.timestamp_ms, self.price]
        )
        return "tv:" + hashlib.sha256(raw.encode()).hexdigest()[:32]


def parse_body(body: bytes) -> dict[str, Any]:
    """The alert's fields as sent (JSON or text); `AlertError(400)` when unreadable.
    Check the secret (`passphrase`) next, then build the `Alert` with `to_alert`."""
    if len(body) > MAX_BODY:
        raise AlertError(400, "body too large")
    try:
        text = body.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise AlertError(400, "body is not UTF-8") from None
    if not text:
        raise AlertError(400, "empty body")
    fields: dict[str, Any]
    if text.startswith("{"):
        try:
            fields = json.loads(text)
        except json.JSONDecodeError as error:
            raise AlertError(400, f"invalid JSON: {error.msg}") from None
        if not isinstance(fields, dict):
            raise AlertError(400, "JSON body must be an object")
    else:
        fields = _text_fields(text)
    return fields


def _text_fields(text: str) -> dict[str, Any]:
    words = text.split()
    if all("=" in w for w in words):
        return dict(w.split("=", 1) for w in words)
    if len(words) in (3, 4, 5) and words[0].lower() in ("buy", "sell"):
        keys = ("action", "symbol", "timeframe", "price", "strategy")
        return dict(zip(keys, words, strict=False))
    raise AlertError(400, "text body must be key=value words or 'buy|sell SYMBOL TF PRICE'")


def _number(value: Any, name: str) -> float | None:
    if value is None or value == "":
        return None
    try:
        number = float(str(value).replace(",", ""))
    except ValueError:
        raise AlertError(400, f"{name} is not a number") from None
    if not math.isfinite(number) or number <= 0:
        raise AlertError(400, f"{name} must be a positive number")
    return number


def _timestamp(value: Any, now_ms: int) -> int:
    if value in (None, ""):
        return now_ms
    text = str(value).strip()
    if text.isdigit():
        number = int(text)
        return number if number > 10**11 else number * 1000  # seconds or milliseconds
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise AlertError(400, "timestamp is not ISO 8601 or epoch time") from None
    if moment.tzinfo is None:
        raise AlertError(400, "timestamp needs a time zone (e.g. Z)")
    return int(moment.timestamp() * 1000)


def to_alert(fields: dict[str, Any], now_ms: int) -> Alert:
    """Check and normalise the fields; `AlertError` (400 or 422) when wrong."""
    missing = [k for k in ("symbol", "timeframe", "action") if not fields.get(k)]
    if missing:
        raise AlertError(400, f"missing field(s): {', '.join(missing)}")
    action = str(fields["action"]).strip().lower()
    if action in ("long", "entry_long"):
        action = "buy"
    if action in ("short", "entry_short"):
        action = "sell"
    if action not in ("buy", "sell"):
        raise AlertError(400, "action must be buy or sell")
    raw_symbol = str(fields["symbol"]).strip().split(":")[-1].removesuffix(".P")
    symbol = normalize_symbol(raw_symbol)
    if symbol is None:
        raise AlertError(422, f"unknown symbol {raw_symbol[:32]!r}")
    raw_tf = str(fields["timeframe"]).strip()
    # TradingView's interval codes: minutes as a bare number ("60", "240"), D, W.
    timeframe = normalize_timeframe(raw_tf + "m" if raw_tf.isdigit() else raw_tf)
    if timeframe is None:
        raise AlertError(422, f"unknown timeframe {raw_tf[:16]!r}")
    strategy = str(fields.get("strategy") or "tradingview").strip()
    if not _STRATEGY.match(strategy):
        raise AlertError(400, "strategy must be 1-24 letters, digits, _ . or -")
    parameters = fields.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise AlertError(400, "parameters must be an object")
    return Alert(
        symbol=symbol,
        timeframe=timeframe,
        side=action,
        price=_number(fields.get("price"), "price"),
        timestamp_ms=_timestamp(fields.get("timestamp") or fields.get("time"), now_ms),
        strategy=strategy.lower(),
        stop=_number(parameters.get("stop", fields.get("stop")), "stop"),
        target=_number(parameters.get("target", fields.get("target")), "target"),
    )


async def check(services: Services, alert: Alert) -> Checked:
    """Check the alert against the market and build its signal; `AlertError` (422,
    or 400 for a stop and target on the wrong sides) when wrong. No database
    access; the market is asked whether it serves the symbol and, when the alert
    has no price, for a ticker."""
    if not await services.market.has_symbol(alert.symbol):
        raise AlertError(422, f"unknown symbol {alert.symbol}")
    if alert.timeframe not in services.config.timeframes:
        raise AlertError(422, f"timeframe {alert.timeframe} is not enabled")
    price = alert.price
    if price is None:
        price = (await services.market.ticker(alert.symbol)).last
    if alert.stop is not None and alert.target is not None:
        below, above = (
            (alert.stop, alert.target) if alert.side == "buy" else (alert.target, alert.stop)
        )
        if not below < price < above:  # type: ignore[operator]
            raise AlertError(400, "stop and target must be on either side of the price")
    signal = Signal(
        alert.symbol,
        alert.timeframe,
        alert.stored_strategy,
        alert.side,  # type: ignore[arg-type]
        bucket_start(alert.timestamp_ms, alert.timeframe),
        price,
        alert.stop,  # type: ignore[arg-type]
        alert.target,  # type: ignore[arg-type]
        0.0,
        "",
        {"source": "tradingview", "alert_strategy": alert.strategy},
    )
    return Checked(alert.key(), signal)
