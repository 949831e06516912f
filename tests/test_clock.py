"""The market clock and the candle-close events scheduled jobs run on."""

import time
from datetime import UTC, datetime

from engine.market.clock import ReplayClock, WallClock, to_ms
from engine.market.closes import CandleCloseTracker

START = datetime(2025, 3, 1, tzinfo=UTC)


def test_replay_clock_runs_at_its_speed():
    clock = ReplayClock(START, speed=3600)  # an hour of market per real second
    time.sleep(0.05)
    advanced = clock.now_ms() - to_ms(START)
    assert 150_000 <= advanced <= 3_600_000


def test_frozen_replay_clock():
    clock = ReplayClock(START, speed=0)
    time.sleep(0.01)
    assert clock.now_ms() == to_ms(START) and clock.is_replay


def test_wall_clock_is_now():
    assert abs(WallClock().now_ms() - time.time() * 1000) < 1000


def test_candle_closes_are_reported_once_each():
    clock = ReplayClock(START, speed=0)
    tracker = CandleCloseTracker(clock, ["5m", "1h", "4h"])
    assert tracker.due() == []
    clock.set(to_ms(START) + 5 * 60_000)
    events = tracker.due()
    assert [(e.timeframe, e.open_ms) for e in events] == [("5m", to_ms(START))]
    assert tracker.due() == []  # polled again: nothing new
    clock.set(to_ms(START) + 4 * 3_600_000)
    assert sorted(e.timeframe for e in tracker.due()) == ["1h", "4h", "5m"]
    assert [e.close_ms for e in tracker.due()] == []
