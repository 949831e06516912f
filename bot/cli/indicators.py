"""`python main.py indicators SYMBOL TF NAME… [--data-dir DIR] [--from T] [--to T] [--csv]`

Prints indicator values per candle. NAME is `rsi`, `ema:50`, `macd:12,26,9`, …
(see `engine.indicators.INDICATORS`). Times are candle open times (ms in CSV).
`--from`/`--to` (ISO 8601 or ms) are inclusive bounds on the open time; `--to`
also limits what is read, so nothing after it can influence a value. Earlier
candles before `--from` are still read, to warm the indicators up.

This module also holds the candle loading shared with `signals`.
"""

from __future__ import annotations

import argparse
import math
import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from engine.indicators import INDICATORS, compute_indicator, parse_indicator
from engine.market.series import CandleSeries, read_candle_file, resample
from engine.market.timeframes import (
    TIMEFRAMES,
    bucket_start,
    duration_ms,
    normalize_timeframe,
    resample_source,
)
from settings import BUNDLED_DATA_DIR


class CliError(Exception):
    """A user mistake reported as one line on stderr with exit status 2."""


def parse_time(text: str) -> int:
    """Milliseconds since the epoch from `1717200000000` or ISO 8601 (UTC if no zone).

    >>> parse_time("2024-01-01"), parse_time("1704067200000")
    (1704067200000, 1704067200000)
    """
    text = text.strip()
    if text.lstrip("-").isdigit():
        return int(text)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise CliError(f"{text!r} is neither ISO 8601 nor milliseconds") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def _file(data_dir: Path, base: str, quote: str, tf: str) -> Path | None:
    for suffix in (".csv.gz", ".csv"):
        path = data_dir / f"{base}_{quote}-{tf}{suffix}"
        if path.exists():
            return path
    return None


def load_series(
    data_dir: Path, symbol: str, timeframe: str, to_ms: int | None = None
) -> CandleSeries:
    """Candles of `symbol` (`BTC/USDT` or `BTC_USDT`) and `timeframe` from bundled-format
    files, resampled from a finer file when there is none for `timeframe`, with no
    candle opened after `to_ms`."""
    tf = normalize_timeframe(timeframe)
    if tf is None:
        raise CliError(f"unknown timeframe {timeframe!r}; known: {', '.join(TIMEFRAMES)}")
    base, sep, quote = symbol.upper().replace("_", "/").partition("/")
    if not sep or not base or not quote:
        raise CliError(f"symbol {symbol!r}: expected BASE/QUOTE, e.g. BTC/USDT")
    path = _file(data_dir, base, quote, tf)
    if path is not None:
        series = read_candle_file(path, tf)
        limit = None if to_ms is None else int(np.searchsorted(series.open_time, to_ms, "right"))
    else:
        available = [t for t in TIMEFRAMES if _file(data_dir, base, quote, t)]
        source = resample_source(tf, available)
        if source is None:
            have = ", ".join(available) or "none"
            raise CliError(f"no {base}_{quote} candles for {tf} in {data_dir} (timeframes: {have})")
        fine = read_candle_file(_file(data_dir, base, quote, source), source)  # type: ignore[arg-type]
        if to_ms is not None:
            # Only the finer candles inside coarse candles opened at or before `to`.
            end = bucket_start(to_ms, tf) + duration_ms(tf)
            fine = _head(fine, int(np.searchsorted(fine.open_time, end, "left")))
        series = resample(fine, tf)
        limit = None if to_ms is None else int(np.searchsorted(series.open_time, to_ms, "right"))
    return series if limit is None else _head(series, limit)


def _head(s: CandleSeries, n: int) -> CandleSeries:
    return CandleSeries(
        s.timeframe, s.open_time[:n], s.open[:n], s.high[:n], s.low[:n], s.close[:n], s.volume[:n]
    )


def load_frame(args: argparse.Namespace) -> tuple[pd.DataFrame, int]:
    """(frame of every candle read, index of the first candle at or after --from)."""
    from_ms = parse_time(args.from_) if args.from_ else None
    to_ms = parse_time(args.to) if args.to else None
    series = load_series(Path(args.data_dir), args.symbol, args.timeframe, to_ms)
    first = 0 if from_ms is None else int(np.searchsorted(series.open_time, from_ms, "left"))
    return series.frame(0, len(series)), first


def add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("symbol", help="market, e.g. BTC/USDT")
    parser.add_argument("timeframe", help="e.g. 1h, 4h (built from finer files when missing)")
    parser.add_argument(
        "--data-dir", default=str(BUNDLED_DATA_DIR), help="folder of BASE_QUOTE-TF.csv.gz files"
    )
    parser.add_argument(
        "--from", dest="from_", metavar="T", help="first candle open time (ISO 8601 or ms)"
    )
    parser.add_argument(
        "--to", metavar="T", help="last candle open time; later candles are not read"
    )
    parser.add_argument("--csv", action="store_true", help="CSV with open times in ms")


def fmt(value: float) -> str:
    return "" if math.isnan(value) else repr(float(value))


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def run(args: argparse.Namespace) -> int:
    try:
        for name in args.names:  # all names checked before any work
            parse_indicator(name)
        specs = list(args.names)
        frame, first = load_frame(args)
        columns = pd.concat([compute_indicator(frame, spec) for spec in specs], axis=1)
    except (CliError, ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    times = pd.DatetimeIndex(frame.index).as_unit("ms").asi8
    values = columns.to_numpy(dtype=float)
    out = sys.stdout
    if args.csv:
        out.write(",".join(["time", *columns.columns]) + "\n")
        for i in range(first, len(frame)):
            out.write(",".join([str(times[i]), *(fmt(v) for v in values[i])]) + "\n")
    else:
        out.write("  ".join(["time".ljust(20), *(c.rjust(16) for c in columns.columns)]) + "\n")
        for i in range(first, len(frame)):
            cells = ("" if math.isnan(v) else f"{v:.6g}" for v in values[i])
            out.write(
                "  ".join([iso(int(times[i])).ljust(20), *(c.rjust(16) for c in cells)]) + "\n"
            )
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "indicators",
        help="print indicator values from candle files",
        description=f"Indicators: {', '.join(sorted(INDICATORS))}; parameters as name:p1,p2 (e.g. ema:200).",
    )
    add_common(parser)
    parser.add_argument(
        "names", nargs="+", metavar="NAME", help="indicator, e.g. rsi, ema:50, macd:12,26,9"
    )
    parser.set_defaults(handler=run)
