"""`python main.py signals STRATEGY SYMBOL TF [--data-dir DIR] [--from T] [--to T]
[--param key=value …] [--csv]`

Runs a strategy over candle files and prints one row per signal: candle open time
(ms in CSV), side, entry, stop, target, confidence. The strategy sees every
candle read (so warm-up happens before `--from`); `--to` limits what is read, so
the output is what a live run would have produced at that moment.
"""

from __future__ import annotations

import argparse
import sys

from bot.cli.indicators import CliError, add_common, iso, load_frame
from engine.market.timeframes import normalize_timeframe
from engine.strategies import STRATEGIES, ParamError, get_strategy


async def run(args: argparse.Namespace) -> int:
    try:
        spec = get_strategy(args.strategy)
        params = spec.parse(args.param or [])
        frame, first = load_frame(args)
    except (CliError, ParamError, KeyError, ValueError, FileNotFoundError) as error:
        message = error.args[0] if isinstance(error, KeyError) else error
        print(f"error: {message}", file=sys.stderr)
        return 2
    symbol = args.symbol.upper().replace("_", "/")
    first_ms = int(frame.index[first].value // 1_000_000) if first < len(frame) else None
    signals = [
        s
        for s in spec.run(frame, params, symbol, normalize_timeframe(args.timeframe) or "")
        if first_ms is not None and s.candle_open_ms >= first_ms
    ]
    out = sys.stdout
    if args.csv:
        out.write("time,side,entry,stop,target,confidence\n")
        for s in signals:
            out.write(
                f"{s.candle_open_ms},{s.side},{s.entry!r},{s.stop!r},{s.target!r},{s.confidence!r}\n"
            )
    else:
        out.write(
            f"{'time':20}  {'side':4}  {'entry':>12}  {'stop':>12}  {'target':>12}  conf  regime\n"
        )
        for s in signals:
            out.write(
                f"{iso(s.candle_open_ms):20}  {s.side:4}  {s.entry:12.6g}  {s.stop:12.6g}  "
                f"{s.target:12.6g}  {s.confidence:4.2f}  {s.regime}\n"
            )
        out.write(f"{len(signals)} signal(s)\n")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "signals",
        help="print a strategy's signals over candle files",
        description="Strategies: "
        + "; ".join(f"{name}: {spec.summary}" for name, spec in STRATEGIES.items()),
    )
    parser.add_argument("strategy", choices=sorted(STRATEGIES))
    add_common(parser)
    parser.add_argument(
        "--param", action="append", metavar="KEY=VALUE", help="strategy parameter (repeatable)"
    )
    parser.set_defaults(handler=run)
