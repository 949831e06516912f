"""PulseWave configuration: environment variables or `.env`, read by pydantic-settings.

Every setting's name is a contract that operators and later features rely on;
`.env.example` lists them all with their defaults. Secrets are `SecretStr` so
that they never appear in a repr, a log line or a traceback.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Literal

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


def _split_commas(value: object) -> object:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


class Settings(BaseSettings):
    """All of PulseWave's settings. Read with `Settings()`; see `.env.example`."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    database_url: str = Field(
        default=f"sqlite+aiosqlite:///{PROJECT_DIR / 'data' / 'pulsewave.db'}",
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
    discord_bot_token: SecretStr | None = None
    web_host: str = "127.0.0.1"
    web_port: int = Field(default=8080, ge=0, le=65535)
    admin_ids: CommaList = []
    output_dir: Path = PROJECT_DIR / "output"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] | None = None
    default_language: str = "en"

    _split = field_validator("symbols", "timeframes", "admin_ids", mode="before")(_split_commas)

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

    @field_validator("timeframes")
    @classmethod
    def _known_timeframes(cls, value: list[str]) -> list[str]:
        unknown = [tf for tf in value if tf not in KNOWN_TIMEFRAMES]
        if unknown:
            raise ValueError(f"unknown timeframe(s) {unknown}; use {', '.join(KNOWN_TIMEFRAMES)}")
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
        values = (self.telegram_bot_token, self.discord_bot_token)
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
