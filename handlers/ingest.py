"""Candle ingestion: backfill, gap repair and new-candle pickup, written through storage.

One algorithm serves all three. For a range of open times it works out which
closed candles are expected (the timeframe's grid up to the market clock),
takes away those already stored and the known gaps, and fetches the missing
runs page by page with `since`/`limit`. That makes every run resumable (an
interrupted backfill continues where it stopped, without duplicates: upserts
are keyed on the candle) and turns a gap found later into just another run.

- The still-open candle (open + duration > clock) is never stored.
- A candle the exchange skipped while returning later ones does not exist there
  (an outage, before the listing): it is recorded as a known gap and not asked
  for again. Candles missing at the recent end (the exchange may publish them a
  moment late) are only recorded once they are older than `settle` candles.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import structlog

from engine.market.ccxt_client import CcxtClient
from engine.market.clock import MarketClock
from engine.market.timeframes import DAY_MS, bucket_start, duration_ms
from storage.candles import last_open_time, open_times, upsert_candles
from storage.db import Database
from storage.gaps import add_gaps, load_gaps

log = structlog.get_logger(__name__)

Progress = Callable[[int], None]  # called with the number of candles just accounted for


@dataclass(slots=True)
class SyncResult:
    expected: int = 0  # closed candles in the range
    missing: int = 0  # of which were neither stored nor known gaps at the start
    written: int = 0
    requests: int = 0
    gaps: list[tuple[int, int]] = field(default_factory=list)  # newly recorded
    still_missing: int = 0  # not there yet (recent) or not reached


def _runs(times: np.ndarray, step: int) -> list[tuple[int, int]]:
    """Contiguous runs of a sorted grid subset, as (first, last) open times."""
    if len(times) == 0:
        return []
    breaks = np.flatnonzero(np.diff(times) != step)
    starts = np.r_[0, breaks + 1]
    ends = np.r_[breaks, len(times) - 1]
    return [(int(times[a]), int(times[b])) for a, b in zip(starts, ends, strict=True)]


class Ingestor:
    """Keeps the candle table in step with one or more exchanges."""

    def __init__(
        self,
        db: Database,
        clock: MarketClock,
        *,
        depth_days: float = 30,
        page_limit: int = 1000,
        settle_candles: int = 2,
    ) -> None:
        self.db = db
        self.clock = clock
        self.depth_ms = int(depth_days * DAY_MS)
        self.page_limit = page_limit
        self.settle_candles = settle_candles
        self.tracked: set[tuple[str, str, str]] = set()  # (exchange, symbol, timeframe)
        self.last_close: dict[tuple[str, str, str], int] = {}  # newest stored candle's close
        self._locks: dict[tuple[str, str, str], asyncio.Lock] = {}

    def last_closed_open(self, timeframe: str) -> int:
        """Open time of the newest candle that has closed at the market clock."""
        return bucket_start(self.clock.now_ms(), timeframe) - duration_ms(timeframe)

    async def sync(
        self,
        client: CcxtClient,
        symbol: str,
        timeframe: str,
        start_ms: int,
        end_ms: int | None = None,
        progress: Progress | None = None,
        on_plan: Callable[[int], None] | None = None,
        refetch_from: int | None = None,
    ) -> SyncResult:
        """Fetch every missing closed candle with open time in [start_ms, end_ms];
        stored ones from `refetch_from` on are fetched again (see `update`)."""
        step = duration_ms(timeframe)
        now = self.clock.now_ms()
        first = bucket_start(start_ms, timeframe)
        if first < start_ms:
            first += step
        last = self.last_closed_open(timeframe)
        if end_ms is not None:
            last = min(last, bucket_start(end_ms, timeframe))
        result = SyncResult()
        if first > last:
            return result
        grid = np.arange(first, last + 1, step, dtype=np.int64)
        result.expected = len(grid)
        key = (client.name, symbol, timeframe)
        async with self.db.session() as session:
            stored = await open_times(session, client.name, symbol, timeframe, first, last)
            gaps = await load_gaps(session, client.name, symbol, timeframe, first, last)
        if refetch_from is not None:
            stored = stored[stored < refetch_from]
        missing = grid[~np.isin(grid, stored)]
        for gap_start, gap_end in gaps:
            missing = missing[(missing < gap_start) | (missing > gap_end)]
        result.missing = len(missing)
        if on_plan is not None:
            on_plan(len(missing))
        settled_before = now - self.settle_candles * step  # open times older than this are final
        for run_start, run_end in _runs(missing, step):
            since = run_start
            while since <= run_end:
                limit = min(self.page_limit, (run_end - since) // step + 1)
                rows = await client.fetch_ohlcv(symbol, timeframe, since, limit)
                result.requests += 1
                closed = [r for r in rows if since <= r[0] <= run_end and r[0] + step <= now]
                new_gaps: list[tuple[int, int]] = []
                if rows and int(rows[-1][0]) >= since:  # (an exchange ignoring `since`: stop)
                    seen_until = min(int(rows[-1][0]), run_end)
                    got = np.array([int(r[0]) for r in closed], dtype=np.int64)
                    window = np.arange(since, seen_until + 1, step, dtype=np.int64)
                    # The exchange answered past these without them: they do not exist there.
                    new_gaps = _runs(window[~np.isin(window, got)], step)
                    next_since = seen_until + step
                    exhausted = len(rows) < limit and seen_until < run_end
                else:
                    next_since, exhausted = since, True
                if exhausted:
                    # Nothing more from the exchange up to its present: old enough means gone.
                    tail_end = min(run_end, bucket_start(settled_before, timeframe) - step)
                    if tail_end >= next_since:
                        new_gaps.append((next_since, tail_end))
                async with self.db.session() as session:
                    if closed:
                        await upsert_candles(session, client.name, symbol, timeframe, closed)
                    await add_gaps(session, client.name, symbol, timeframe, new_gaps)
                result.written += len(closed)
                result.gaps += new_gaps
                if progress is not None:
                    progress(len(closed) + sum((b - a) // step + 1 for a, b in new_gaps))
                if new_gaps:
                    log.info(
                        "candle_gaps_recorded",
                        exchange=client.name,
                        symbol=symbol,
                        timeframe=timeframe,
                        gaps=new_gaps,
                    )
                if exhausted:
                    break
                since = next_since
        recorded = sum((b - a) // step + 1 for a, b in result.gaps)
        result.still_missing = result.missing - result.written - recorded
        await self._remember_last(client.name, symbol, timeframe)
        log.debug(
            "candles_synced",
            exchange=key[0],
            symbol=symbol,
            timeframe=timeframe,
            written=result.written,
            requests=result.requests,
        )
        return result

    async def _remember_last(self, exchange: str, symbol: str, timeframe: str) -> int | None:
        async with self.db.session() as session:
            newest = await last_open_time(session, exchange, symbol, timeframe)
        if newest is not None:
            self.last_close[(exchange, symbol, timeframe)] = newest + duration_ms(timeframe)
        return newest

    async def ensure(self, client: CcxtClient, symbol: str, timeframe: str) -> None:
        """Backfill `symbol` at `timeframe` to the configured depth the first time it
        is needed, and keep it updated on every candle close from then on."""
        key = (client.name, symbol, timeframe)
        if key in self.tracked:
            return
        async with self._locks.setdefault(key, asyncio.Lock()):
            if key in self.tracked:
                return
            await self.sync(client, symbol, timeframe, self.clock.now_ms() - self.depth_ms)
            self.tracked.add(key)

    async def update(self, client: CcxtClient, symbol: str, timeframe: str) -> SyncResult:
        """Pick up newly closed candles, and fetch the newest stored ones again.

        Why again: a candle is judged closed by our clock; if the exchange's clock
        lags (or it halted mid-candle) what it served may have been its still-open
        candle. Re-reading the last few (in the same request) lets upserts replace
        such a candle with its final values once the exchange has them."""
        step = duration_ms(timeframe)
        depth_start = self.clock.now_ms() - self.depth_ms
        newest = self.last_close.get((client.name, symbol, timeframe))
        if newest is None:
            newest = (
                await self._remember_last(client.name, symbol, timeframe) or depth_start
            ) + step
        start = max(depth_start, newest - (self.settle_candles + 1) * step)
        async with self._locks.setdefault((client.name, symbol, timeframe), asyncio.Lock()):
            return await self.sync(client, symbol, timeframe, start, refetch_from=start)
