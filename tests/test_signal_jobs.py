"""The signal jobs on the replayed market: scanning at a candle close, history,
fan-out to followers through the outbox, outcome tracking; on both databases."""

from __future__ import annotations

import pytest

from engine.market.series import read_candle_file
from engine.signals import follow
from engine.strategies import run_strategy
from handlers.scan import SCAN_CANDLES, ScanState, scan, track_outcomes
from settings import BUNDLED_DATA_DIR
from storage.models import Notification, OutboxMessage, SignalRecord
from tests.conftest import REPLAY_START
from tests.db_helpers import follow as chat_following
from tests.db_helpers import rows
from tests.helpers import png_size

HOUR = 3_600_000
START_MS = int(REPLAY_START.timestamp() * 1000)


@pytest.fixture(scope="module")
def btc_1h():
    return read_candle_file(BUNDLED_DATA_DIR / "BTC_USDT-1h.csv.gz", "1h")


@pytest.fixture
def app_settings() -> dict[str, object]:
    """`db_app` (the real composition on each database) with a shorter history."""
    return {"signal_history_candles": 200}


def last_signal_before(btc_1h, strategy: str, before_ms: int):
    """The newest `strategy` signal a live scan would find at or before `before_ms`."""
    stop = btc_1h.closed_count(before_ms)
    frame = btc_1h.frame(stop - SCAN_CANDLES, stop)
    return run_strategy(strategy, frame, symbol="BTC/USDT", timeframe="1h")[-1]


async def test_a_new_signal_is_stored_once_and_queued_for_followers(db_app, btc_1h):
    services = db_app.services
    target = last_signal_before(btc_1h, "rsi", START_MS)
    services.clock.set(target.candle_open_ms + HOUR)  # the signal's candle just closed
    follower = await chat_following(services, "f1", "BTC/USDT", "*", "rsi")
    other = await chat_following(services, "f2", "BTC/USDT", "4h", "rsi")  # other timeframe
    await chat_following(services, "f3", "ETH/USDT", "*", "all")  # other market
    state = ScanState(history_done={("BTC/USDT", "1h"), ("ETH/USDT", "1h")})

    result = await scan(services, "1h", state)
    again = await scan(services, "1h", state)  # the same close seen twice (a restart)

    live = [n for n in result.live if n.signal.strategy == "rsi" and n.signal.symbol == "BTC/USDT"]
    assert [n.signal for n in live] == [target]
    assert again.live == [] and again.queued == 0
    queued = await rows(services.db, OutboxMessage)
    notifications = {n.id: n for n in await rows(services.db, Notification)}
    rsi_rows = [r for r in queued if notifications[r.notification_id].payload["id"] == live[0].id]
    assert [r.chat_id for r in rsi_rows] == [follower]
    assert other not in {r.chat_id for r in queued}
    event = notifications[rsi_rows[0].notification_id]
    assert event.key == f"signal:{live[0].id}"
    assert png_size(event.image) == (1200, 800)  # one chart, rendered once, for every recipient


async def test_first_scan_records_history_without_delivering_it(db_app, btc_1h):
    services = db_app.services
    await chat_following(services, "f1", "BTC/USDT", "*", "all")
    result = await scan(services, "1h", ScanState())
    stored = await rows(services.db, SignalRecord)
    history = [s for s in stored if s.source == "history"]
    assert result.history == len(history) > 0
    # The watchlist (BTC, ETH) is scanned with every strategy.
    assert {s.strategy for s in stored} == {"rsi", "ma_cross", "ut_bot", "pulsewave"}
    assert {s.symbol for s in stored} == {"BTC/USDT", "ETH/USDT"}
    first_history = START_MS - 201 * HOUR
    assert min(s.candle_open_ms for s in history) >= first_history
    delivered = {n.payload["id"] for n in await rows(services.db, Notification)}
    assert delivered == {n.id for n in result.live}  # only the live ones, if any


async def test_outcomes_are_followed_on_later_candles(db_app, btc_1h):
    services = db_app.services
    target = last_signal_before(btc_1h, "ut_bot", START_MS - 100 * HOUR)
    services.clock.set(target.candle_open_ms + HOUR)
    await scan(services, "1h", ScanState(history_done={("BTC/USDT", "1h"), ("ETH/USDT", "1h")}))
    services.clock.set(START_MS)
    closed = await track_outcomes(services, "1h")
    (row,) = [
        r
        for r in await rows(services.db, SignalRecord)
        if r.strategy == "ut_bot" and r.candle_open_ms == target.candle_open_ms
    ]
    # The same judgement computed straight from the raw candles.
    frame = btc_1h.frame(0, btc_1h.closed_count(START_MS))
    times = frame.index.as_unit("ms").asi8
    expected = follow(
        target, times, *(frame[c].to_numpy() for c in ("open", "high", "low", "close"))
    )
    assert closed >= 1
    assert row.status == expected.status != "open"
    assert row.r_multiple == pytest.approx(expected.r_multiple)
    assert row.exit_open_ms == expected.exit_open_ms
    assert (row.mfe_r, row.mae_r) == pytest.approx((expected.mfe_r, expected.mae_r))


async def test_lagging_data_gives_no_live_signal(db_app):
    services = db_app.services
    await chat_following(services, "f1", "BTC/USDT", "*", "all")
    services.clock.set(START_MS + 400 * 24 * HOUR)  # long past the end of the bundled data
    result = await scan(services, "1h", ScanState())
    assert result.live == [] and result.queued == 0
    assert await rows(services.db, OutboxMessage) == []
