"""The live `MarketFeed`: candles from storage (kept current by the ingestor),
prices from the live tick stream, staleness judged on both.

Candles are served from the exchange that lists the symbol first (the primary);
when it cannot be reached, what is stored is served with its age and the stale
flag, and live prices come from the next exchange that lists the symbol.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import aclosing

import structlog

from engine.market.ccxt_client import CcxtClient, ExchangeUnavailable
from engine.market.clock import MarketClock
from engine.market.closes import CandleClose
from engine.market.live import Tick, TickStream
from engine.market.series import CandleSeries, day_window
from engine.market.symbols import close_matches
from engine.market.timeframes import DAY_MS, duration_ms
from engine.market.types import Candles, NoData, Ticker, UnknownSymbol, UnsupportedTimeframe
from handlers.ingest import Ingestor
from storage.candles import load_candles
from storage.db import Database

log = structlog.get_logger(__name__)


class LiveMarket:
    """A `MarketFeed` over one or more ccxt exchanges (primary first)."""

    is_demo = False

    def __init__(
        self,
        db: Database,
        clients: list[CcxtClient],
        clock: MarketClock,
        stream: TickStream,
        ingestor: Ingestor,
        *,
        timeframes: list[str],
        ticker_timeframe: str = "5m",
        stale_after_candles: float = 2.0,
        price_stale_s: float = 120.0,
        fetch_delay_s: float = 2.0,
        initial_symbols: list[str] | None = None,
    ) -> None:
        self.db = db
        self.clients = clients
        self.clock = clock
        self.stream = stream
        self.ingestor = ingestor
        self.allowed = list(timeframes)
        self.ticker_timeframe = ticker_timeframe
        self.stale_after_candles = stale_after_candles
        self.price_stale_ms = int(price_stale_s * 1000)
        self.fetch_delay_s = fetch_delay_s
        self.initial_symbols = list(initial_symbols or [])
        self._tasks: set[asyncio.Task[None]] = set()
        self.refresh_wait_s = 1.0  # between attempts for a candle not published yet

    @property
    def name(self) -> str:
        return self.clients[0].name

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        """Start the tick stream and, in the background, backfill the configured
        symbols (a slow or absent exchange must not hold up the chat)."""
        self.stream.watch(self.initial_symbols)
        self.stream.start()
        self._spawn(self._warm_up())

    async def _warm_up(self) -> None:
        for symbol in self.initial_symbols:
            try:
                await self.ingestor.ensure(
                    await self.client_for(symbol), symbol, self.ticker_timeframe
                )
            except Exception as error:  # retried on demand and at the next candle close
                log.warning("warm_up_failed", symbol=symbol, error=str(error))

    def _spawn(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.stream.stop()
        for client in self.clients:
            await client.close()

    # -- symbols -----------------------------------------------------------------------

    async def symbols(self) -> list[str]:
        known: set[str] = set()
        async for listed in self._listings():
            known |= listed
        return sorted(known)

    async def has_symbol(self, symbol: str) -> bool:
        async with aclosing(self._listings()) as listings:
            async for listed in listings:
                if symbol in listed:
                    return True
        return False

    async def _listings(self) -> AsyncIterator[frozenset[str]]:
        """Each reachable exchange's symbols; `ExchangeUnavailable` if none is."""
        reachable = False
        for client in self.clients:
            try:
                listed = await client.listed()
            except ExchangeUnavailable:
                continue
            reachable = True
            yield listed
        if not reachable:
            raise ExchangeUnavailable(self.name, "no exchange reachable")

    async def client_for(self, symbol: str) -> CcxtClient:
        """The first exchange listing `symbol` (the primary for its candles)."""
        route = await self.stream.route(symbol)
        if not route:
            raise UnknownSymbol(symbol, close_matches(symbol, await self.symbols()))
        return route[0]

    async def timeframes(self, symbol: str) -> list[str]:
        client = await self.client_for(symbol)
        offered = getattr(client.exchange, "timeframes", None) or {}
        return [tf for tf in self.allowed if not offered or tf in offered]

    # -- staleness ---------------------------------------------------------------------

    def stale_after_ms(self, timeframe: str) -> int:
        """How old the newest closed candle may get: `stale_after_candles` candles
        (one is the normal wait for the next close; the rest is slack for delays)."""
        return int(self.stale_after_candles * duration_ms(timeframe))

    def candle_age_ms(self, symbol: str, timeframe: str) -> int | None:
        closes = [
            self.ingestor.last_close[key]
            for client in self.clients
            if (key := (client.name, symbol, timeframe)) in self.ingestor.last_close
        ]
        return self.clock.now_ms() - max(closes) if closes else None

    def price_age_ms(self, symbol: str) -> int | None:
        tick = self.stream.latest.get(symbol)
        return None if tick is None else self.clock.now_ms() - tick.time_ms

    def is_stale(self, symbol: str, timeframe: str | None = None) -> bool:
        """Stale unless proven fresh: no data at all counts as stale."""
        if timeframe is None:
            age = self.price_age_ms(symbol)
            if age is not None and age <= self.price_stale_ms:
                return False
            timeframe = self.ticker_timeframe
        age = self.candle_age_ms(symbol, timeframe)
        return age is None or age > self.stale_after_ms(timeframe)

    def subscribe_fresh_ticks(self, callback: Callable[[Tick], Awaitable[None] | None]) -> None:
        """Ticks for alarms: only of symbols whose data is fresh (never act on stale data)."""

        def gate(tick: Tick) -> Awaitable[None] | None:
            if self.is_stale(tick.symbol):
                log.info("tick_suppressed_stale", symbol=tick.symbol)
                return None
            return callback(tick)

        self.stream.subscribe(gate)

    # -- data --------------------------------------------------------------------------

    async def _stored(
        self, symbol: str, timeframe: str, limit: int
    ) -> tuple[CcxtClient, CandleSeries]:
        """The exchange serving `symbol` and its newest `limit` stored closed candles
        (fetched first if missing or due)."""
        client = await self.client_for(symbol)
        if timeframe not in await self.timeframes(symbol):
            raise UnsupportedTimeframe(symbol, timeframe, await self.timeframes(symbol))
        failure: ExchangeUnavailable | None = None
        try:
            await self.ingestor.ensure(client, symbol, timeframe)
        except ExchangeUnavailable as error:  # serve what is stored, marked stale
            failure = error
            log.warning(
                "candles_from_store_only", symbol=symbol, timeframe=timeframe, error=str(error)
            )
        async with self.db.session() as session:
            series = await load_candles(
                session,
                client.name,
                symbol,
                timeframe,
                end_ms=self.ingestor.last_closed_open(timeframe),
                limit=max(1, limit),
            )
        if len(series) == 0:
            if failure is not None:
                raise failure
            raise NoData(symbol, timeframe)
        self.ingestor.last_close.setdefault((client.name, symbol, timeframe), series.last_close_ms)
        return client, series

    async def candles(self, symbol: str, timeframe: str, limit: int) -> Candles:
        client, series = await self._stored(symbol, timeframe, limit)
        return Candles(
            symbol,
            timeframe,
            series.frame(0, len(series)),
            self.clock.now_ms(),
            client.name,
            stale=self.is_stale(symbol, timeframe),
        )

    async def ticker(self, symbol: str) -> Ticker:
        timeframe = self.ticker_timeframe
        step = duration_ms(timeframe)
        self.stream.watch([symbol])
        if self.price_age_ms(symbol) is None or self.price_age_ms(symbol) > self.price_stale_ms:
            await self.stream.poll_once([symbol])  # the first ask, or the stream lags: ask now
        client, series = await self._stored(symbol, timeframe, DAY_MS // step + 2)
        window = day_window(series, len(series))
        tick = self.stream.latest.get(symbol)
        now = self.clock.now_ms()
        if (
            tick is not None
            and now - tick.time_ms <= self.price_stale_ms
            and tick.time_ms >= window.close_ms - step
        ):
            last, as_of, source = tick.price, tick.time_ms, tick.exchange
        else:
            last, as_of, source = window.last_close, window.close_ms, client.name
        return Ticker(
            symbol=symbol,
            last=last,
            change_pct=window.change_pct(last),
            high=max(window.high, last),
            low=min(window.low, last),
            volume=window.volume,
            timeframe=timeframe,
            as_of_ms=as_of,
            age_ms=now - as_of,
            source=source,
            stale=self.is_stale(symbol),
        )

    # -- scheduled ---------------------------------------------------------------------

    async def on_candle_close(self, event: CandleClose, *, wait: bool = False) -> None:
        """A `timeframe` candle closed on the market clock: fetch it for every tracked
        market shortly after (exchanges publish the final candle a moment late)."""
        work = self.refresh(event.timeframe, delay_s=self.fetch_delay_s)
        if wait:
            await work
        else:
            self._spawn(work)

    async def refresh(self, timeframe: str, delay_s: float = 0.0, attempts: int = 3) -> None:
        if delay_s:
            await asyncio.sleep(delay_s)
        by_name = {client.name: client for client in self.clients}
        for exchange, symbol, tf in sorted(self.ingestor.tracked):
            if tf != timeframe or exchange not in by_name:
                continue
            for attempt in range(attempts):
                try:
                    result = await self.ingestor.update(by_name[exchange], symbol, tf)
                except ExchangeUnavailable as error:
                    log.warning(
                        "candle_refresh_failed", symbol=symbol, timeframe=tf, error=str(error)
                    )
                    break
                if result.still_missing == 0 or attempt == attempts - 1:
                    break
                await asyncio.sleep(max(delay_s, self.refresh_wait_s))  # not there yet: ask again
