"""The running alarms: one `AlarmService` per process (``job_state["alarms"]``)
holds the active alarms of active chats in memory (an `AlarmBook`, a `ChangeWatch`,
indicator alarms by market and timeframe), loaded from storage on first use, kept
in step by the handlers (`track`, `forget`) and, every `RESYNC_SECONDS`, with the
alarms other processes created; and the entry points of the handlers and the
scheduler (`alarm_service`, `poll_prices`, `at_candle_close`, `close_alarms`).
A tick (live stream, or `poll` of the replay each second) is matched in memory;
indicator alarms are evaluated at candle closes. Each alarm that fires leaves the
book, gets a chart (`handlers.alarm_charts`: rendered ahead for tick-driven
alarms; a failed chart only costs the picture), then is recorded by the one
transaction of `handlers.alarm_firing`; a failed transaction puts it back.
Stale data fires nothing.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Iterable
from typing import TYPE_CHECKING, cast

import structlog

from engine.alarms import (
    AlarmBook,
    AlarmKind,
    PriceAlarm,
)
from engine.change_alarms import ChangeAlarm, ChangeWatch
from engine.market.path import recent_price_path
from engine.market.timeframes import duration_ms
from engine.market.types import MarketError
from handlers.alarm_charts import ChartKey, chart_key, firing_charts, warm, warms
from handlers.alarm_firing import Firing, commit, indicator_firings
from handlers.alarm_text import PRICE_KINDS, AlarmView
from handlers.context import Services
from storage import alarms as alarm_store

if TYPE_CHECKING:
    from engine.market.live import Tick  # the live stream imports ccxt: not at run time

log = structlog.get_logger(__name__)

STATE_KEY = "alarms"
RESYNC_SECONDS = 60.0


def _price_alarm(view: AlarmView) -> PriceAlarm:
    kind = cast(AlarmKind, view.kind)
    return PriceAlarm(view.id, view.symbol, kind, view.level, view.reference)


class AlarmService:
    def __init__(self, services: Services) -> None:
        self.services = services
        self.book = AlarmBook()
        self.watch = ChangeWatch()
        self.known: dict[int, AlarmView] = {}  # every alarm this process runs
        self.indicators: dict[tuple[str, str], dict[int, AlarmView]] = {}
        # (symbol, chart timeframe) of the price and change alarms: their symbols
        # take ticks, their charts are rendered ahead.
        self._chart_keys: Counter[ChartKey] = Counter()
        self._in_flight: set[int] = set()  # firings being recorded
        self._tasks: set[asyncio.Task[int]] = set()  # firings recorded in the background
        self._warming: set[asyncio.Task[int]] = set()  # charts rendered ahead
        self._synced_at = time.monotonic()

    @property
    def polls(self) -> bool:
        """True when the feed has no tick stream (replay): `poll` must be called."""
        return not hasattr(self.services.market, "subscribe_fresh_ticks")

    # -- keeping in step with storage ---------------------------------------------------

    async def load(self) -> int:
        """Load every active alarm of an active chat (once, at start)."""
        async with self.services.db.session() as session:
            rows = await alarm_store.active_alarms(session)
        views = [AlarmView.of(row) for row in rows]
        self.book = AlarmBook(_price_alarm(v) for v in views if v.kind in PRICE_KINDS)
        for view in views:
            self.known[view.id] = view
            if view.kind not in PRICE_KINDS:
                self._arm(view)
            self._count(view, +1)
        self._synced_at = time.monotonic()
        self._warm(views)
        for symbol in {view.symbol for view in views if view.kind == "change"}:
            await self._seed_change_windows(symbol)
        log.info("alarms_loaded", count=len(views))
        return len(views)

    async def resync(self) -> int:
        """Add the active alarms this process does not know (created by another
        process). Returns how many were added."""
        async with self.services.db.session() as session:
            missing = await alarm_store.active_alarm_ids(session) - set(self.known)
            rows = await alarm_store.active_alarms(session, ids=missing)
        self._synced_at = time.monotonic()
        added = [AlarmView.of(row) for row in rows if row.id not in self.known]
        for view in added:
            self._run(view)
        self._warm(added)  # one pass for all of them
        if added:
            log.info("alarms_resynced", added=len(added))
        return len(added)

    async def _seed_change_windows(self, symbol: str) -> None:
        """After a (re)start, give `symbol`'s change windows the prices of its
        recent closed candles, so a move that began before the start counts."""
        longest = self.watch.longest_window(symbol)
        try:
            points = await recent_price_path(self.services.market, symbol, longest)
        except MarketError as error:
            log.info("change_windows_unseeded", symbol=symbol, reason=str(error))
            return
        self.watch.seed(symbol, points)

    def resync_due(self) -> bool:
        return time.monotonic() - self._synced_at >= RESYNC_SECONDS

    def track(self, view: AlarmView) -> None:
        """Run the active alarm `view` (just created); replaces one with its id."""
        self._run(view)
        self._warm([view])

    def _run(self, view: AlarmView) -> None:
        self.forget(view.id)
        self.known[view.id] = view
        self._arm(view)
        self._count(view, +1)

    def forget(self, alarm_id: int) -> bool:
        """Stop running `alarm_id` (deleted, fired, or not active any more)."""
        view = self.known.pop(alarm_id, None)
        if view is None:
            return False
        self.book.remove(alarm_id)
        self.watch.remove(alarm_id)
        key = (view.symbol, view.timeframe or "")
        if self.indicators.get(key, {}).pop(alarm_id, None) and not self.indicators[key]:
            del self.indicators[key]
        self._count(view, -1)
        return True

    def armed(self, alarm_id: int) -> bool:
        """Whether `alarm_id` can fire now (not fired, not being recorded)."""
        view = self.known.get(alarm_id)
        if view is None or alarm_id in self._in_flight:
            return False
        if view.kind == "indicator":
            return alarm_id in self.indicators.get((view.symbol, view.timeframe or ""), {})
        return alarm_id in self.book or alarm_id in self.watch

    def tick_symbols(self) -> list[str]:
        """The symbols whose prices matter (price and change alarms)."""
        return sorted({symbol for symbol, _ in self._chart_keys})

    def _arm(self, view: AlarmView) -> None:
        if view.kind in PRICE_KINDS:
            self.book.add(_price_alarm(view))
        elif view.kind == "change":
            window = duration_ms(view.timeframe or "1h")
            self.watch.add(ChangeAlarm(view.id, view.symbol, view.level, window))
        else:
            key = (view.symbol, view.timeframe or "")
            self.indicators.setdefault(key, {})[view.id] = view

    def _count(self, view: AlarmView, step: int) -> None:
        if not warms(view):  # indicator alarms: neither ticks nor charts ahead
            return
        key = chart_key(view)
        self._chart_keys[key] += step
        if self._chart_keys[key] <= 0:
            del self._chart_keys[key]
        elif step > 0:
            self._watch_symbol(view.symbol)

    def _watch_symbol(self, symbol: str) -> None:
        """A live feed streams only the symbols it watches: make it watch this one."""
        stream = getattr(self.services.market, "stream", None)
        if stream is not None and hasattr(stream, "watch"):
            stream.watch([symbol])

    # -- prices ---------------------------------------------------------------------------

    def match(self, symbol: str, price: float, ts_ms: int) -> list[Firing]:
        """The alarms this tick fires, taken out of the book (no I/O)."""
        firings = [
            Firing(self.known[alarm.id], float(price), ts_ms)
            for alarm in self.book.on_tick(symbol, price)
            if alarm.id in self.known
        ]
        firings += [
            Firing(self.known[alarm.id], float(price), ts_ms, move)
            for alarm, move in self.watch.on_tick(symbol, price, ts_ms)
            if alarm.id in self.known
        ]
        return firings

    async def on_tick(self, symbol: str, price: float, ts_ms: int) -> int:
        """Match a tick and record what it fired; returns the alarms fired."""
        firings = self.match(symbol, price, ts_ms)
        return await self.record(firings) if firings else 0

    def on_live_tick(self, tick: Tick) -> None:
        """The live stream's callback: match now, record in the background (the
        stream must not wait for charts and the database)."""
        firings = self.match(tick.symbol, tick.price, tick.time_ms)
        if firings:
            self._spawn(self.record(firings))

    async def poll(self) -> int:
        """One replay tick: the last price of every symbol with alarms."""
        market = self.services.market
        fired = 0
        for symbol in self.tick_symbols():
            try:
                if market.is_stale(symbol):
                    continue
                ticker = await market.ticker(symbol)
            except MarketError as error:
                log.debug("alarm_tick_skipped", symbol=symbol, reason=str(error))
                continue
            if not ticker.stale:
                fired += await self.on_tick(symbol, ticker.last, ticker.as_of_ms)
        return fired

    # -- closed candles -------------------------------------------------------------------

    async def on_candle_close(self, timeframe: str) -> int:
        """Evaluate the indicator alarms of `timeframe` on its closed candles (and
        render ahead the new charts of the tick-driven alarms that use it)."""
        self._warm_keys(key for key in self._chart_keys if key[1] == timeframe)
        firings: list[Firing] = []
        due = [(s, group) for (s, tf), group in self.indicators.items() if tf == timeframe]
        for symbol, group in due:
            views = [v for v in group.values() if v.id not in self._in_flight]
            firings += await indicator_firings(self.services.market, symbol, timeframe, views)
        return await self.record(firings) if firings else 0

    # -- recording ----------------------------------------------------------------------

    async def record(self, firings: list[Firing]) -> int:
        """Store each firing with its message, exactly once; returns how many this
        process recorded (others: fired elsewhere, deleted, or failed and re-armed)."""
        ids = [f.view.id for f in firings]
        self._in_flight.update(ids)
        try:
            charts = await firing_charts(self.services.charts, (f.view for f in firings))
            recorded = 0
            for firing in firings:
                view = firing.view
                try:
                    won = await commit(self.services, firing, charts.get(chart_key(view)))
                except Exception:
                    log.exception("alarm_fire_failed", alarm=view.id, symbol=view.symbol)
                    self._rearm(view)
                    continue
                except BaseException:  # cancelled (shutting down): keep it armed
                    self._rearm(view)
                    raise
                self.forget(view.id)
                if won:
                    recorded += 1
                    log.info("alarm_fired", alarm=view.id, chat=view.chat_id, price=firing.price)
            return recorded
        finally:
            self._in_flight.difference_update(ids)

    def _rearm(self, view: AlarmView) -> None:
        """Put back an alarm whose firing could not be recorded (unless it was
        deleted meanwhile): it fires again on the next tick still beyond its level."""
        if view.id in self.known:
            self._arm(view)  # a price alarm goes back into the book (`AlarmBook.add`)

    # -- background work ------------------------------------------------------------------

    def _spawn(self, work: Awaitable[int], tasks: set[asyncio.Task[int]] | None = None) -> None:
        task = asyncio.ensure_future(work)
        group = self._tasks if tasks is None else tasks
        group.add(task)
        task.add_done_callback(group.discard)

    def _warm(self, views: Iterable[AlarmView]) -> None:
        self._warm_keys(chart_key(view) for view in views if warms(view))

    def _warm_keys(self, keys: Iterable[ChartKey]) -> None:
        wanted = set(keys)
        if wanted:
            self._spawn(warm(self.services.charts, wanted), self._warming)

    async def drain(self) -> None:
        """Wait for the firings being recorded in the background."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        """At shutdown: stop rendering ahead, finish recording what fired."""
        for task in list(self._warming):
            task.cancel()
        await asyncio.gather(*list(self._warming), return_exceptions=True)
        await self.drain()


# -- entry points for the handlers and the scheduler ---------------------------------------


async def alarm_service(services: Services) -> AlarmService:
    """This process's alarm service, loaded from storage on first use."""
    service = services.job_state.get(STATE_KEY)
    if isinstance(service, AlarmService):
        return service
    lock = services.job_state.setdefault(f"{STATE_KEY}:lock", asyncio.Lock())
    assert isinstance(lock, asyncio.Lock)
    async with lock:
        service = services.job_state.get(STATE_KEY)
        if isinstance(service, AlarmService):
            return service
        service = AlarmService(services)
        await service.load()
        subscribe = getattr(services.market, "subscribe_fresh_ticks", None)
        if subscribe is not None:
            subscribe(service.on_live_tick)
        services.job_state[STATE_KEY] = service
        return service


async def poll_prices(services: Services) -> int:
    """The scheduler's 1-second job: replayed prices into the alarms."""
    service = await alarm_service(services)
    return await service.poll() if service.polls else 0


async def at_candle_close(services: Services, timeframe: str) -> int:
    """At each candle close: pick up other processes' alarms now and then, and
    evaluate the indicator alarms of `timeframe`."""
    service = await alarm_service(services)
    if service.resync_due():
        await service.resync()
    return await service.on_candle_close(timeframe)


async def close_alarms(services: Services) -> None:
    """Shut this process's alarm service down, if it was started."""
    service = services.job_state.get(STATE_KEY)
    if isinstance(service, AlarmService):
        await service.close()
