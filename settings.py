"""PulseWave configuration: environment variables or `.env`, read by pydantic-settings.

Every setting's name is a contract that operators and later features rely on;
`.env.example` lists them all with their defaults. Secrets are `SecretStr` so
that they never appear in a repr, a log line or a traceback.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

PROJECT_DIR = Path(__file__).resolve().parent
BUNDLED_DATA_DIR = PROJECT_DIR / "engine" / "market" / "data"

# The replay starts here unless REPLAY_START says otherwise: inside the bundled
# data, with more than four years of hourly history and two months of 5-minute
# candles before it, and three months of market still to play.
DEFAULT_REPLAY_START = datetime(2025, 3, 1, tzinfo=UTC)

KNOWN_TIMEFRAMES = ("1m", "5m", "15m", "30m", "1h", "4h", "1d", "1w")

CommaList = Annotated[list[str], NoDecode]
WEBHOOK_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")


def _split_commas(value: object) -> object:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


class Settings(BaseSettings):
    """All of PulseWave's settings. Read with `Settings()`; see `.env.example`."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        env_ignore_empty=True,  # `NAME=` in .env means "the default", as in .env.example
        extra="ignore",
        case_sensitive=False,
    )

    database_url: str = Field(
        default="sqlite+aiosqlite:///./data/pulsewave.db",
        description="SQLAlchemy async URL: sqlite+aiosqlite:///path or postgresql+asyncpg://…",
    )
    market_source: Literal["replay", "ccxt"] | None = Field(
        default=None,
        description="replay (bundled history) or ccxt (live); default replay without a chat token",
    )
    replay_data_dir: Path = BUNDLED_DATA_DIR
    replay_start: datetime = DEFAULT_REPLAY_START
    replay_speed: float = Field(
        default=60.0, ge=0, description="market seconds per real second; 0 freezes"
    )
    symbols: CommaList = ["BTC/USDT", "ETH/USDT"]
    timeframes: CommaList = list(KNOWN_TIMEFRAMES)
    quote_currency: str = "USDT"
    telegram_bot_token: SecretStr | None = None
    telegram_api_url: str | None = None
    telegram_webhook_url: str | None = Field(
        default=None,
        description="public HTTPS URL of the webhook; empty: long polling",
    )
    telegram_webhook_secret: SecretStr | None = Field(
        default=None,
        description="X-Telegram-Bot-Api-Secret-Token checked on every webhook request",
    )
    throttle_per_minute: int = Field(
        default=100, ge=0, description="requests per user per minute; 0: no limit"
    )
    discord_bot_token: SecretStr | None = None
    discord_api_url: str | None = Field(
        default=None, description="another Discord REST base URL (a test emulator)"
    )
    discord_sync_commands: bool = Field(
        default=True, description="publish the slash commands at every start"
    )
    discord_gateway: bool = Field(
        default=True,
        description="receive interactions; false in extra processes that only deliver",
    )
    tradingview_webhook_secret: SecretStr | None = Field(
        default=None, description="enables POST /webhook/tradingview; the alert's passphrase"
    )
    web_host: str = "127.0.0.1"
    web_port: int = Field(default=8080, ge=0, le=65535)
    admin_ids: CommaList = []
    output_dir: Path = Path("./output")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] | None = None
    default_language: str = "en"
    # Live market data (MARKET_SOURCE=ccxt)
    exchange: str = Field(default="binance", description="ccxt exchange id of the primary exchange")
    exchanges: CommaList = Field(
        default=[],
        description="several exchanges, primary first: `name` or `name:ccxt_id` "
        "(e.g. binance,binance-backup:binance,kraken); empty: just EXCHANGE",
    )
    exchange_ccxt_config: dict[str, Any] = Field(
        default={},
        description="JSON merged into the ccxt constructor config (urls, proxies, options); "
        'keyed by exchange name ({"binance": {…}}) to configure each one differently',
    )
    exchange_timeout_seconds: float = Field(default=10.0, gt=0)
    exchange_retries: int = Field(default=4, ge=1, description="attempts per call, first included")
    breaker_failures: int = Field(default=5, ge=1, description="failed calls that open the breaker")
    breaker_reset_seconds: float = Field(default=60.0, gt=0)
    ticker_websockets: bool = Field(
        default=True, description="use ccxt.pro websockets if available"
    )
    ticker_poll_seconds: float = Field(default=5.0, gt=0)
    ticker_timeframe: str = Field(default="5m", description="candles behind /price 24h figures")
    backfill_days: float = Field(default=30.0, gt=0)
    candle_fetch_delay_seconds: float = Field(default=2.0, ge=0)
    stale_after_candles: float = Field(
        default=2.0, gt=1, description="candle data older than this many candles is stale"
    )
    price_stale_seconds: float = Field(default=120.0, gt=0)
    # Signals
    signal_timeframes: CommaList = Field(
        default=["1h", "4h"],
        description="timeframes scanned for SYMBOLS and for follows that name no timeframe",
    )
    signal_expiry_candles: int = Field(
        default=48, ge=1, le=10_000, description="candles after which an open signal expires"
    )
    signal_history_candles: int = Field(
        default=300, ge=0, le=5_000, description="past candles scanned when a market is first seen"
    )
    max_follows_per_chat: int = Field(default=20, ge=1)
    outbox_retention_days: int = Field(
        default=14, ge=1, le=3650, description="days a delivered message's record is kept"
    )
    # Alarms
    max_alarms_per_chat: int = Field(
        default=10, ge=1, le=1_000, description="active alarms one chat may have at once"
    )

    _split = field_validator(
        "symbols", "timeframes", "admin_ids", "exchanges", "signal_timeframes", mode="before"
    )(_split_commas)

    @field_validator("telegram_webhook_secret")
    @classmethod
    def _webhook_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not WEBHOOK_SECRET.fullmatch(value.get_secret_value()):
            raise ValueError("use 1-256 characters A-Z, a-z, 0-9, _ and - (Telegram's rule)")
        return value

    @field_validator("telegram_webhook_url")
    @classmethod
    def _webhook_url(cls, value: str | None) -> str | None:
        if value and not value.startswith(("https://", "http://")):
            raise ValueError("must be an https:// URL (http:// only for a local Bot API server)")
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) and value else value or None

    @field_validator("market_source", mode="before")
    @classmethod
    def _lower_source(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) and value else value or None

    @field_validator("replay_start")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    @field_validator("timeframes", "signal_timeframes")
    @classmethod
    def _known_timeframes(cls, value: list[str]) -> list[str]:
        unknown = [tf for tf in value if tf not in KNOWN_TIMEFRAMES]
        if unknown:
            raise ValueError(f"unknown timeframe(s) {unknown}; use {', '.join(KNOWN_TIMEFRAMES)}")
        return value

    @field_validator("ticker_timeframe")
    @classmethod
    def _ticker_tf(cls, value: str) -> str:
        if value not in KNOWN_TIMEFRAMES:
            raise ValueError(f"use one of {', '.join(KNOWN_TIMEFRAMES)}")
        return value

    @field_validator("quote_currency")
    @classmethod
    def _quote(cls, value: str) -> str:
        if not value.isalnum():
            raise ValueError("must be letters/digits, e.g. USDT")
        return value.upper()

    @field_validator("database_url")
    @classmethod
    def _db_url(cls, value: str) -> str:
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("must start with sqlite+aiosqlite:// or postgresql+asyncpg://")
        return value

    @model_validator(mode="after")
    def _default_source(self) -> Settings:
        if self.market_source is None:
            self.market_source = "replay" if not self.has_chat_token else "ccxt"
        return self

    @property
    def exchange_list(self) -> list[tuple[str, str]]:
        """(name, ccxt id) of every configured exchange, primary first."""
        entries = self.exchanges or [self.exchange]
        pairs = []
        for entry in entries:
            name, _, ccxt_id = entry.partition(":")
            pairs.append((name.strip(), (ccxt_id or name).strip().lower()))
        return pairs

    def ccxt_config_for(self, name: str) -> dict[str, Any]:
        """EXCHANGE_CCXT_CONFIG for one exchange: its own entry when the JSON is keyed
        by exchange names, else the whole JSON (one config for all, as freqtrade's)."""
        names = {n for n, _ in self.exchange_list}
        config = self.exchange_ccxt_config
        if config and set(config) <= names:
            return dict(config.get(name, {}))
        return dict(config)

    @property
    def has_chat_token(self) -> bool:
        return bool(self.telegram_bot_token or self.discord_bot_token)

    @property
    def console_mode(self) -> bool:
        return not self.has_chat_token

    @property
    def effective_log_level(self) -> str:
        # The console chat shares the terminal with the logs: keep them quiet there.
        return self.log_level or ("WARNING" if self.console_mode else "INFO")

    def secrets(self) -> list[str]:
        """Every secret value, so that the log redactor can scrub them."""
        values = (
            self.telegram_bot_token,
            self.discord_bot_token,
            self.telegram_webhook_secret,
            self.tradingview_webhook_secret,
        )
        return [v.get_secret_value() for v in values if v is not None and v.get_secret_value()]


def describe_error(error: ValidationError) -> str:
    """One clear line naming the setting(s) that are wrong, for start-up failures."""
    parts = []
    for item in error.errors():
        name = str(item["loc"][0]).upper() if item["loc"] else "settings"
        message = item["msg"].removeprefix("Value error, ")
        got = item.get("input")
        secret = any(word in name for word in ("TOKEN", "SECRET", "KEY", "PASSWORD"))
        shown = "" if secret or isinstance(got, dict) or got is None else f" (got {got!r})"
        parts.append(f"{name}: {message}{shown}")
    return "Configuration error: " + "; ".join(parts)
