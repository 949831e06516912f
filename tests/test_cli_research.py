"""`main.py indicators` and `main.py signals` through a real subprocess."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from pathlib import Path

import pytest

from engine import indicators as ind
from engine.market.series import read_candle_file, resample
from engine.strategies import run_strategy

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "engine" / "market" / "data"


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "main.py", *args], cwd=ROOT, capture_output=True, text=True, timeout=120
    )


def rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_indicators_csv_with_bounds():
    result = cli(
        "indicators",
        "BTC/USDT",
        "1h",
        "rsi",
        "ema:50",
        "--from",
        "2024-01-01T00:00:00Z",
        "--to",
        "1704153600000",
        "--csv",
    )
    assert result.returncode == 0, result.stderr
    out = rows(result.stdout)
    assert list(out[0]) == ["time", "rsi_14", "ema_50"]
    assert [int(r["time"]) for r in out] == list(range(1704067200000, 1704153600001, 3_600_000))
    series = read_candle_file(DATA / "BTC_USDT-1h.csv.gz", "1h")
    frame = series.frame(0, len(series))
    rsi = ind.rsi(frame["close"], 14)
    expected = rsi[frame.index.as_unit("ms").asi8 == 1704153600000].iloc[0]
    assert float(out[-1]["rsi_14"]) == expected


def test_indicators_resampled_timeframe():
    result = cli("indicators", "ETH/USDT", "4h", "macd", "--to", "2021-01-01", "--csv")
    assert result.returncode == 0, result.stderr
    out = rows(result.stdout)
    assert int(out[-1]["time"]) == 1609459200000  # the 4h candle opened at --to
    series = resample(read_candle_file(DATA / "ETH_USDT-1h.csv.gz", "1h"), "4h")
    assert (int(out[1]["time"]) - int(out[0]["time"])) == 4 * 3_600_000
    assert int(out[0]["time"]) == int(series.open_time[0])


@pytest.mark.parametrize("strategy", ["rsi", "ut_bot"])
def test_signals_csv_and_to_is_what_live_would_have_seen(strategy):
    full = cli(
        "signals", strategy, "BTC/USDT", "1h", "--from", "2024-03-01", "--to", "2024-03-20", "--csv"
    )
    cut = cli(
        "signals", strategy, "BTC/USDT", "1h", "--from", "2024-03-01", "--to", "2024-03-10", "--csv"
    )
    assert full.returncode == 0 and cut.returncode == 0, full.stderr + cut.stderr
    a, b = rows(full.stdout), rows(cut.stdout)
    assert list(a[0]) == ["time", "side", "entry", "stop", "target", "confidence"]
    assert b and b == [r for r in a if int(r["time"]) <= 1710028800000]
    series = read_candle_file(DATA / "BTC_USDT-1h.csv.gz", "1h")
    stop = int(series.closed_count(1710028800000 + 3_600_000 * 1))
    expected = [
        s
        for s in run_strategy(strategy, series.frame(0, stop))
        if s.candle_open_ms >= 1709251200000
    ]
    assert [int(r["time"]) for r in b] == [s.candle_open_ms for s in expected]
    assert [float(r["entry"]) for r in b] == [s.entry for s in expected]


def test_signals_params_data_dir_and_errors(tmp_path):
    ok = cli(
        "signals",
        "pulsewave",
        "ETH/USDT",
        "1h",
        "--to",
        "2021-06-01",
        "--param",
        "min_score=55",
        "--data-dir",
        str(DATA),
        "--csv",
    )
    assert ok.returncode == 0, ok.stderr
    assert rows(ok.stdout)
    bad = cli("signals", "rsi", "BTC/USDT", "1h", "--param", "period=abc")
    assert bad.returncode == 2 and "period" in bad.stderr
    missing = cli("signals", "rsi", "DOGE/USDT", "1h", "--data-dir", str(tmp_path))
    assert missing.returncode == 2 and "DOGE_USDT" in missing.stderr
    unknown = cli("indicators", "BTC/USDT", "1h", "nope")
    assert unknown.returncode == 2 and "unknown indicator" in unknown.stderr
