"""Strategies on real candles: no look-ahead, UT Bot semantics, parameters."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from engine.strategies import STRATEGIES, ParamError, get_strategy, run_strategy
from engine.strategies.base import Features
from engine.strategies.pulsewave.levels import LevelBook, LevelParams, find_pivots
from engine.strategies.ut_bot import UtBotParams, pine_atr, trailing_stop

talib = pytest.importorskip("talib")

# 2021-01-20 .. 2021-03-03 on 1h: contains the 2021-02-11 gap and flat zero-volume candle.
GAP_WINDOW = slice(2950, 3950)

CASES = [
    ("rsi", [], 300),
    ("ma_cross", ["fast=10", "slow=30", "ma=ema"], 300),
    ("ut_bot", [], 300),
    ("ut_bot", ["heikin_ashi=true", "a=2", "c=5"], 200),
    ("pulsewave", [], 200),
]


@pytest.mark.parametrize(("name", "params", "checked"), CASES)
def test_candle_by_candle_equals_one_run(btc_1h_frame, name, params, checked):
    """As the live scheduler: on each close, run on all candles so far. For every
    checked t the run on frame[:t+1] gives exactly the whole-history signals up
    to t, so nothing repaints and nothing looks ahead."""
    frame = btc_1h_frame.iloc[GAP_WINDOW]
    assert (frame["volume"] == 0).any() and (
        np.diff(frame.index.asi8) > 3_600_000_000_000 / 1000
    ).any()
    batch = run_strategy(name, frame, params, "BTC/USDT", "1h")
    times = pd.DatetimeIndex(frame.index).as_unit("ms").asi8
    new_in_range = 0
    for t in range(len(frame) - checked, len(frame)):
        live = run_strategy(name, frame.iloc[: t + 1], params, "BTC/USDT", "1h")
        expected = [s for s in batch if s.candle_open_ms <= times[t]]
        assert live == expected, f"{name} differs at candle {t}"
        new_in_range += sum(s.candle_open_ms == times[t] for s in live)
    assert new_in_range > 0, "the checked range should contain signals"


def test_other_market_and_sides(eth_1h):
    frame = eth_1h.frame(20000, 22000)
    for name in STRATEGIES:
        signals = get_strategy(name).run(frame, None, "ETH/USDT", "1h")
        assert signals, name
        for s in signals:
            assert s.strategy == name and s.symbol == "ETH/USDT" and s.timeframe == "1h"
            assert s.regime in {"BULL", "BEAR", "SIDEWAYS", "TRANSITION"}
            assert 0 <= s.confidence <= 1
            if s.side == "buy":
                assert s.stop < s.entry < s.target
            else:
                assert s.target < s.entry < s.stop


def test_pulsewave_thresholds_and_factors(eth_1h):
    frame = eth_1h.frame(10000, 13000)
    signals = run_strategy("pulsewave", frame)
    assert signals
    for s in signals:
        assert s.factors["score"] >= 60 and s.reward_risk >= 2 - 1e-9
        assert s.factors["setup"] in {"support_bounce", "resistance_rejection", "breakout"}
        points = [v for k, v in s.factors.items() if k.startswith("points_")]
        assert len(points) == 6 and abs(sum(points) - s.factors["score"]) < 0.1
    stricter = run_strategy("pulsewave", frame, ["min_score=70", "min_rr=3"])
    assert len(stricter) < len(signals)
    assert all(s.factors["score"] >= 70 and s.reward_risk >= 3 - 1e-9 for s in stricter)


def test_pivots_are_used_only_once_confirmed(btc_1h_frame):
    f = Features(btc_1h_frame.iloc[:600])
    lp = LevelParams(left=5, right=5)
    pv = find_pivots(f.high, f.low, np.ones(len(f)), f.atr(14), 5, 5)
    assert (pv.confirmed == pv.index + 5).all()
    i = int(pv.index[10])
    book = LevelBook(pv, lp)
    book.advance(i + 4)
    before = book._next
    book.advance(i + 5)
    assert book._next > before  # the pivot at i joins exactly at its confirmation
    assert (pv.confirmed[:before] <= i + 4).all()


def test_ut_bot_matches_the_script_semantics(btc_1h_frame):
    f = btc_1h_frame.iloc[:3000]
    high, low, close = (f[c].to_numpy() for c in ("high", "low", "close"))
    atr = pine_atr(high, low, close, 10)
    tr0 = np.r_[high[0] - low[0], talib.TRANGE(high, low, close)[1:10]]
    assert np.isnan(atr[:9]).all() and atr[9] == pytest.approx(tr0.mean(), rel=1e-12)
    # Same Wilder recursion as TA-Lib, only seeded differently: equal after warm-up.
    np.testing.assert_allclose(atr[1000:], talib.ATR(high, low, close, 10)[1000:], rtol=1e-9)
    stop = trailing_stop(close, atr)
    assert np.isnan(stop[:9]).all() and stop[9] == pytest.approx(close[9] - atr[9])
    for t in range(11, len(close)):  # the ratchet: a long stop never moves down
        if close[t] > stop[t - 1] and close[t - 1] > stop[t - 1]:
            assert stop[t] >= stop[t - 1]
        if close[t] < stop[t - 1] and close[t - 1] < stop[t - 1]:
            assert stop[t] <= stop[t - 1]
    signals = run_strategy("ut_bot", f)
    sides = [s.side for s in signals]
    assert all(a != b for a, b in itertools.pairwise(sides))  # flips alternate
    idx = {int(ms): i for i, ms in enumerate(pd.DatetimeIndex(f.index).as_unit("ms").asi8)}
    for s in signals:
        t = idx[s.candle_open_ms]
        if s.side == "buy":
            assert close[t] > stop[t] and close[t - 1] <= stop[t - 1]
        else:
            assert close[t] < stop[t] and close[t - 1] >= stop[t - 1]


def test_rsi_and_ma_cross_definitions(btc_1h_frame):
    f = btc_1h_frame.iloc[:3000]
    rsi = talib.RSI(f["close"].to_numpy(), 14)
    idx = {int(ms): i for i, ms in enumerate(pd.DatetimeIndex(f.index).as_unit("ms").asi8)}
    for s in run_strategy("rsi", f):
        t = idx[s.candle_open_ms]
        if t < 500:
            continue
        if s.side == "buy":
            assert rsi[t - 1] >= 30 > rsi[t]
            assert (s.factors["strength"] == "strong") == (rsi[t] < 20)
        else:
            assert rsi[t - 1] <= 70 < rsi[t]
    sma50, sma200 = (talib.SMA(f["close"].to_numpy(), n) for n in (50, 200))
    crosses = run_strategy("ma_cross", f)
    assert crosses
    for s in crosses:
        t = idx[s.candle_open_ms]
        above = sma50[t] > sma200[t]
        assert above == (s.side == "buy") and (sma50[t - 1] > sma200[t - 1]) != above


def test_params_parse_with_clear_errors():
    spec = get_strategy("ma_cross")
    assert spec.parse(["fast=5", "slow=20", "ma=ema"]).ma == "ema"
    with pytest.raises(ParamError, match="unknown parameter 'fats'"):
        spec.parse(["fats=5"])
    with pytest.raises(ParamError, match="expected int"):
        spec.parse(["fast=five"])
    with pytest.raises(ParamError, match="fast < slow"):
        spec.parse(["fast=300"])
    with pytest.raises(ParamError, match="key=value"):
        spec.parse(["fast"])
    assert get_strategy("ut_bot").parse(["heikin_ashi=yes"]).heikin_ashi is True
    assert UtBotParams().a == 1 and UtBotParams().c == 10
    with pytest.raises(KeyError, match="unknown strategy"):
        get_strategy("macd")


def test_short_and_empty_frames(btc_1h_frame):
    for name in STRATEGIES:
        assert run_strategy(name, btc_1h_frame.iloc[:0]) == []
        assert run_strategy(name, btc_1h_frame.iloc[:8]) == []  # shorter than any warm-up
