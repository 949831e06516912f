"""Retries, error mapping and the circuit breaker, through ccxt against the local server."""

from __future__ import annotations

import time

import ccxt
import pytest

from engine.market.ccxt_client import (
    BreakerState,
    CircuitBreaker,
    ErrorKind,
    ExchangeUnavailable,
    classify,
)
from tests.market.conftest import MakeRig
from tests.market.test_ingest_backfill import START

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (503, "<html>Service Unavailable</html>"),
        (502, ""),
        # Binance's -1000 maps to OperationFailed in ccxt's table, an unknown code to
        # plain ExchangeError: neither is a network error, yet a 5xx is transient.
        (500, '{"code":-1000,"msg":"An unknown error occurred while processing the request."}'),
        (500, '{"code":-1999,"msg":"Internal error"}'),
    ],
)
async def test_5xx_is_retried(make_rig: MakeRig, status: int, body: str) -> None:
    rig = await make_rig()
    rig.server.fail(status, count=2, path="klines", body=body)
    rows = await rig.client.fetch_ohlcv("BTC/USDT", "1h", START, 5)
    assert len(rows) == 5
    assert rig.server.count("/klines") == 3
    assert rig.client.breaker.state is BreakerState.CLOSED


async def test_429_honours_retry_after(make_rig: MakeRig) -> None:
    rig = await make_rig()
    rig.server.fail(429, count=1, path="klines", retry_after=0.4)
    began = time.monotonic()
    assert len(await rig.client.fetch_ohlcv("BTC/USDT", "1h", START, 5)) == 5
    assert time.monotonic() - began >= 0.4  # not the 10 ms backoff: the server's wish
    assert rig.server.count("/klines") == 2


async def test_timeout_is_retried(make_rig: MakeRig) -> None:
    rig = await make_rig(exchange_timeout_seconds=0.3)
    rig.client.exchange.timeout = 300
    rig.server.fail(None, count=1, path="klines", delay_s=0.8)
    assert len(await rig.client.fetch_ohlcv("BTC/USDT", "1h", START, 5)) == 5
    assert rig.server.count("/klines") == 2


async def test_permanent_errors_are_not_retried_and_spare_the_breaker(make_rig: MakeRig) -> None:
    rig = await make_rig()
    rig.server.fail(400, count=1, path="klines", body='{"code":-1121,"msg":"Invalid symbol."}')
    with pytest.raises(ccxt.BadSymbol):
        await rig.client.fetch_ohlcv("BTC/USDT", "1h", START, 5)
    assert rig.server.count("/klines") == 1
    assert rig.client.breaker.failures == 0


async def test_breaker_opens_fails_fast_and_closes_after_recovery(make_rig: MakeRig) -> None:
    rig = await make_rig()
    await rig.client.markets()
    rig.server.down = True
    with pytest.raises(ExchangeUnavailable):
        await rig.client.fetch_ohlcv("BTC/USDT", "1h", START, 5)
    assert rig.client.breaker.state is BreakerState.OPEN
    asked = rig.server.count("/klines")
    with pytest.raises(ExchangeUnavailable, match="circuit open"):
        await rig.client.fetch_ohlcv("BTC/USDT", "1h", START, 5)
    assert rig.server.count("/klines") == asked  # failed fast, the exchange was spared
    rig.breaker_time[0] += 31  # past reset_s: one trial call goes through
    assert rig.client.breaker.state is BreakerState.HALF_OPEN
    with pytest.raises(ExchangeUnavailable):  # still down: open again at once
        await rig.client.fetch_ohlcv("BTC/USDT", "1h", START, 5)
    assert rig.server.count("/klines") == asked + 1
    assert rig.client.breaker.state is BreakerState.OPEN
    rig.server.down = False
    rig.breaker_time[0] += 31
    assert len(await rig.client.fetch_ohlcv("BTC/USDT", "1h", START, 5)) == 5
    assert rig.client.breaker.state is BreakerState.CLOSED


def test_breaker_counts_consecutive_failures_only() -> None:
    now = [0.0]
    breaker = CircuitBreaker(threshold=2, reset_s=10, clock=lambda: now[0])
    breaker.failure()
    breaker.success()
    breaker.failure()
    assert breaker.state is BreakerState.CLOSED
    breaker.failure()
    assert breaker.state is BreakerState.OPEN and not breaker.allow()
    now[0] = 10
    assert breaker.allow() and not breaker.allow()  # exactly one trial


def test_error_classes_are_mapped_deliberately() -> None:
    assert classify(ccxt.RequestTimeout("t")) is ErrorKind.TRANSIENT
    assert classify(ccxt.ExchangeNotAvailable("x")) is ErrorKind.TRANSIENT
    assert classify(ccxt.OnMaintenance("m")) is ErrorKind.TRANSIENT
    assert classify(ccxt.RateLimitExceeded("r")) is ErrorKind.RATE_LIMIT
    assert classify(ccxt.DDoSProtection("d")) is ErrorKind.RATE_LIMIT
    assert classify(ccxt.OperationFailed("o")) is ErrorKind.TRANSIENT
    assert classify(ccxt.BadResponse("b")) is ErrorKind.TRANSIENT
    for permanent in (ccxt.BadSymbol, ccxt.BadRequest, ccxt.NotSupported, ccxt.ExchangeError):
        assert classify(permanent("p")) is ErrorKind.PERMANENT
