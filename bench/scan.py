"""Bench: full analysis of 100 symbols × 3 timeframes × 500 candles.

Run: `.venv/bin/python bench/scan.py [--symbols 100] [--candles 500]`

The 300 series are slices of the real bundled candles (BTC and ETH; 5m, 1h and
4h built from 1h), each "symbol" a different window. "Full analysis" is
`engine.analysis.analyze`: the standard indicator set, all four strategies,
S/R levels, regime and the confluence of the current setup, with indicators
computed once and shared. The baseline does the same work naively
(`analyze_naive`: every strategy recomputes its own indicators), in the same run.
Both must give the same signals; the bench checks it. Prints seconds and ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.analysis import analyze, analyze_naive
from engine.market.series import CandleSeries, read_candle_file, resample

DATA = Path(__file__).resolve().parents[1] / "engine" / "market" / "data"


def build_series(symbols: int, candles: int) -> list[tuple[str, str, object]]:
    sources: dict[str, list[CandleSeries]] = {"5m": [], "1h": [], "4h": []}
    for base in ("BTC", "ETH"):
        hourly = read_candle_file(DATA / f"{base}_USDT-1h.csv.gz", "1h")
        sources["1h"].append(hourly)
        sources["4h"].append(resample(hourly, "4h"))
        sources["5m"].append(read_candle_file(DATA / f"{base}_USDT-5m.csv.gz", "5m"))
    out = []
    for i in range(symbols):
        for tf, pool in sources.items():
            series = pool[i % len(pool)]
            room = len(series) - candles
            start = (i * 7919) % room  # spread the windows over the history
            out.append((f"SYM{i:03d}/USDT", tf, series.frame(start, start + candles)))
    return out


def _signals(item: tuple[str, str, object]) -> dict:
    warnings.simplefilter("ignore")
    sym, tf, frame = item
    return analyze(frame, sym, tf).signals  # type: ignore[arg-type]


async def time_analyze_command(runs: int = 5) -> tuple[float, float]:
    """One `/analyze` as a user sends it (DEMO market, SQLite in a temporary folder):
    parsing, 500 candles, the full analysis, the chart (rendered once, then cached)."""
    from bot.app import App
    from bot.logs import configure_logging
    from handlers.dispatch import dispatch
    from handlers.session import PlatformChat, PlatformUser, open_context
    from settings import Settings

    configure_logging("WARNING")
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            database_url=f"sqlite+aiosqlite:///{folder}/bench.db",
            market_source="replay",
            replay_speed=0,
            output_dir=folder,
        )
        app = await App.create(settings)
        try:
            ctx = await open_context(app.services, PlatformUser("bench", "1"), PlatformChat("1"))
            t0 = time.perf_counter()
            await dispatch(ctx, "/analyze BTC 1h")
            cold = time.perf_counter() - t0
            t0 = time.perf_counter()
            for _ in range(runs):
                await dispatch(ctx, "/analyze BTC 1h")
            warm = (time.perf_counter() - t0) / runs
        finally:
            await app.close()
    return cold, warm


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=100)
    parser.add_argument("--candles", type=int, default=500)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    series = build_series(args.symbols, args.candles)
    analyze(series[0][2], series[0][0], series[0][1])  # warm numba/imports out of the timing

    t0 = time.perf_counter()
    fast = [analyze(frame, sym, tf).signals for sym, tf, frame in series]
    t_fast = time.perf_counter() - t0

    t0 = time.perf_counter()
    naive = [analyze_naive(frame, sym, tf) for sym, tf, frame in series]
    t_naive = time.perf_counter() - t0
    assert fast == naive, "shared and naive analyses disagree"

    # The same shared analysis spread over every core (the machine's real capacity).
    workers = os.cpu_count() or 1
    t0 = time.perf_counter()
    with ProcessPoolExecutor(workers) as pool:
        parallel = list(pool.map(_signals, series, chunksize=max(1, len(series) // (4 * workers))))
    t_parallel = time.perf_counter() - t0
    assert parallel == fast

    sym, tf, frame = series[1]
    runs = 20
    t0 = time.perf_counter()
    for _ in range(runs):
        analyze(frame, sym, tf)
    t_one = (time.perf_counter() - t0) / runs
    t0 = time.perf_counter()
    for _ in range(runs):
        analyze_naive(frame, sym, tf)
    t_one_naive = (time.perf_counter() - t0) / runs

    n_signals = sum(len(v) for result in fast for v in result.values())
    print(f"series: {len(series)} ({args.symbols} symbols x 3 timeframes x {args.candles} candles)")
    print(f"signals: {n_signals}")
    print(
        f"full analysis, {len(series)} series:  shared {t_fast:7.2f} s   naive {t_naive:7.2f} s   ratio {t_naive / t_fast:5.2f}x"
    )
    print(
        f"one series ({tf}):           shared {t_one * 1000:7.1f} ms  naive {t_one_naive * 1000:7.1f} ms  ratio {t_one_naive / t_one:5.2f}x"
    )
    print(f"shared, {workers} processes:       {t_parallel:7.2f} s (pool start-up included)")
    cold, warm = asyncio.run(time_analyze_command())
    print(
        f"/analyze BTC 1h (the command):   first {cold * 1000:7.1f} ms (chart rendered)"
        f"   again {warm * 1000:7.1f} ms (chart cached)"
    )
    best = min(t_fast, t_parallel)
    print(
        f"goal: {len(series)} series under 10 s: {'met' if best < 10 else 'NOT met'} ({best:.2f} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
