"""Fixtures for the live market layer: a local exchange server and a live feed on it.

The server and the feed share one controlled clock (`Rig.advance`), so candle
closes, staleness and new-candle pickup are tested without sleeping.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.live import build_live_market
from engine.market.ccxt_client import CcxtClient, CircuitBreaker, RetryPolicy
from engine.market.clock import ReplayClock, to_ms
from handlers.ingest import Ingestor
from handlers.live_market import LiveMarket
from settings import Settings
from storage.db import Database
from tests.exchange_server import ExchangeServer

NOW = datetime(2025, 3, 1, 0, 30, tzinfo=UTC)
FAST_RETRY = RetryPolicy(attempts=3, base_s=0.01, max_s=0.05, jitter_s=0.01)


def database_url_of(db: Database) -> str:
    return db.url.render_as_string(hide_password=False)


def live_settings(db: Database, tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url_of(db),
        "market_source": "ccxt",
        "ticker_websockets": False,
        "exchange_timeout_seconds": 1.0,
        "backfill_days": 2,
        "ticker_timeframe": "1h",
        "candle_fetch_delay_seconds": 0,
        "symbols": ["BTC/USDT"],
        "output_dir": tmp_path / "output",
        "telegram_bot_token": None,
        "discord_bot_token": None,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@dataclass
class Rig:
    """Servers, the shared clock and a live market over them."""

    servers: list[ExchangeServer]
    clock: ReplayClock
    market: LiveMarket
    breaker_time: list[float] = field(default_factory=lambda: [0.0])

    @property
    def server(self) -> ExchangeServer:
        return self.servers[0]

    @property
    def ingestor(self) -> Ingestor:
        return self.market.ingestor

    @property
    def client(self) -> CcxtClient:
        return self.market.clients[0]

    def advance(self, ms: int, *, servers: bool = True) -> None:
        """Move the market clock (and the exchanges' clocks unless `servers=False`)."""
        self.clock.set(self.clock.now_ms() + ms)
        if servers:
            for server in self.servers:
                server.now_ms = self.clock.now_ms()

    def set(self, moment: datetime) -> None:
        self.clock.set(moment)
        for server in self.servers:
            server.now_ms = to_ms(moment)


MakeRig = Callable[..., Awaitable[Rig]]


@pytest.fixture
async def make_rig(database: Database, tmp_path: Path) -> AsyncIterator[MakeRig]:
    """`await make_rig(exchanges=2, now=..., **settings)` → a started Rig (no tick loops)."""
    made: list[Rig] = []

    async def build(exchanges: int = 1, now: datetime = NOW, **overrides: Any) -> Rig:
        servers = []
        for index in range(exchanges):
            server = ExchangeServer(now_ms=to_ms(now), price_factor=1.0 + index / 100)
            await server.start()
            servers.append(server)
        names = ["primary", "backup", "third"][:exchanges]
        # The local server has no request budget: skip ccxt's throttle waits.
        configs = [{**server.ccxt_config(), "rateLimit": 1} for server in servers]
        if exchanges > 1:
            overrides.setdefault("exchanges", [f"{n}:binance" for n in names])
            overrides.setdefault(
                "exchange_ccxt_config",
                dict(zip(names, configs, strict=True)),
            )
        else:
            overrides.setdefault("exchange_ccxt_config", configs[0])
        settings = live_settings(database, tmp_path, **overrides)
        clock = ReplayClock(now, speed=0)
        market = build_live_market(settings, database, clock)
        market.refresh_wait_s = 0.01
        rig = Rig(servers, clock, market)
        for client in market.clients:
            client.retry = FAST_RETRY
            client.breaker = CircuitBreaker(
                threshold=3, reset_s=30, clock=lambda: rig.breaker_time[0]
            )
        made.append(rig)
        return rig

    yield build
    for rig in made:
        await rig.market.close()
        for server in rig.servers:
            await server.stop()
