"""One exchange over ccxt: construction from config, deliberate error mapping,
retries with backoff and jitter, and a circuit breaker.

Only public endpoints are used (no keys). Every call goes through `_call`, which
 - fails fast while the exchange's breaker is open,
 - retries transient failures (network errors, timeouts, 5xx, 429/418) with
   exponential backoff and jitter, honouring `Retry-After`,
 - never retries a permanent error (bad symbol, bad request, not supported):
   asking again would get the same answer, and those do not count against the
   exchange's health either, since they are our mistake, not its.
"""

from __future__ import annotations

import asyncio
import copy
import enum
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import aiohttp
import ccxt
import ccxt.async_support as ccxt_async
import structlog
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from engine.market.types import MarketError

log = structlog.get_logger(__name__)

T = TypeVar("T")

MARKETS_REFRESH_S = 24 * 3600.0


class ExchangeUnavailable(MarketError):
    """The exchange could not be reached (after retries) or its breaker is open."""

    def __init__(self, exchange: str, reason: str) -> None:
        super().__init__(f"{exchange}: {reason}")
        self.exchange = exchange
        self.reason = reason


class ErrorKind(enum.Enum):
    TRANSIENT = "transient"  # retry with backoff; counts against the breaker
    RATE_LIMIT = "rate_limit"  # retry after Retry-After (or backoff); counts too
    PERMANENT = "permanent"  # never retried; the exchange itself is fine


class RetryAfter(ccxt.RateLimitExceeded):
    """A 429/418 that carried a `Retry-After` header (seconds)."""

    def __init__(self, message: str, retry_after: float | None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def classify(error: BaseException) -> ErrorKind:
    """How to treat an error from a ccxt call.

    ccxt's hierarchy is not enough on its own: an exchange's error-code table may
    turn a 5xx with a JSON body into `ExchangeError` or `OperationFailed` (Binance
    -1000 "unknown error", unlisted codes), and aiohttp payload errors surface as
    plain `ExchangeError`. The response status is therefore checked at the source
    (see `_guard_status`), which re-raises 5xx as `ExchangeNotAvailable`.
    """
    if isinstance(error, ccxt.DDoSProtection | ccxt.RateLimitExceeded):
        return ErrorKind.RATE_LIMIT
    if isinstance(error, ccxt.NetworkError | TimeoutError | aiohttp.ClientError):
        return ErrorKind.TRANSIENT
    if isinstance(error, ccxt.BadResponse):  # truncated/garbled body: try again
        return ErrorKind.TRANSIENT
    if isinstance(error, ccxt.ExchangeError) and isinstance(error.__cause__, aiohttp.ClientError):
        return ErrorKind.TRANSIENT
    if isinstance(error, ccxt.OperationFailed) and not isinstance(error, ccxt.ExchangeError):
        return ErrorKind.TRANSIENT  # "operation failed, try again" codes
    return ErrorKind.PERMANENT


def _retry_after_seconds(headers: dict[str, str] | None) -> float | None:
    if not headers:
        return None
    for key, value in headers.items():
        if key.lower() == "retry-after":
            try:
                return max(0.0, float(value))
            except ValueError:
                return None  # an HTTP date: rare on exchanges; fall back to backoff
    return None


def _guard_status(exchange: Any) -> None:
    """Wrap the instance's `handle_errors` so the HTTP status decides first.

    Done per request at the source (not from `last_response_headers`, which
    concurrent requests overwrite), so the status and headers are this call's.
    """
    original = exchange.handle_errors

    def handle_errors(code: int, reason: str, url: str, method: str, headers: dict, *rest: Any):
        if code in (418, 429):
            raise RetryAfter(
                f"{exchange.id} {code} {reason}", _retry_after_seconds(headers)
            ) from None
        try:
            return original(code, reason, url, method, headers, *rest)
        except ccxt.NetworkError:
            raise
        except ccxt.BaseError as error:
            if code is not None and code >= 500:
                raise ccxt.ExchangeNotAvailable(f"{exchange.id} {code} {error}") from error
            raise

    exchange.handle_errors = handle_errors


def deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """`extra` merged into a copy of `base`, nested dicts merged key by key."""
    merged = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def build_exchange(
    exchange_id: str, extra: dict[str, Any] | None = None, *, websockets: bool, timeout_s: float
) -> Any:
    """A ccxt exchange for public data; ccxt.pro's class when websockets are wanted
    and the exchange has one (it also does everything the REST class does)."""
    config = deep_merge(
        {"enableRateLimit": True, "timeout": int(timeout_s * 1000)},
        extra or {},
    )
    module: Any = ccxt_async
    if websockets:
        import ccxt.pro as ccxt_pro

        if exchange_id in ccxt_pro.exchanges:
            module = ccxt_pro
    if exchange_id not in ccxt_async.exchanges:
        raise ValueError(f"unknown ccxt exchange id {exchange_id!r}")
    exchange = getattr(module, exchange_id)(config)
    _guard_status(exchange)
    return exchange


class BreakerState(enum.Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass
class CircuitBreaker:
    """Per-exchange breaker: after `threshold` consecutive failed calls it opens
    for `reset_s`; then one trial call is let through (half-open), whose success
    closes it and whose failure opens it again.

    Why: an exchange that is down would otherwise have every caller wait through
    its full retry schedule; open, callers fail at once and the backup exchange
    takes over."""

    threshold: int = 5
    reset_s: float = 60.0
    clock: Callable[[], float] = time.monotonic
    failures: int = 0
    opened_at: float | None = None
    _trial: bool = field(default=False, repr=False)

    @property
    def state(self) -> BreakerState:
        if self.opened_at is None:
            return BreakerState.CLOSED
        if self.clock() - self.opened_at >= self.reset_s:
            return BreakerState.HALF_OPEN
        return BreakerState.OPEN

    def allow(self) -> bool:
        state = self.state
        if state is BreakerState.CLOSED:
            return True
        if state is BreakerState.HALF_OPEN and not self._trial:
            self._trial = True
            return True
        return False

    def success(self) -> None:
        self.failures = 0
        self.opened_at = None
        self._trial = False

    def failure(self) -> None:
        self.failures += 1
        self._trial = False
        if self.opened_at is not None or self.failures >= self.threshold:
            self.opened_at = self.clock()


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4
    base_s: float = 0.5
    max_s: float = 30.0
    jitter_s: float = 0.5
    max_retry_after_s: float = 60.0  # never sleep longer than this on a server's say-so


class CcxtClient:
    """Public market data from one exchange, with retries and a breaker.

    `name` is what PulseWave calls the exchange (stored with each candle);
    `exchange` is the ccxt instance (its id may differ, e.g. two Binance
    endpoints named "binance" and "binance-backup")."""

    def __init__(
        self,
        name: str,
        exchange: Any,
        *,
        retry: RetryPolicy | None = None,
        breaker: CircuitBreaker | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.name = name
        self.exchange = exchange
        self.retry = retry or RetryPolicy()
        self.breaker = breaker or CircuitBreaker()
        self._sleep = sleep
        self._markets_at: float | None = None
        self._markets_lock = asyncio.Lock()
        self._listed: tuple[float | None, frozenset[str]] | None = None

    # -- calls -------------------------------------------------------------------------

    async def _call(self, what: str, fn: Callable[[], Awaitable[T]]) -> T:
        policy = self.retry

        def wait(state: RetryCallState) -> float:
            error = state.outcome.exception() if state.outcome else None
            if isinstance(error, RetryAfter) and error.retry_after is not None:
                return min(error.retry_after, policy.max_retry_after_s)
            backoff = min(policy.max_s, policy.base_s * 2 ** (state.attempt_number - 1))
            return backoff + random.uniform(0, policy.jitter_s)

        def retryable(error: BaseException) -> bool:
            return classify(error) is not ErrorKind.PERMANENT and self.breaker.state is (
                BreakerState.CLOSED
            )

        async def attempt() -> T:
            if not self.breaker.allow():
                raise ExchangeUnavailable(self.name, "circuit open")
            try:
                result = await fn()
            except Exception as error:
                if classify(error) is not ErrorKind.PERMANENT:
                    self.breaker.failure()
                    log.warning(
                        "exchange_call_failed",
                        exchange=self.name,
                        call=what,
                        error=str(error)[:200],
                    )
                raise
            self.breaker.success()
            return result

        retrying = AsyncRetrying(
            stop=stop_after_attempt(policy.attempts),
            wait=wait,
            retry=retry_if_exception(retryable),
            sleep=self._sleep,
            reraise=True,
        )
        try:
            return await retrying(attempt)
        except ExchangeUnavailable:
            raise
        except Exception as error:
            if classify(error) is ErrorKind.PERMANENT:
                raise
            raise ExchangeUnavailable(self.name, type(error).__name__) from error

    async def markets(self) -> dict[str, dict[str, Any]]:
        """ccxt's market table, loaded once and refreshed daily (listings change)."""
        now = time.monotonic()
        if self._markets_at is None or now - self._markets_at >= MARKETS_REFRESH_S:
            async with self._markets_lock:
                if self._markets_at is None or now - self._markets_at >= MARKETS_REFRESH_S:
                    reload = self._markets_at is not None
                    await self._call("load_markets", lambda: self.exchange.load_markets(reload))
                    self._markets_at = time.monotonic()
        return self.exchange.markets or {}

    async def symbols(self) -> list[str]:
        """Active spot symbols as `BASE/QUOTE`."""
        return sorted(await self.listed())

    async def listed(self) -> frozenset[str]:
        """The same as a set, rebuilt only when the markets were reloaded."""
        markets = await self.markets()
        if self._listed is None or self._listed[0] != self._markets_at:
            symbols = frozenset(
                symbol
                for symbol, market in markets.items()
                if market.get("spot") and market.get("active") is not False and "/" in symbol
            )
            self._listed = (self._markets_at, symbols)
        return self._listed[1]

    async def fetch_ohlcv(
        self, symbol: str, timeframe: str, since: int | None, limit: int
    ) -> list[list[float]]:
        await self.markets()
        return await self._call(
            "fetch_ohlcv",
            lambda: self.exchange.fetch_ohlcv(symbol, timeframe, since=since, limit=limit),
        )

    async def fetch_tickers(self, symbols: list[str]) -> dict[str, dict[str, Any]]:
        await self.markets()
        if self.exchange.has.get("fetchTickers"):
            return await self._call("fetch_tickers", lambda: self.exchange.fetch_tickers(symbols))
        result = {}
        for symbol in symbols:  # exchanges without a bulk endpoint: one by one
            result[symbol] = await self._call(
                "fetch_ticker", lambda s=symbol: self.exchange.fetch_ticker(s)
            )
        return result

    @property
    def has_websockets(self) -> bool:
        has = getattr(self.exchange, "has", {})
        return bool(
            hasattr(self.exchange, "watch_ticker")
            and (has.get("watchTickers") or has.get("watchTicker"))
        )

    async def close(self) -> None:
        try:
            await self.exchange.close()
        except Exception:  # closing must not mask the reason we are shutting down
            log.debug("exchange_close_failed", exchange=self.name)
