"""Bench: price ticks against 1,000,000 active alarms (engine.alarms.AlarmBook).

Run: `.venv/bin/python bench/alarms.py [--alarms 1000000] [--symbols 100] [--ticks 100000]`

The book holds `--alarms` price alarms spread evenly over `--symbols` symbols:
40% ``above`` (levels 0.1-20% over the symbol's start price), 40% ``below``
(0.1-20% under it) and 20% ``cross`` (either side, reference = start price).
`--ticks` ticks follow, each for a random symbol whose price takes a Gaussian
log step (`--step-bps`, 3 bps by default: a busy second of a major pair), so
some ticks reach new levels and fire alarms. Fired alarms are not re-added: the
book shrinks by the alarms fired (printed), as it would between re-arms.

Each tick is timed alone (`time.perf_counter_ns` around `on_tick`, its own
~50-100 ns included). The baseline is the naive book: one plain list of every
alarm, each checked on each tick (and the fired ones removed). It is slow, so it
is measured on the first `--naive-ticks` ticks only (300 by default), from the
same starting alarms, and must fire exactly what the book fires on those ticks.
For context the same sample is also scanned with per-symbol lists (a naive book
that at least groups by symbol). Also printed: the time to build the book and
its memory (tracemalloc over a second build, so the timing is not slowed; the
PriceAlarm objects themselves, shared with the caller, are not counted), and
the cost of adding then removing 100,000 alarms one by one in a full book.
Goal: >= 1000x faster than the naive scan, p99 < 100 us per tick.
"""

from __future__ import annotations

import argparse
import gc
import math
import random
import resource
import sys
import time
import tracemalloc
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.alarms import AlarmBook, PriceAlarm

Tick = tuple[str, float]


def make_alarms(
    n: int, symbols: list[str], start: dict[str, float], rng: random.Random
) -> list[PriceAlarm]:
    alarms = []
    for i in range(n):
        symbol = symbols[i % len(symbols)]
        price = start[symbol]
        distance = rng.uniform(0.001, 0.20)
        roll = rng.random()
        if roll < 0.4:
            alarms.append(PriceAlarm(i, symbol, "above", price * (1 + distance)))
        elif roll < 0.8:
            alarms.append(PriceAlarm(i, symbol, "below", price * (1 - distance)))
        else:
            side = 1 if rng.random() < 0.5 else -1
            alarms.append(PriceAlarm(i, symbol, "cross", price * (1 + side * distance), price))
    return alarms


def make_ticks(
    n: int, symbols: list[str], start: dict[str, float], step: float, rng: random.Random
) -> list[Tick]:
    price = dict(start)
    ticks = []
    for _ in range(n):
        symbol = rng.choice(symbols)
        price[symbol] *= math.exp(rng.gauss(0.0, step))
        ticks.append((symbol, price[symbol]))
    return ticks


def _hits(a: PriceAlarm, price: float) -> bool:
    if a.kind == "above":
        return price >= a.level
    if a.kind == "below":
        return price <= a.level
    assert a.reference is not None
    if a.reference < a.level:
        return price >= a.level
    if a.reference > a.level:
        return price <= a.level
    return price != a.level


def naive_tick(alarms: list[PriceAlarm], symbol: str, price: float) -> list[PriceAlarm]:
    """Every alarm checked one by one; the fired ones removed from the list."""
    fired = [a for a in alarms if a.symbol == symbol and _hits(a, price)]
    if fired:
        gone = {a.id for a in fired}
        alarms[:] = [a for a in alarms if a.id not in gone]
        fired.sort(key=lambda a: (-abs(price - a.level), a.id))
    return fired


def per_symbol_tick(
    by_symbol: dict[str, list[PriceAlarm]], symbol: str, price: float
) -> list[PriceAlarm]:
    return naive_tick(by_symbol[symbol], symbol, price)


def quantile(sorted_ns: list[int], q: float) -> float:
    return sorted_ns[min(len(sorted_ns) - 1, int(q * len(sorted_ns)))] / 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alarms", type=int, default=1_000_000)
    parser.add_argument("--symbols", type=int, default=100)
    parser.add_argument("--ticks", type=int, default=100_000)
    parser.add_argument("--naive-ticks", type=int, default=300)
    parser.add_argument("--step-bps", type=float, default=3.0, help="tick log-step sd, bps")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    rng = random.Random(args.seed)
    symbols = [f"SYM{i:03d}/USDT" for i in range(args.symbols)]
    start = {s: 10 ** rng.uniform(-2, 4.7) for s in symbols}
    alarms = make_alarms(args.alarms, symbols, start, rng)
    ticks = make_ticks(args.ticks, symbols, start, args.step_bps / 10_000, rng)
    sample = min(args.naive_ticks, len(ticks))

    t0 = time.perf_counter()
    book = AlarmBook(alarms)  # bulk load, as at start-up from storage
    t_build = time.perf_counter() - t0

    gc.collect()
    tracemalloc.start()
    extra = AlarmBook(alarms)
    book_bytes = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()

    # One by one into the full book (a user's /alarm, a deletion), then back out.
    churn = make_alarms(min(args.alarms, 100_000), symbols, start, rng)
    churn = [replace(a, id=a.id + args.alarms) for a in churn]
    t0 = time.perf_counter()
    for alarm in churn:
        extra.add(alarm)
    t_add = (time.perf_counter() - t0) / max(1, len(churn))
    rng.shuffle(churn)
    t0 = time.perf_counter()
    for alarm in churn:
        extra.remove(alarm.id)
    t_remove = (time.perf_counter() - t0) / max(1, len(churn))
    del extra, churn
    gc.collect()

    timer = time.perf_counter_ns
    elapsed: list[int] = []
    fired_sample: list[list[int]] = []
    fired_counts: list[int] = []
    on_tick = book.on_tick
    for i, (symbol, price) in enumerate(ticks):
        t0 = timer()
        fired = on_tick(symbol, price)
        elapsed.append(timer() - t0)
        fired_counts.append(len(fired))
        if i < sample:
            fired_sample.append([a.id for a in fired])
    elapsed_sorted = sorted(elapsed)
    firing_sorted = sorted(ns for ns, n in zip(elapsed, fired_counts, strict=True) if n)

    plain = list(alarms)
    naive_ns: list[int] = []
    for i, (symbol, price) in enumerate(ticks[:sample]):
        t0 = timer()
        fired = naive_tick(plain, symbol, price)
        naive_ns.append(timer() - t0)
        assert [a.id for a in fired] == fired_sample[i], f"naive and book disagree at tick {i}"

    by_symbol: dict[str, list[PriceAlarm]] = defaultdict(list)
    for alarm in alarms:
        by_symbol[alarm.symbol].append(alarm)
    grouped_ns: list[int] = []
    for i, (symbol, price) in enumerate(ticks[:sample]):
        t0 = timer()
        fired = per_symbol_tick(by_symbol, symbol, price)
        grouped_ns.append(timer() - t0)
        assert [a.id for a in fired] == fired_sample[i]

    fired_total, most = sum(fired_counts), max(fired_counts, default=0)
    firing_ticks = len(firing_sorted)
    naive_ns.sort()
    grouped_ns.sort()
    book_p50, book_p99 = quantile(elapsed_sorted, 0.5), quantile(elapsed_sorted, 0.99)
    sample_sorted = sorted(elapsed[:sample])
    sample_p50 = quantile(sample_sorted, 0.5)
    naive_p50, naive_p99 = quantile(naive_ns, 0.5), quantile(naive_ns, 0.99)
    grouped_p50, grouped_p99 = quantile(grouped_ns, 0.5), quantile(grouped_ns, 0.99)
    mean_book = sum(elapsed) / len(elapsed) / 1000
    mean_naive = sum(naive_ns) / len(naive_ns) / 1000
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    print(
        f"alarms: {args.alarms:,} over {args.symbols} symbols; ticks: {len(ticks):,} "
        f"(step {args.step_bps:g} bps); fired {fired_total:,} on {firing_ticks:,} ticks "
        f"(at most {most} on one); left in the book {len(book):,}"
    )
    print(
        f"build: {t_build:.2f} s (AlarmBook(alarms), one sort per symbol and side); "
        f"one by one into the full book: add {t_add * 1e6:.2f} us, remove {t_remove * 1e6:.2f} us"
    )
    print(
        f"memory: book {book_bytes / 2**20:.0f} MiB traced "
        f"({book_bytes / max(1, args.alarms):.0f} B/alarm, alarm objects not counted); "
        f"process peak RSS {peak_rss_mb:.0f} MiB"
    )
    print(
        f"per tick, book ({len(ticks):,} ticks):        median {book_p50:8.2f} us   "
        f"p99 {book_p99:8.2f} us   mean {mean_book:7.2f} us   max {elapsed_sorted[-1] / 1000:8.1f} us"
    )
    if firing_sorted:
        print(
            f"  ticks that fired ({firing_ticks:,}):          median "
            f"{quantile(firing_sorted, 0.5):8.2f} us   p99 {quantile(firing_sorted, 0.99):8.2f} us"
        )
    print(
        f"per tick, naive list scan ({sample} ticks):  median {naive_p50:8.0f} us   "
        f"p99 {naive_p99:8.0f} us   mean {mean_naive:7.0f} us"
    )
    print(
        f"per tick, per-symbol scan ({sample} ticks):  median {grouped_p50:8.0f} us   "
        f"p99 {grouped_p99:8.0f} us"
    )
    ratio = naive_p50 / book_p50
    print(
        f"ratio naive/book: median {ratio:,.0f}x (same {sample} ticks: "
        f"{naive_p50 / sample_p50:,.0f}x), mean {mean_naive / mean_book:,.0f}x; "
        f"per-symbol scan/book median {grouped_p50 / book_p50:,.0f}x"
    )
    met = ratio >= 1000 and book_p99 < 100
    print(
        f"goal: >= 1000x and p99 < 100 us: {'met' if met else 'NOT met'} "
        f"({ratio:,.0f}x, p99 {book_p99:.1f} us)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
