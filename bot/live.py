"""Wiring of the live market (MARKET_SOURCE=ccxt): exchange clients, the tick
stream, ingestion and the `LiveMarket` feed. Imported only when live data is
configured, so the console demo does not pay for importing ccxt."""

from __future__ import annotations

from bot.app import StartupError
from engine.market.ccxt_client import CcxtClient, CircuitBreaker, RetryPolicy, build_exchange
from engine.market.clock import MarketClock, WallClock
from engine.market.live import TickStream
from handlers.ingest import Ingestor
from handlers.live_market import LiveMarket
from settings import Settings
from storage.db import Database


def build_clients(settings: Settings) -> list[CcxtClient]:
    """One ccxt client per configured exchange (EXCHANGES, else EXCHANGE), primary first."""
    clients = []
    for name, ccxt_id in settings.exchange_list:
        try:
            exchange = build_exchange(
                ccxt_id,
                settings.ccxt_config_for(name),
                websockets=settings.ticker_websockets,
                timeout_s=settings.exchange_timeout_seconds,
            )
        except ValueError as error:
            raise StartupError(f"EXCHANGE/EXCHANGES: {error}") from None
        clients.append(
            CcxtClient(
                name,
                exchange,
                retry=RetryPolicy(attempts=settings.exchange_retries),
                breaker=CircuitBreaker(settings.breaker_failures, settings.breaker_reset_seconds),
            )
        )
    return clients


def build_live_market(
    settings: Settings, db: Database, clock: MarketClock | None = None
) -> LiveMarket:
    clock = clock or WallClock()
    clients = build_clients(settings)
    stream = TickStream(
        clients,
        clock,
        poll_s=settings.ticker_poll_seconds,
        websockets=settings.ticker_websockets,
    )
    ingestor = Ingestor(db, clock, depth_days=settings.backfill_days)
    return LiveMarket(
        db,
        clients,
        clock,
        stream,
        ingestor,
        timeframes=settings.timeframes,
        ticker_timeframe=settings.ticker_timeframe,
        stale_after_candles=settings.stale_after_candles,
        price_stale_s=settings.price_stale_seconds,
        fetch_delay_s=settings.candle_fetch_delay_seconds,
        initial_symbols=settings.symbols,
    )
