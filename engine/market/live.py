"""Live prices: one stream of ticks, whatever their source.

Websockets (ccxt.pro `watch_tickers`/`watch_ticker`) where the exchange has
them; REST polling (`fetch_tickers`) otherwise, and as the fallback whenever a
symbol has had no websocket tick for a poll interval (a broken socket, an
exchange without websockets). Each symbol is served by the first configured
exchange that lists it; when that exchange fails (errors, open breaker), the
next one that lists it takes over, and the primary is tried again each round,
so prices return to it as soon as it recovers.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

import structlog

from engine.market.ccxt_client import BreakerState, CcxtClient, ExchangeUnavailable
from engine.market.clock import MarketClock

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Tick:
    """A live last price. `time_ms` is when the price was current: the exchange's
    timestamp when it gives one (an exchange can keep serving a frozen ticker
    during a halt, and that must read as old), else the market clock on receipt;
    never later than the market clock (clock skew must not make data look newer)."""

    symbol: str
    price: float
    time_ms: int
    exchange: str
    source: str  # "ws" or "poll"


TickCallback = Callable[[Tick], Awaitable[None] | None]


class TickStream:
    """Latest price per watched symbol, pushed to subscribers as ticks arrive."""

    def __init__(
        self,
        clients: list[CcxtClient],
        clock: MarketClock,
        *,
        poll_s: float = 5.0,
        websockets: bool = True,
        ws_retry_s: float = 60.0,
    ) -> None:
        if not clients:
            raise ValueError("at least one exchange is needed")
        self.clients = clients
        self.clock = clock
        self.poll_s = poll_s
        self.websockets = websockets
        self.ws_retry_s = ws_retry_s
        self.latest: dict[str, Tick] = {}
        self._watched: set[str] = set()
        self._subscribers: list[TickCallback] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._changed = asyncio.Event()

    # -- set-up ------------------------------------------------------------------------

    def subscribe(self, callback: TickCallback) -> None:
        self._subscribers.append(callback)

    def watch(self, symbols: Iterable[str]) -> None:
        new = set(symbols) - self._watched
        if new:
            self._watched |= new
            self._changed.set()  # websocket loops re-subscribe with the new set

    async def route(self, symbol: str) -> list[CcxtClient]:
        """The exchanges that list `symbol`, primary first (unreachable ones skipped)."""
        found = []
        for client in self.clients:
            try:
                if symbol in await client.listed():
                    found.append(client)
            except ExchangeUnavailable:
                continue
        return found

    # -- polling -----------------------------------------------------------------------

    def _needs_poll(self, symbol: str) -> bool:
        tick = self.latest.get(symbol)
        # A websocket that works keeps ticks younger than a poll interval; anything
        # older is polled, which is how polling takes over from a broken socket.
        return tick is None or self.clock.now_ms() - tick.time_ms >= self.poll_s * 1000 * 0.9

    async def poll_once(self, symbols: Iterable[str] | None = None) -> int:
        """One REST round for `symbols` (default: watched ones not fed by a socket).
        Returns how many ticks were published."""
        pending = (
            set(symbols)
            if symbols is not None
            else {s for s in self._watched if self._needs_poll(s)}
        )
        published = 0
        for client in self.clients:
            if not pending:
                break
            mine = [s for s in sorted(pending) if client in await self.route(s)]
            if not mine or client.breaker.state is BreakerState.OPEN:
                continue
            try:
                tickers = await client.fetch_tickers(mine)
            except ExchangeUnavailable as error:
                log.warning("tick_poll_failed", exchange=client.name, error=str(error))
                continue  # the next exchange that lists them takes over
            except Exception:
                log.exception("tick_poll_error", exchange=client.name)
                continue
            for symbol in mine:
                ticker = tickers.get(symbol) or {}
                if ticker.get("last"):
                    await self._publish(self._tick(symbol, ticker, client.name, "poll"))
                    pending.discard(symbol)
                    published += 1
        return published

    async def _poll_loop(self) -> None:
        while True:
            try:
                await self.poll_once()
            except Exception:
                log.exception("tick_poll_loop_error")
            await asyncio.sleep(self.poll_s)

    # -- websockets --------------------------------------------------------------------

    async def _ws_loop(self, client: CcxtClient) -> None:
        exchange = client.exchange
        while True:
            mine = [s for s in sorted(self._watched) if (await self.route(s))[:1] == [client]]
            if not mine:
                self._changed.clear()
                await self._changed.wait()
                continue
            self._changed.clear()
            try:
                while not self._changed.is_set():
                    if exchange.has.get("watchTickers"):
                        tickers = await exchange.watch_tickers(mine)
                    else:
                        tickers = {mine[0]: await exchange.watch_ticker(mine[0])}
                    for symbol, ticker in tickers.items():
                        if ticker.get("last"):
                            await self._publish(self._tick(symbol, ticker, client.name, "ws"))
            except asyncio.CancelledError:
                raise
            except Exception as error:
                # Polling covers these symbols meanwhile (their ticks age past a poll interval).
                log.warning(
                    "ws_failed_polling_instead", exchange=client.name, error=str(error)[:200]
                )
                await asyncio.sleep(self.ws_retry_s)

    # -- lifecycle ---------------------------------------------------------------------

    def _tick(self, symbol: str, ticker: dict, exchange: str, source: str) -> Tick:
        now = self.clock.now_ms()
        stamp = ticker.get("timestamp")
        time_ms = min(now, int(stamp)) if isinstance(stamp, int | float) and stamp > 0 else now
        return Tick(symbol, float(ticker["last"]), time_ms, exchange, source)

    async def _publish(self, tick: Tick) -> None:
        self.latest[tick.symbol] = tick
        for callback in list(self._subscribers):
            try:
                result = callback(tick)
                if inspect.isawaitable(result):
                    await result
            except Exception:  # one broken subscriber must not stop the stream
                log.exception("tick_subscriber_failed", symbol=tick.symbol)

    def start(self) -> None:
        if self._tasks:
            return
        self._tasks.append(asyncio.create_task(self._poll_loop(), name="ticks-poll"))
        if self.websockets:
            for client in self.clients:
                if client.has_websockets:
                    self._tasks.append(
                        asyncio.create_task(self._ws_loop(client), name=f"ticks-ws-{client.name}")
                    )

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
