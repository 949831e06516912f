"""Typed ORM models. Every schema change goes through an Alembic migration."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    TypeDecorator,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Deterministic constraint names, so migrations are the same on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def utcnow() -> datetime:
    return datetime.now(UTC)


class User(Base):
    """A person on one platform (a Telegram user, a Discord user, the console)."""

    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("platform", "external_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str] = mapped_column(String(64))
    username: Mapped[str | None] = mapped_column(String(64))
    display_name: Mapped[str | None] = mapped_column(String(128))
    # None until the user picks one with /lang; until then the platform's hint is used.
    language: Mapped[str | None] = mapped_column(String(8))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    plan: Mapped[str] = mapped_column(String(32), default="free")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class Chat(Base):
    """Where messages go: a private chat, a group, a channel, a DM or the console."""

    __tablename__ = "chats"
    __table_args__ = (UniqueConstraint("platform", "external_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16), default="private")
    title: Mapped[str | None] = mapped_column(String(256))
    language: Mapped[str | None] = mapped_column(String(8))
    # False once the platform says the bot was blocked or removed; true again on contact.
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Candle(Base):
    """One closed OHLCV candle. Open time in ms since the epoch (UTC), as ccxt gives it."""

    __tablename__ = "candles"

    exchange: Mapped[str] = mapped_column(String(32), primary_key=True)
    symbol: Mapped[str] = mapped_column(String(32), primary_key=True)
    timeframe: Mapped[str] = mapped_column(String(4), primary_key=True)
    open_time: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    open: Mapped[float] = mapped_column(Float)
    high: Mapped[float] = mapped_column(Float)
    low: Mapped[float] = mapped_column(Float)
    close: Mapped[float] = mapped_column(Float)
    volume: Mapped[float] = mapped_column(Float)


class CandleGap(Base):
    """A stretch the exchange truly has no candles for (an outage, before a listing).

    Recorded once the exchange answered a request covering it with later candles
    but none inside it, so ingestion stops asking for it again. Both ends are
    candle open times in ms, inclusive.
    """

    __tablename__ = "candle_gaps"

    exchange: Mapped[str] = mapped_column(String(32), primary_key=True)
    symbol: Mapped[str] = mapped_column(String(32), primary_key=True)
    timeframe: Mapped[str] = mapped_column(String(4), primary_key=True)
    start_time: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    end_time: Mapped[int] = mapped_column(BigInteger)
    found_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class SignalRecord(Base):
    """A signal as decided and what became of it.

    Stored once per strategy/symbol/timeframe/candle (the unique constraint, with
    INSERT … ON CONFLICT DO NOTHING, makes that hold across restarts and across
    processes). `status` starts ``open`` and becomes ``target``, ``stop`` or
    ``expired`` when the outcome job closes it (see `engine.signals.follow`);
    signals without a stop or target (some webhook alerts) stay ``untracked``.
    """

    __tablename__ = "signals"
    __table_args__ = (
        UniqueConstraint("strategy", "symbol", "timeframe", "candle_open_ms"),
        Index("ix_signals_status_timeframe", "status", "timeframe"),
        Index("ix_signals_symbol_candle", "symbol", "candle_open_ms"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    strategy: Mapped[str] = mapped_column(String(32))
    symbol: Mapped[str] = mapped_column(String(32))
    timeframe: Mapped[str] = mapped_column(String(4))
    candle_open_ms: Mapped[int] = mapped_column(BigInteger)
    side: Mapped[str] = mapped_column(String(4))
    entry: Mapped[float] = mapped_column(Float)
    stop: Mapped[float | None] = mapped_column(Float)
    target: Mapped[float | None] = mapped_column(Float)
    confidence: Mapped[float] = mapped_column(Float, default=0.0)
    regime: Mapped[str] = mapped_column(String(16), default="")
    factors: Mapped[dict] = mapped_column(JSON, default=dict)
    # live: decided at its candle's close; history: found by the first scan of a
    # market over past candles; tradingview: arrived by webhook.
    source: Mapped[str] = mapped_column(String(16), default="live")
    status: Mapped[str] = mapped_column(String(10), default="open")
    exit_open_ms: Mapped[int | None] = mapped_column(BigInteger)
    exit_price: Mapped[float | None] = mapped_column(Float)
    r_multiple: Mapped[float | None] = mapped_column(Float)
    mfe_r: Mapped[float] = mapped_column(Float, default=0.0)
    mae_r: Mapped[float] = mapped_column(Float, default=0.0)
    candles_followed: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Follow(Base):
    """A chat following a market's signals. `timeframe` is ``*`` for every
    timeframe; `strategy` is a strategy name, ``tradingview`` or ``all``."""

    __tablename__ = "follows"
    __table_args__ = (
        UniqueConstraint("chat_id", "symbol", "timeframe", "strategy"),
        Index("ix_follows_symbol", "symbol"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chat_id: Mapped[int] = mapped_column(ForeignKey("chats.id", ondelete="CASCADE"))
    symbol: Mapped[str] = mapped_column(String(32))
    timeframe: Mapped[str] = mapped_column(String(4))
    strategy: Mapped[str] = mapped_column(String(32))
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Notification(Base):
    """One event to tell people about (a signal, a fired alarm, a webhook alert, a
    broadcast), with its chart rendered once. `key` names the event so that it is
    created once however many processes decide it; `file_ids` remembers the
    platforms' ids of the uploaded image so it is uploaded once."""

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(128), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    payload: Mapped[dict] = mapped_column(JSON, default=dict)
    image: Mapped[bytes | None] = mapped_column(LargeBinary)
    image_name: Mapped[str | None] = mapped_column(String(64))
    file_ids: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class OutboxMessage(Base):
    """One message to one chat, written before any send (the delivery outbox).

    ``pending`` → ``sending`` (claimed by a worker until `claimed_until`) →
    ``sent`` (with the platform's message id) or ``failed`` (with the error);
    ``dropped`` when the chat blocked the bot before it could be sent.
    """

    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint("notification_id", "chat_id"),
        Index("ix_outbox_status_due", "status", "next_attempt_at"),
        Index("ix_outbox_chat_status", "chat_id", "status", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    notification_id: Mapped[int] = mapped_column(ForeignKey("notifications.id", ondelete="CASCADE"))
    chat_id: Mapped[int] = mapped_column(ForeignKey("chats.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(8), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    platform_message_id: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Alarm(Base):
    """A chat's alarm: ``above``/``below``/``cross`` a price `level`; ``change``
    by `level` percent within `timeframe`; ``indicator`` (`indicator`, e.g.
    ``rsi(14)``, on closed `timeframe` candles) ``above``/``below`` (`direction`)
    `level`. `reference` is the price when it was set (a cross alarm's starting
    side). `status`: ``active`` → ``fired`` (once: a conditional UPDATE, see
    `storage.alarms.fire`) or ``deleted``."""

    __tablename__ = "alarms"
    __table_args__ = (
        Index("ix_alarms_status_symbol", "status", "symbol"),
        Index("ix_alarms_chat_status", "chat_id", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chat_id: Mapped[int] = mapped_column(ForeignKey("chats.id", ondelete="CASCADE"))
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    symbol: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(10))
    level: Mapped[float] = mapped_column(Float)
    timeframe: Mapped[str | None] = mapped_column(String(4))  # change window / indicator TF
    indicator: Mapped[str | None] = mapped_column(String(32))
    direction: Mapped[str | None] = mapped_column(String(5))
    reference: Mapped[float | None] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(8), default="active")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    fired_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    fired_price: Mapped[float | None] = mapped_column(Float)
    # The indicator's value (indicator alarms) or the move in percent (change alarms).
    fired_value: Mapped[float | None] = mapped_column(Float)


class ButtonPayload(Base):
    """A button's action too long for its platform's limit (Telegram's 64-byte
    callback data, Discord's 100-character custom ids), kept by the short `key`
    the button carries, so that every process, and the process after a restart,
    can answer the press until `expires_at` (see `bot.action_store`)."""

    __tablename__ = "button_payloads"
    __table_args__ = (Index("ix_button_payloads_expires_at", "expires_at"),)

    namespace: Mapped[str] = mapped_column(String(16), primary_key=True)  # the platform
    key: Mapped[str] = mapped_column(String(16), primary_key=True)
    payload: Mapped[dict] = mapped_column(JSON)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())


class WizardState(Base):
    """Where a user is in a step-by-step wizard (aiogram's FSM state and data),
    by aiogram's storage key, so that a wizard survives a restart and works on
    whichever process receives the next update (`bot.telegram.wizard_storage`)."""

    __tablename__ = "wizard_states"
    __table_args__ = (Index("ix_wizard_states_updated_at", "updated_at"),)

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    state: Mapped[str | None] = mapped_column(String(100))
    data: Mapped[dict] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ReceivedAlert(Base):
    """A webhook alert as received: checked against the market, not yet turned
    into a signal and outbox rows. The webhook's answer waits for this row only;
    `handlers.tradingview_intake` processes it soon after, in the transaction
    that writes the signal and the outbox rows and sets `processed_at`. The
    unique `key` (the alert's content) makes a repeated delivery a no-op."""

    __tablename__ = "received_alerts"
    __table_args__ = (
        # Only the rows still to process: the processor's claim reads this index.
        Index(
            "ix_received_alerts_pending",
            "id",
            sqlite_where=text("processed_at IS NULL"),
            postgresql_where=text("processed_at IS NULL"),
        ),
        Index("ix_received_alerts_processed_at", "processed_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    alert: Mapped[dict] = mapped_column(JSON)  # `Checked.record()`
    # Set by the database: a burst of alerts binds no timestamp per row.
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=func.now())
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    error: Mapped[str | None] = mapped_column(String(500))  # why it was given up


__all__ = [
    "Alarm",
    "Base",
    "ButtonPayload",
    "Candle",
    "CandleGap",
    "Chat",
    "Follow",
    "Notification",
    "OutboxMessage",
    "ReceivedAlert",
    "SignalRecord",
    "User",
    "WizardState",
    "func",
]
