"""Outcome tracking, track-record statistics and the shared analysis."""

from __future__ import annotations

import numpy as np
import pytest

from engine.analysis import analyze, analyze_naive
from engine.signals import Outcome, follow, stats, track_record
from engine.strategies.base import Signal

BUY = Signal("BTC/USDT", "1h", "rsi", "buy", 1000, 100.0, 95.0, 110.0, 0.5, "BULL")
SELL = Signal("BTC/USDT", "1h", "rsi", "sell", 1000, 100.0, 105.0, 90.0, 0.5, "BEAR")


def candles(*rows):
    """rows of (open, high, low, close) after the signal candle (open 1000)."""
    times = [1000 + 1000 * i for i in range(len(rows) + 1)]
    o, h, lo, c = (np.array([100.0] + [r[k] for r in rows]) for k in range(4))
    return times, o, h, lo, c


def test_target_hit_with_excursions():
    out = follow(BUY, *candles((100, 104, 97, 103), (103, 111, 102, 109)))
    assert (out.status, out.exit_price, out.exit_open_ms, out.candles) == ("target", 110.0, 3000, 2)
    assert out.r_multiple == pytest.approx(2.0)
    assert out.mfe_r == pytest.approx(2.0) and out.mae_r == pytest.approx(-0.6)


def test_stop_and_target_in_one_candle_is_a_stop():
    out = follow(BUY, *candles((100, 112, 94, 100)))
    assert out.status == "stop" and out.r_multiple == pytest.approx(-1.0)
    out = follow(SELL, *candles((100, 106, 89, 100)))
    assert out.status == "stop" and out.r_multiple == pytest.approx(-1.0)


def test_gap_through_the_stop_exits_at_the_open():
    out = follow(BUY, *candles((92, 93, 90, 91)))
    assert out.exit_price == 92 and out.r_multiple == pytest.approx(-1.6)


def test_expiry_and_open():
    rows = [(100, 101, 99, 100.5)] * 3
    out = follow(BUY, *candles(*rows), expiry_candles=3)
    assert (
        out.status == "expired" and out.exit_price == 100.5 and out.r_multiple == pytest.approx(0.1)
    )
    out = follow(BUY, *candles(*rows), expiry_candles=5)
    assert out.status == "open" and out.exit_price is None and out.candles == 3


def test_sell_target_and_candles_before_the_signal_are_ignored():
    times, o, h, lo, c = candles((100, 101, 95, 96), (96, 97, 89, 90))
    h[0] = 200  # the signal candle itself must not count
    out = follow(SELL, times, o, h, lo, c)
    assert out.status == "target" and out.r_multiple == pytest.approx(2.0)


def _o(strategy, r, status="target", symbol="BTC/USDT"):
    return Outcome(symbol, "1h", strategy, "buy", 0, status, r, 1, 1.0, 1, max(r, 0), min(r, 0))


def test_track_record():
    outcomes = [
        _o("rsi", 2.0),
        _o("rsi", -1.0, "stop"),
        _o("rsi", 0.5, "expired"),
        _o("rsi", 0.0, "open"),
    ]
    outcomes.append(_o("ut_bot", -1.0, "stop", "ETH/USDT"))
    s = stats(o for o in outcomes if o.strategy == "rsi")
    assert (s.count, s.wins) == (3, 2)
    assert s.win_rate == pytest.approx(2 / 3) and s.avg_r == pytest.approx(0.5)
    assert s.expectancy == pytest.approx(s.avg_r) and s.total_r == pytest.approx(1.5)
    groups = track_record(outcomes)
    assert set(groups) == {("BTC/USDT", "1h", "rsi"), ("ETH/USDT", "1h", "ut_bot")}
    assert track_record(outcomes, by=("strategy",))[("ut_bot",)].win_rate == 0.0
    assert track_record(outcomes, by=())[()].count == 4
    assert stats([]).count == 0
    with pytest.raises(ValueError):
        track_record(outcomes, by=("side",))


def test_real_signals_are_followed(btc_1h_frame):
    frame = btc_1h_frame.iloc[5000:6500]
    result = analyze(frame, "BTC/USDT", "1h")
    arrays = [frame.index.as_unit("ms").asi8] + [
        frame[c].to_numpy() for c in ("open", "high", "low", "close")
    ]
    outcomes = [follow(s, *arrays, expiry_candles=48) for v in result.signals.values() for s in v]
    assert {o.status for o in outcomes} >= {"target", "stop"}
    for o in outcomes:
        assert o.mfe_r >= 0 >= o.mae_r
        if o.status == "stop":
            assert o.r_multiple <= -1 + 1e-9
    assert track_record(outcomes, by=("strategy",))


def test_analysis_shares_work_but_agrees_with_naive(eth_1h):
    frame = eth_1h.frame(30000, 30500)
    result = analyze(frame, "ETH/USDT", "1h")
    assert result.signals == analyze_naive(frame, "ETH/USDT", "1h")
    assert result.regime in {"BULL", "BEAR", "SIDEWAYS", "TRANSITION"}
    assert all(v is not None for v in result.readings.values())
    assert all(lv.price < result.close for lv in result.supports)
    assert all(lv.price > result.close for lv in result.resistances)
    assert all(0 <= lv.strength <= 1 for lv in result.supports + result.resistances)
