"""Who is asking and with what: the `Context` every handler receives."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from engine.market.clock import MarketClock
from engine.market.types import MarketFeed
from handlers.i18n import Translator
from storage.db import Database

if TYPE_CHECKING:
    from handlers.charts import ChartService
    from handlers.registry import Registry


@dataclass(frozen=True, slots=True)
class AppConfig:
    """The settings handlers need, copied out of Settings by the composition root."""

    quote_currency: str = "USDT"
    admin_ids: tuple[str, ...] = ()
    output_dir: Path = Path("output")
    default_language: str = "en"
    timeframes: tuple[str, ...] = ("1m", "5m", "15m", "30m", "1h", "4h", "1d", "1w")
    watchlist: tuple[str, ...] = ("BTC/USDT", "ETH/USDT")
    signal_timeframes: tuple[str, ...] = ("1h", "4h")
    signal_expiry_candles: int = 48
    signal_history_candles: int = 300
    max_follows_per_chat: int = 20
    max_alarms_per_chat: int = 10
    outbox_retention_days: int = 14


@dataclass(slots=True)
class Services:
    """Everything a handler may use. Built once by `bot.app`."""

    db: Database
    market: MarketFeed
    clock: MarketClock
    config: AppConfig
    charts: ChartService
    registry: Registry
    # What scheduled jobs keep between runs in this process (e.g. the markets whose
    # signal history is recorded), by job name.
    job_state: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class UserInfo:
    id: int  # our database id
    platform: str
    external_id: str
    display_name: str | None
    language: str | None  # chosen with /lang, else None
    timezone: str
    plan: str
    is_admin: bool


@dataclass(frozen=True, slots=True)
class ChatInfo:
    id: int
    platform: str
    external_id: str
    kind: str  # private, group, supergroup, channel, dm, console

    @property
    def is_group(self) -> bool:
        return self.kind in ("group", "supergroup", "channel", "guild")


@dataclass(slots=True)
class Context:
    """One request: the user, the chat, their language and the services."""

    user: UserInfo
    chat: ChatInfo
    services: Services
    tr: Translator = field(default_factory=Translator)
    # May this user change what the chat receives (alarms, follows)? Always in a
    # private chat; in a group only its admins (the adapter asks the platform).
    manages_chat: bool = True

    @property
    def platform(self) -> str:
        return self.chat.platform

    @property
    def language(self) -> str:
        return self.tr.language

    def _(self, message: str, **values: object) -> str:
        """Translate `message` into the user's language and fill its {fields}."""
        return self.tr.gettext(message, **values)

    def ngettext(self, singular: str, plural: str, n: int, **values: object) -> str:
        return self.tr.ngettext(singular, plural, n, **values)
