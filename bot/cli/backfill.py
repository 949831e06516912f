"""`python main.py backfill SYMBOL TF --days N | --since DATE`: candles into the database.

Resumable: it fetches only what is neither stored nor a known gap, so running
it again after an interruption (Ctrl-C, a network failure) continues where it
stopped, and running it twice changes nothing.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime

from tqdm import tqdm

from engine.market.ccxt_client import ExchangeUnavailable
from engine.market.clock import WallClock, to_ms
from engine.market.symbols import close_matches, normalize_symbol
from engine.market.timeframes import DAY_MS, TIMEFRAMES, normalize_timeframe


def _moment(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "backfill",
        help="download candles from the exchange into the database (resumable)",
        description="Download closed candles of SYMBOL at TF from the configured exchange.",
    )
    parser.add_argument("symbol", help="e.g. BTC, BTC/USDT, ethusdt")
    parser.add_argument("timeframe", help=f"one of {' '.join(TIMEFRAMES)}")
    span = parser.add_mutually_exclusive_group()
    span.add_argument(
        "--days", type=float, help="this many days back from now (default BACKFILL_DAYS)"
    )
    span.add_argument("--since", type=_moment, help="from this UTC date/time, e.g. 2024-01-01")
    parser.add_argument("--exchange", help="exchange name from EXCHANGES (default: the primary)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(handler=run)


async def run(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from bot.app import StartupError
    from bot.live import build_clients
    from bot.logs import configure_logging
    from handlers.ingest import Ingestor
    from settings import Settings, describe_error
    from storage.db import Database

    try:
        settings = Settings()
    except ValidationError as error:
        print(describe_error(error), file=sys.stderr)
        return 2
    configure_logging(settings.log_level or "WARNING", settings.secrets())
    symbol = normalize_symbol(args.symbol, settings.quote_currency)
    timeframe = normalize_timeframe(args.timeframe)
    if symbol is None or timeframe is None:
        print(f"Not a symbol/timeframe: {args.symbol} {args.timeframe}", file=sys.stderr)
        return 2
    try:
        clients = build_clients(settings)
    except StartupError as error:
        print(f"Configuration error: {error}", file=sys.stderr)
        return 2
    by_name = {client.name: client for client in clients}
    client = by_name.get(args.exchange or clients[0].name)
    if client is None:
        print(
            f"No exchange named {args.exchange}; configured: {', '.join(by_name)}", file=sys.stderr
        )
        return 2
    db = Database(settings.database_url)
    clock = WallClock()
    bar: tqdm | None = None
    try:
        await db.migrate()
        listed = await client.listed()
        if symbol not in listed:
            matches = close_matches(symbol, listed)
            hint = f" Did you mean: {', '.join(matches)}?" if matches else ""
            print(f"{client.name} does not list {symbol}.{hint}", file=sys.stderr)
            return 1
        if args.since is not None:
            start = to_ms(args.since)
        else:
            start = clock.now_ms() - int((args.days or settings.backfill_days) * DAY_MS)
        bar = tqdm(
            desc=f"{client.name} {symbol} {timeframe}",
            unit="candle",
            disable=args.no_progress,
            file=sys.stderr,
        )

        def plan(missing: int) -> None:
            bar.total = missing
            bar.refresh()

        ingestor = Ingestor(db, clock)
        result = await ingestor.sync(
            client, symbol, timeframe, start, progress=bar.update, on_plan=plan
        )
        bar.close()
        gaps = len(result.gaps)
        print(
            f"{symbol} {timeframe} on {client.name}: {result.expected} candles in range, "
            f"{result.expected - result.missing} already stored, {result.written} fetched "
            f"in {result.requests} requests, {gaps} known gap(s) recorded"
            + (f", {result.still_missing} not published yet" if result.still_missing else "")
        )
        return 0
    except ExchangeUnavailable as error:
        if bar is not None:
            bar.close()
        print(
            f"Interrupted: {error}. What was fetched is stored; run the same command "
            "again to resume.",
            file=sys.stderr,
        )
        return 1
    finally:
        for each in clients:
            await each.close()
        await db.dispose()
