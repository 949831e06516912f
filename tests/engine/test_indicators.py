"""Indicators equal TA-Lib's on real candles (gaps and flat candles included)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine import indicators as ind

talib = pytest.importorskip("talib")

WARMUP = 1000  # recursive indicators are seeded differently; the gap decays by then


def _close(ours: pd.Series | np.ndarray, ref: np.ndarray, start: int = WARMUP) -> None:
    a = np.asarray(ours, dtype=float)[start:]
    b = np.asarray(ref, dtype=float)[start:]
    assert not np.isnan(a).any()
    np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9)


@pytest.fixture(scope="module")
def arrays(btc_1h_frame: pd.DataFrame) -> dict[str, np.ndarray]:
    return {c: btc_1h_frame[c].to_numpy() for c in btc_1h_frame.columns}


def test_data_has_the_hard_cases(btc_1h_frame: pd.DataFrame) -> None:
    steps = np.diff(btc_1h_frame.index.asi8)
    assert (steps > steps.min()).sum() == 10
    assert (btc_1h_frame["volume"] == 0).sum() == 2


@pytest.mark.parametrize("length", [14, 50, 200])
def test_ema_sma(btc_1h_frame, arrays, length):
    _close(ind.ema(btc_1h_frame["close"], length), talib.EMA(arrays["close"], length))
    _close(ind.sma(btc_1h_frame["close"], length), talib.SMA(arrays["close"], length))


@pytest.mark.parametrize("length", [7, 14])
def test_rsi(btc_1h_frame, arrays, length):
    _close(ind.rsi(btc_1h_frame["close"], length), talib.RSI(arrays["close"], length))


def test_macd(btc_1h_frame, arrays):
    ours = ind.macd(btc_1h_frame["close"], 12, 26, 9)
    line, signal, hist = talib.MACD(arrays["close"], 12, 26, 9)
    _close(ours["macd"], line)
    _close(ours["signal"], signal)
    _close(ours["hist"], hist)


def test_bollinger(btc_1h_frame, arrays):
    ours = ind.bollinger(btc_1h_frame["close"], 20, 2.0)
    upper, middle, lower = talib.BBANDS(arrays["close"], 20, 2.0, 2.0)
    _close(ours["upper"], upper)
    _close(ours["middle"], middle)
    _close(ours["lower"], lower)
    # %b and bandwidth divide by the band width, which amplifies the rounding of
    # TA-Lib's sum-of-squares deviation; allow 1e-9 of the price, scaled by width.
    width = upper - lower
    scale = (arrays["close"] / width)[WARMUP:]
    pct = (arrays["close"] - lower) / width
    assert np.all(np.abs(ours["percent"].to_numpy()[WARMUP:] - pct[WARMUP:]) <= 1e-9 * scale)
    bandwidth = 100 * width / middle
    err = np.abs(ours["bandwidth"].to_numpy()[WARMUP:] - bandwidth[WARMUP:])
    assert np.all(err <= 100 * 1e-9 * (arrays["close"] / middle)[WARMUP:] * 2)


def test_atr(btc_1h_frame, arrays):
    ours = ind.atr(btc_1h_frame, 14)
    _close(ours, talib.ATR(arrays["high"], arrays["low"], arrays["close"], 14))
    tr = ind.true_range(btc_1h_frame)
    _close(tr, talib.TRANGE(arrays["high"], arrays["low"], arrays["close"]), start=1)
    assert (tr == 0).sum() >= 2  # the flat candles
    assert (ours.iloc[WARMUP:] > 0).all()


def test_stochastic(btc_1h_frame, arrays):
    ours = ind.stochastic(btc_1h_frame, 14, 3, 3)
    k, d = talib.STOCH(arrays["high"], arrays["low"], arrays["close"], 14, 3, 0, 3, 0)
    _close(ours["k"], k)
    _close(ours["d"], d)


def test_volume_indicators(btc_1h_frame, arrays):
    _close(ind.volume_sma(btc_1h_frame, 20), talib.SMA(arrays["volume"], 20))
    _close(ind.obv(btc_1h_frame), talib.OBV(arrays["close"], arrays["volume"]), start=0)


def test_short_input_gives_nan_not_errors(btc_1h_frame):
    short = btc_1h_frame.iloc[:5]
    assert ind.rsi(short["close"], 14).isna().all()
    assert ind.macd(short["close"]).isna().all().all()
    assert ind.atr(short, 14).isna().all()
    assert ind.stochastic(short).isna().all().all()


def test_named_set(btc_1h_frame):
    frame = btc_1h_frame.iloc[:300]
    assert list(ind.compute_indicator(frame, "macd:12,26,9").columns) == [
        "macd_12_26_9_macd",
        "macd_12_26_9_signal",
        "macd_12_26_9_hist",
    ]
    assert list(ind.compute_indicator(frame, "ema:50").columns) == ["ema_50"]
    with pytest.raises(ValueError, match="unknown indicator"):
        ind.parse_indicator("nope")
    with pytest.raises(ValueError, match="not a number"):
        ind.parse_indicator("ema:x")
