"""Signal jobs: scan markets at each candle close, follow open signals to their
outcome, and queue new signals for the chats that follow them.

**What is scanned** at a close of timeframe TF: every market of the watchlist
(`SYMBOLS`) when TF is one of `SIGNAL_TIMEFRAMES`, with every strategy (so the
track record covers them all), plus every market a chat follows at TF (or at
any timeframe, when TF is a signal timeframe) with the strategies followed.

**Live signals** are the ones decided on the candle that just closed; they are
stored (once: `storage.signals.record_signals`) and, in the same transaction, a
notification with its chart and one outbox row per following chat are written.
**History**: the first scan of a market in a process also stores the signals of
the previous `SIGNAL_HISTORY_CANDLES` candles (source ``history``, never
delivered), so the track record starts with substance. They come from one run
over a longer window than a live scan uses; with the warm-up that window gives,
recursive indicators have converged, but a signal that depends on a pivot older
than the live window could differ from what a live run would have said.

**Outcomes**: at each close of TF, every open TF signal is followed
(`engine.signals.follow`) on the closed candles after it and the result stored;
stop and target in one candle count as the stop.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass, field

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from engine.market.timeframes import duration_ms
from engine.market.types import MarketError
from engine.signals import follow
from engine.strategies import STRATEGIES
from engine.strategies.base import Features, Signal
from handlers.context import Services
from handlers.signal_text import ANY_TIMEFRAME, SignalView
from storage import follows as follow_store
from storage import outbox
from storage import signals as signal_store

log = structlog.get_logger(__name__)

SCAN_CANDLES = 500  # what a live scan reads: warm-up for EMA 200 and the regime
MAX_FOLLOW_CANDLES = 10_000  # outcome tracking reads at most this many candles back


@dataclass(slots=True)
class ScanState:
    """What one process remembers between scans: the markets whose history it
    has already recorded."""

    history_done: set[tuple[str, str]] = field(default_factory=set)


@dataclass(frozen=True, slots=True)
class ScanResult:
    live: list[signal_store.NewSignal]
    history: int
    queued: int  # outbox rows written


async def scan_targets(services: Services, timeframe: str) -> dict[str, set[str]]:
    """Markets to scan at a `timeframe` close, with the strategies to run."""
    config = services.config
    targets: dict[str, set[str]] = defaultdict(set)
    signal_tf = timeframe in config.signal_timeframes
    if signal_tf:
        for symbol in config.watchlist:
            targets[symbol].update(STRATEGIES)
    async with services.db.session() as session:
        followed = await follow_store.followed_markets(session)
    for symbol, tf, strategy in followed:
        if tf == timeframe or (tf == ANY_TIMEFRAME and signal_tf):
            if strategy == follow_store.ALL_STRATEGIES:
                targets[symbol].update(STRATEGIES)
            elif strategy in STRATEGIES:
                targets[symbol].add(strategy)
    return dict(targets)


async def scan(services: Services, timeframe: str, state: ScanState) -> ScanResult:
    """Scan every target market at `timeframe`'s last closed candle."""
    live: list[signal_store.NewSignal] = []
    history = queued = 0
    for symbol, strategies in sorted((await scan_targets(services, timeframe)).items()):
        try:
            result = await scan_market(services, symbol, timeframe, strategies, state)
        except MarketError as error:
            log.warning("scan_skipped", symbol=symbol, timeframe=timeframe, reason=str(error))
            continue
        live += result.live
        history += result.history
        queued += result.queued
    return ScanResult(live, history, queued)


async def scan_market(
    services: Services,
    symbol: str,
    timeframe: str,
    strategies: set[str],
    state: ScanState,
) -> ScanResult:
    market = services.market
    first = (symbol, timeframe) not in state.history_done
    extra = services.config.signal_history_candles if first else 0
    candles = await market.candles(symbol, timeframe, SCAN_CANDLES + extra)
    if candles.stale:  # acting on old data would be dishonest: wait for fresh candles
        log.info("scan_paused_stale", symbol=symbol, timeframe=timeframe)
        return ScanResult([], 0, 0)
    frame = candles.frame
    times = frame.index.as_unit("ms").asi8
    last_open = int(times[-1])
    cutoff = int(times[max(0, len(times) - 1 - extra)]) if extra else last_open
    features = Features(frame)

    def run_all() -> list[Signal]:
        found: list[Signal] = []
        for name in sorted(strategies):
            spec = STRATEGIES[name]
            found += spec.run(features, spec.params(), symbol, timeframe)
        return found

    signals = await asyncio.to_thread(run_all)
    # A live signal is one decided on the candle that just closed; when the data
    # lags (the replay ran past its end, an exchange outage) it is history instead.
    # Every signal is on a candle of this frame, so none is later than last_open.
    if candles.behind(1):
        fresh: list[Signal] = []
        past = [s for s in signals if cutoff <= s.candle_open_ms]
    else:
        fresh = [s for s in signals if s.candle_open_ms == last_open]
        past = [s for s in signals if cutoff <= s.candle_open_ms < last_open]
    chart = await _chart_for(services, symbol, timeframe, fresh)
    async with services.db.session() as session:
        new = await signal_store.record_signals(session, fresh, "live")
        recorded_past = await signal_store.record_signals(session, past, "history")
        recipients = [await _notify_followers(session, item, chart) for item in new]
    state.history_done.add((symbol, timeframe))
    for item, count in zip(new, recipients, strict=True):
        log.info(
            "signal",
            id=item.id,
            strategy=item.signal.strategy,
            symbol=symbol,
            timeframe=timeframe,
            side=item.signal.side,
            recipients=count,
        )
    return ScanResult(new, len(recorded_past), sum(recipients))


async def _chart_for(
    services: Services, symbol: str, timeframe: str, fresh: list[Signal]
) -> tuple[bytes, str] | None:
    """One chart for the candle's new signals (their stops, targets and markers),
    rendered before the transaction (a render takes a while), and only when some
    chat will receive it."""
    if not fresh:
        return None
    strategies = tuple({s.strategy for s in fresh})
    async with services.db.session() as session:
        chats = await follow_store.followers(session, symbol, timeframe, strategies)
    if not chats:
        return None
    levels = tuple(sorted({s.stop for s in fresh} | {s.target for s in fresh}))
    markers = tuple((s.candle_open_ms, s.side) for s in fresh)
    return await services.charts.notification_chart(symbol, timeframe, levels, markers)


async def _notify_followers(
    session: AsyncSession, item: signal_store.NewSignal, chart: tuple[bytes, str] | None
) -> int:
    s = item.signal
    chat_ids = await follow_store.followers(session, s.symbol, s.timeframe, (s.strategy,))
    if not chat_ids:
        return 0
    view = SignalView.of_signal(item.id, s)
    notification_id = await outbox.create_notification(
        session,
        f"signal:{item.id}",
        "signal",
        view.payload(),
        image=chart[0] if chart else None,
        image_name=chart[1] if chart else None,
    )
    if notification_id is None:
        return 0
    return await outbox.enqueue(session, notification_id, chat_ids)


async def track_outcomes(services: Services, timeframe: str) -> int:
    """Follow every open `timeframe` signal on the candles closed since; returns
    how many closed now."""
    async with services.db.session() as session:
        rows = await signal_store.open_signals(session, timeframe)
    by_symbol: dict[str, list] = defaultdict(list)
    for row in rows:
        by_symbol[row.symbol].append(row)
    step = duration_ms(timeframe)
    expiry = services.config.signal_expiry_candles
    closed = 0
    for symbol, open_rows in by_symbol.items():
        oldest = min(row.candle_open_ms for row in open_rows)
        needed = (services.clock.now_ms() - oldest) // step + 2
        try:
            candles = await services.market.candles(
                symbol, timeframe, int(min(needed, MAX_FOLLOW_CANDLES))
            )
        except MarketError as error:
            log.warning("outcomes_skipped", symbol=symbol, reason=str(error))
            continue
        f = candles.frame
        times = f.index.as_unit("ms").asi8
        columns = [f[c].to_numpy(dtype=float) for c in ("open", "high", "low", "close")]
        async with services.db.session() as session:
            for row in open_rows:
                if len(times) and int(times[0]) > row.candle_open_ms + step:
                    # The candles right after the signal are not available (older than
                    # what was read): judging it on later candles would be wrong.
                    continue
                outcome = follow(signal_store.to_signal(row), times, *columns, expiry)
                if await signal_store.save_outcome(session, row.id, outcome):
                    closed += 1
    return closed
