"""The alarm book, the change watch and indicator alarms (engine.alarms,
engine.alarm_indicators): exact semantics, then randomized comparisons with naive
reference implementations, then indicator values against engine.indicators on
the bundled real candles."""

from __future__ import annotations

import math
import random
from dataclasses import replace

import pandas as pd
import pytest

from engine import alarms as alarms_module
from engine import indicators as ind
from engine.alarm_indicators import (
    INDICATOR_NAMES,
    IndicatorSpec,
    indicator_fires,
    latest_value,
    parse_indicator,
)
from engine.alarms import (
    AlarmBook,
    PriceAlarm,
)
from engine.change_alarms import ChangeAlarm, ChangeWatch
from engine.strategies.base import Features

BTC, ETH = "BTC/USDT", "ETH/USDT"


def alarm(
    id: int, kind: str, level: float, reference: float | None = None, symbol: str = BTC
) -> PriceAlarm:
    return PriceAlarm(id, symbol, kind, level, reference)  # type: ignore[arg-type]


def ids(alarms: list[PriceAlarm]) -> list[int]:
    return [a.id for a in alarms]


def book_of(*alarms: PriceAlarm) -> AlarmBook:
    book = AlarmBook()
    for a in alarms:
        book.add(a)
    return book


# -- above / below ---------------------------------------------------------------------


def test_above_fires_at_exactly_the_level_not_before() -> None:
    book = book_of(alarm(1, "above", 100.0))
    assert book.on_tick(BTC, 99.99) == []
    assert ids(book.on_tick(BTC, 100.0)) == [1]


def test_below_fires_at_exactly_the_level_not_before() -> None:
    book = book_of(alarm(1, "below", 100.0))
    assert book.on_tick(BTC, 100.01) == []
    assert ids(book.on_tick(BTC, 100.0)) == [1]


def test_an_alarm_already_satisfied_fires_on_the_next_tick() -> None:
    book = book_of(alarm(1, "above", 100.0), alarm(2, "below", 200.0))
    assert ids(book.on_tick(BTC, 150.0)) == [1, 2]  # equally far: by id


def test_many_alarms_at_one_level_all_fire_by_id() -> None:
    order = list(range(1, 501))
    random.Random(3).shuffle(order)
    book = book_of(*(alarm(i, "above", 100.0) for i in order))
    book.add(alarm(1000, "above", 100.0000001))
    assert ids(book.on_tick(BTC, 100.0)) == list(range(1, 501))
    assert len(book) == 1


def test_fired_order_is_farthest_level_first_then_id() -> None:
    book = book_of(
        alarm(5, "above", 103.0),
        alarm(4, "above", 101.0),
        alarm(3, "above", 102.0),
        alarm(2, "above", 101.0),
        alarm(1, "above", 110.0),
    )
    assert ids(book.on_tick(BTC, 104.0)) == [2, 4, 3, 5]
    book = book_of(alarm(1, "below", 90.0), alarm(2, "below", 95.0), alarm(3, "below", 95.0))
    assert ids(book.on_tick(BTC, 80.0)) == [2, 3, 1]


def test_fired_alarms_leave_the_book() -> None:
    book = book_of(alarm(1, "above", 100.0), alarm(2, "above", 200.0))
    assert ids(book.on_tick(BTC, 150.0)) == [1]
    assert 1 not in book and 2 in book and len(book) == 1
    assert book.on_tick(BTC, 150.0) == []
    assert ids(book.on_tick(BTC, 250.0)) == [2]
    assert len(book) == 0 and book.symbols() == set() and book.for_symbol(BTC) == []


def test_other_symbols_are_untouched() -> None:
    book = book_of(alarm(1, "above", 100.0), alarm(2, "above", 100.0, symbol=ETH))
    assert ids(book.on_tick(ETH, 120.0)) == [2]
    assert book.symbols() == {BTC}
    assert ids(book.for_symbol(BTC)) == [1]
    assert book.on_tick("SOL/USDT", 1e9) == []


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, 0.0, -5.0])
def test_invalid_prices_are_ignored(bad: float) -> None:
    book = book_of(alarm(1, "above", 100.0), alarm(2, "below", 100.0))
    assert book.on_tick(BTC, bad) == []
    assert len(book) == 2
    # Nor do they become the last price a reference-less cross alarm starts from.
    book.add(alarm(3, "cross", 100.0))
    assert book.on_tick(BTC, bad) == []
    assert 3 in book and book.for_symbol(BTC)[-1].reference is None


def test_integer_prices_work() -> None:
    assert ids(book_of(alarm(1, "above", 100.0)).on_tick(BTC, 100)) == [1]


# -- cross ---------------------------------------------------------------------------


def test_cross_up_and_down() -> None:
    book = book_of(alarm(1, "cross", 100.0, reference=90.0))
    assert book.on_tick(BTC, 99.0) == []
    assert ids(book.on_tick(BTC, 100.0)) == [1]  # reaching the level from below crosses
    book = book_of(alarm(2, "cross", 100.0, reference=110.0))
    assert book.on_tick(BTC, 100.5) == []
    assert ids(book.on_tick(BTC, 99.5)) == [2]


def test_cross_fires_on_a_gap_through_the_level() -> None:
    book = book_of(alarm(1, "cross", 100.0, reference=95.0), alarm(2, "cross", 50.0, 60.0))
    assert ids(book.on_tick(BTC, 150.0)) == [1]
    assert ids(book.on_tick(BTC, 10.0)) == [2]


def test_cross_does_not_fire_while_on_its_starting_side() -> None:
    book = book_of(alarm(1, "cross", 100.0, reference=120.0))
    for price in (119.0, 150.0, 100.01, 130.0):
        assert book.on_tick(BTC, price) == []
    assert ids(book.on_tick(BTC, 80.0)) == [1]


def test_cross_without_reference_starts_from_the_last_price() -> None:
    book = AlarmBook()
    book.on_tick(BTC, 95.0)
    book.add(alarm(1, "cross", 100.0))
    assert book.for_symbol(BTC)[0].reference == 95.0
    assert book.on_tick(BTC, 99.0) == []
    (fired,) = book.on_tick(BTC, 101.0)
    assert fired == alarm(1, "cross", 100.0, reference=95.0)


def test_cross_without_reference_or_last_price_waits_for_a_first_tick() -> None:
    book = book_of(alarm(1, "cross", 100.0), alarm(2, "cross", 100.0, symbol=ETH))
    assert book.on_tick(BTC, 120.0) == []  # sets the side (above), fires nothing
    assert book.for_symbol(BTC)[0].reference == 120.0
    assert book.on_tick(BTC, 110.0) == []
    assert ids(book.on_tick(BTC, 90.0)) == [1]
    assert book.on_tick(ETH, 90.0) == []  # each symbol has its own first price
    assert ids(book.on_tick(ETH, 130.0)) == [2]


def test_cross_with_reference_at_the_level_fires_on_the_first_different_tick() -> None:
    for moved in (100.5, 99.5):
        book = book_of(alarm(1, "cross", 100.0, reference=100.0))
        assert book.on_tick(BTC, 100.0) == []
        assert ids(book.on_tick(BTC, moved)) == [1]
        assert len(book) == 0 and book.on_tick(BTC, 200.0 - moved) == []


def test_cross_without_reference_whose_first_tick_is_the_level() -> None:
    book = book_of(alarm(1, "cross", 100.0))
    assert book.on_tick(BTC, 100.0) == []
    assert book.on_tick(BTC, 100.0) == []
    assert ids(book.on_tick(BTC, math.nextafter(100.0, 0.0))) == [1]


def test_cross_at_its_level_removed_leaves_nothing_behind() -> None:
    book = book_of(alarm(1, "cross", 100.0, reference=100.0), alarm(2, "above", 500.0))
    assert book.remove(1)
    assert book.on_tick(BTC, 101.0) == [] and book.on_tick(BTC, 99.0) == []
    assert ids(book.for_symbol(BTC)) == [2]


# -- add / remove / add back ----------------------------------------------------------


def test_remove_before_fire() -> None:
    book = book_of(alarm(1, "above", 100.0), alarm(2, "above", 100.0))
    assert book.remove(1) is True
    assert book.remove(1) is False
    assert book.remove(999) is False
    assert ids(book.on_tick(BTC, 100.0)) == [2]


def test_remove_a_pending_cross() -> None:
    book = book_of(alarm(1, "cross", 100.0))
    assert book.remove(1) and len(book) == 0 and book.symbols() == set()
    assert book.on_tick(BTC, 90.0) == [] and book.on_tick(BTC, 110.0) == []


def test_re_adding_an_id_replaces_the_alarm() -> None:
    book = book_of(alarm(1, "above", 100.0))
    book.add(alarm(1, "above", 200.0))
    assert len(book) == 1 and book.on_tick(BTC, 150.0) == []
    book.add(alarm(1, "below", 120.0))
    assert ids(book.on_tick(BTC, 110.0)) == [1]
    book.add(alarm(2, "above", 100.0))
    book.add(alarm(2, "above", 100.0, symbol=ETH))  # moved to another symbol
    assert book.on_tick(BTC, 150.0) == [] and book.symbols() == {ETH}
    assert ids(book.on_tick(ETH, 150.0)) == [2]


def test_the_same_object_removed_and_re_added_fires_once() -> None:
    a = alarm(1, "above", 100.0)
    book = book_of(a)
    book.remove(1)
    book.add(a)
    book.add(a)
    assert book.on_tick(BTC, 120.0) == [a]
    assert len(book) == 0 and book.on_tick(BTC, 130.0) == []


def test_a_fired_alarm_added_back_fires_again() -> None:
    book = book_of(alarm(1, "cross", 100.0, reference=90.0), alarm(2, "cross", 50.0))
    book.on_tick(BTC, 60.0)  # alarm 2 starts above its level
    (fired,) = book.on_tick(BTC, 105.0)
    book.add(fired)
    assert ids(book.on_tick(BTC, 104.0)) == [1]  # still beyond: fires again
    (fired,) = book.on_tick(BTC, 40.0)
    assert fired.reference == 60.0
    book.add(fired)  # keeps its original side through the resolved reference
    assert book.on_tick(BTC, 45.0) == [fired]


def test_price_alarm_validation() -> None:
    with pytest.raises(ValueError, match="kind"):
        alarm(1, "near", 100.0)
    for level in (0.0, -1.0, math.nan, math.inf):
        with pytest.raises(ValueError, match="level"):
            alarm(1, "above", level)
    with pytest.raises(ValueError, match="reference"):
        alarm(1, "cross", 100.0, reference=math.nan)


def test_removal_is_immediate() -> None:
    book = AlarmBook()
    for i in range(2000):
        book.add(alarm(i, ["above", "below", "cross"][i % 3], 100.0 + i, reference=100.0 + i))
    for i in range(1900):
        book.remove(i)
    index = book._index[BTC]  # memory follows the live alarms
    assert len(index.up) + len(index.down) == 100 + 33
    assert sorted(ids(book.for_symbol(BTC))) == list(range(1900, 2000))


@pytest.mark.parametrize("load", [512, 1, 3])
def test_loading_at_once_equals_adding_one_by_one(
    load: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(alarms_module, "_LOAD", load)
    rng = random.Random(load)
    kinds = ["above", "below", "cross"]
    alarms = [
        PriceAlarm(
            rng.randrange(300),  # repeated ids: the last one wins
            rng.choice([BTC, ETH]),
            rng.choice(kinds),  # type: ignore[arg-type]
            rng.choice([95.0, 100.0, 105.0, rng.uniform(80, 120)]),
            rng.choice([None, 100.0, 95.0]),
        )
        for _ in range(500)
    ]
    loaded, added = AlarmBook(alarms), book_of(*alarms)
    assert len(loaded) == len(added)
    for symbol in (BTC, ETH):
        assert loaded.for_symbol(symbol) == added.for_symbol(symbol)
    for _ in range(300):
        symbol, price = rng.choice([BTC, ETH]), rng.choice([95.0, 100.0, rng.uniform(75, 125)])
        assert loaded.on_tick(symbol, price) == added.on_tick(symbol, price)
        if rng.random() < 0.3:
            a = rng.choice(alarms)
            loaded.add(a)
            added.add(a)
    assert len(loaded) == len(added)


def test_for_symbol_lists_live_alarms_by_level() -> None:
    book = book_of(
        alarm(3, "above", 120.0),
        alarm(1, "below", 80.0),
        alarm(2, "cross", 100.0, reference=100.0),
        alarm(4, "cross", 90.0),
    )
    book.remove(3)
    assert ids(book.for_symbol(BTC)) == [1, 4, 2]
    assert book.for_symbol(ETH) == []


# -- randomized comparison with a naive book --------------------------------------------


class NaiveBook:
    """The semantics written directly: every alarm checked on every tick."""

    def __init__(self) -> None:
        self.alarms: dict[int, PriceAlarm] = {}
        self.last: dict[str, float] = {}

    def add(self, a: PriceAlarm) -> None:
        if a.kind == "cross" and a.reference is None and a.symbol in self.last:
            a = replace(a, reference=self.last[a.symbol])
        self.alarms[a.id] = a

    def remove(self, alarm_id: int) -> bool:
        return self.alarms.pop(alarm_id, None) is not None

    @staticmethod
    def hits(a: PriceAlarm, price: float) -> bool:
        if a.kind == "above":
            return price >= a.level
        if a.kind == "below":
            return price <= a.level
        if a.reference is None:
            return False
        if a.reference < a.level:
            return price >= a.level
        if a.reference > a.level:
            return price <= a.level
        return price != a.level

    def on_tick(self, symbol: str, price: float) -> list[PriceAlarm]:
        if not (math.isfinite(price) and price > 0):
            return []
        fired = [a for a in self.alarms.values() if a.symbol == symbol and self.hits(a, price)]
        for a in fired:
            del self.alarms[a.id]
        for a in list(self.alarms.values()):
            if a.symbol == symbol and a.kind == "cross" and a.reference is None:
                self.alarms[a.id] = replace(a, reference=price)
        self.last[symbol] = price
        return sorted(fired, key=lambda a: (-abs(price - a.level), a.id))

    def for_symbol(self, symbol: str) -> list[PriceAlarm]:
        return sorted(
            (a for a in self.alarms.values() if a.symbol == symbol), key=lambda a: (a.level, a.id)
        )


@pytest.mark.parametrize(("seed", "load"), [(1, 512), (2, 512), (3, 2), (4, 1)])
def test_matches_a_naive_book_on_random_operations(
    seed: int, load: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(alarms_module, "_LOAD", load)  # tiny chunks: many splits
    rng = random.Random(seed)
    symbols = ["A/USDT", "B/USDT", "C/USDT"]
    prices = dict.fromkeys(symbols, 100.0)
    grid = [90.0 + 0.5 * i for i in range(41)]  # shared levels: ties and exact hits
    book, naive = AlarmBook(), NaiveBook()
    next_id = 0
    fired_pool: list[PriceAlarm] = []
    total_fired = 0
    for _ in range(10_000):
        op = rng.random()
        if op < 0.45:
            symbol = rng.choice(symbols)
            if rng.random() < 0.5:
                level = rng.choice(grid)
            else:
                level = round(prices[symbol] * math.exp(rng.gauss(0, 0.03)), 6)
            kind = rng.choice(["above", "below", "cross", "cross"])
            reference = rng.choice([None, prices[symbol], level, rng.choice(grid)])
            if rng.random() < 0.15 and next_id:
                alarm_id = rng.randrange(next_id)  # re-add: replaces
            else:
                alarm_id, next_id = next_id, next_id + 1
            a = PriceAlarm(alarm_id, symbol, kind, level, reference)  # type: ignore[arg-type]
            book.add(a)
            naive.add(a)
        elif op < 0.55 and next_id:
            alarm_id = rng.randrange(next_id)
            assert book.remove(alarm_id) == naive.remove(alarm_id)
        elif op < 0.553:  # a mass removal
            for alarm_id in [i for i in naive.alarms if rng.random() < 0.8]:
                assert book.remove(alarm_id) and naive.remove(alarm_id)
        elif op < 0.56:  # a symbol never ticked yet: reference-less crosses wait for it
            symbols.append(f"N{len(symbols)}/USDT")
            prices[symbols[-1]] = 100.0
        elif op < 0.58 and fired_pool:
            a = fired_pool.pop(rng.randrange(len(fired_pool)))
            if a.id not in book:
                book.add(a)
                naive.add(a)
        else:
            symbol = rng.choice(symbols)
            r = rng.random()
            if r < 0.02:
                price = rng.choice([math.nan, math.inf, 0.0, -1.0])
            elif r < 0.25:
                price = rng.choice(grid)
            else:
                price = round(max(1.0, prices[symbol] * math.exp(rng.gauss(0, 0.01))), 6)
            if math.isfinite(price) and price > 0:
                prices[symbol] = price
            got, want = book.on_tick(symbol, price), naive.on_tick(symbol, price)
            assert got == want
            fired_pool.extend(got)
            total_fired += len(got)
        assert len(book) == len(naive.alarms)
    for symbol in symbols:
        assert book.for_symbol(symbol) == naive.for_symbol(symbol)
    assert book.symbols() == {a.symbol for a in naive.alarms.values()}
    assert total_fired > 1000  # the comparison did exercise firing


# -- change alarms ---------------------------------------------------------------------

MIN = 60_000
HOUR = 3_600_000


def change(id: int, pct: float, window_ms: int = MIN, symbol: str = BTC) -> ChangeAlarm:
    return ChangeAlarm(id, symbol, pct, window_ms)


def test_change_fires_on_a_rise_from_the_window_low() -> None:
    watch = ChangeWatch()
    watch.add(change(1, 25.0))
    assert watch.on_tick(BTC, 120.0, 0) == []
    assert watch.on_tick(BTC, 100.0, 10_000) == []
    assert watch.on_tick(BTC, 124.0, 20_000) == []
    assert watch.on_tick(BTC, 125.0, 30_000) == [(change(1, 25.0), 25.0)]  # exactly pct
    assert len(watch) == 0 and 1 not in watch


def test_change_fires_on_a_fall_from_the_window_high() -> None:
    watch = ChangeWatch()
    watch.add(change(1, 25.0))
    assert watch.on_tick(BTC, 90.0, 0) == []
    assert watch.on_tick(BTC, 100.0, 1) == []
    assert watch.on_tick(BTC, 76.0, 2) == []
    assert watch.on_tick(BTC, 75.0, 3) == [(change(1, 25.0), -25.0)]


def test_change_reports_the_larger_move() -> None:
    for first, second, third, expected in ((80.0, 125.0, 100.0, 25.0), (125.0, 80.0, 90.0, -28.0)):
        watch = ChangeWatch()
        watch.add(change(1, 99.0))  # keeps the history alive, never fires here
        watch.on_tick(BTC, first, 0)
        watch.on_tick(BTC, second, 1)
        watch.add(change(2, 5.0))  # sees the shared history
        ((fired, move),) = watch.on_tick(BTC, third, 2)
        assert fired.id == 2 and move == pytest.approx(expected)


def test_change_window_expiry() -> None:
    watch = ChangeWatch()
    watch.add(change(1, 5.0))
    watch.on_tick(BTC, 100.0, 0)
    assert watch.on_tick(BTC, 110.0, MIN + 1) == []  # the low at 0 has left the window
    assert watch.on_tick(BTC, 112.0, MIN + 2) == []
    ((_, move),) = watch.on_tick(BTC, 116.0, MIN + 3)  # from the low at MIN + 1
    assert move == pytest.approx(100 * (116 / 110 - 1))


def test_change_window_includes_its_boundary() -> None:
    watch = ChangeWatch()
    watch.add(change(1, 10.0))
    watch.on_tick(BTC, 100.0, 0)
    ((_, move),) = watch.on_tick(BTC, 111.0, MIN)  # ts >= now - window: still inside
    assert move == pytest.approx(11.0)


def test_change_several_windows() -> None:
    watch = ChangeWatch()
    watch.add(change(1, 3.0, MIN))
    watch.add(change(2, 3.0, HOUR))
    watch.add(change(3, 10.0, HOUR))
    price = 100.0
    fired = []
    for step in range(1, 11):  # +0.5% a minute: never 3% within a minute
        price *= 1.005
        fired += watch.on_tick(BTC, price, step * MIN)
    assert [a.id for a, _ in fired] == [2]
    assert fired[0][1] >= 3.0
    assert 1 in watch and 3 in watch
    fired = watch.on_tick(BTC, price * 1.06, 11 * MIN)
    assert [a.id for a, _ in fired] == [1, 3]  # shorter window first
    assert fired[0][1] == pytest.approx(6.0) and fired[1][1] >= 10.0
    assert len(watch) == 0


def test_change_fired_order_window_then_pct_then_id() -> None:
    watch = ChangeWatch()
    for a in (change(4, 2.0, HOUR), change(3, 1.0, MIN), change(2, 2.0, MIN), change(1, 2.0)):
        watch.add(a)
    watch.on_tick(BTC, 100.0, 0)
    assert [a.id for a, _ in watch.on_tick(BTC, 110.0, 1)] == [3, 1, 2, 4]


def test_change_a_later_alarm_sees_the_shared_history() -> None:
    watch = ChangeWatch()
    watch.add(change(1, 50.0))
    watch.on_tick(BTC, 100.0, 0)
    watch.add(change(2, 5.0))
    assert [a.id for a, _ in watch.on_tick(BTC, 106.0, 1)] == [2]


def test_change_history_is_dropped_with_its_last_alarm() -> None:
    watch = ChangeWatch()
    watch.add(change(1, 5.0))
    watch.on_tick(BTC, 100.0, 0)
    assert watch.remove(1) and not watch.remove(1)
    watch.add(change(1, 5.0))
    assert watch.on_tick(BTC, 106.0, 1) == []  # evaluates from the first tick it sees
    assert [a.id for a, _ in watch.on_tick(BTC, 112.0, 2)] == [1]


def test_change_remove_re_add_symbols_and_bad_ticks() -> None:
    watch = ChangeWatch()
    watch.add(change(1, 5.0))
    watch.add(change(2, 5.0, symbol=ETH))
    watch.add(change(1, 50.0))  # replaced
    watch.on_tick(BTC, 100.0, 100)
    assert watch.on_tick(BTC, 10.0, 50) == []  # older than the newest tick: ignored
    assert watch.on_tick(BTC, math.nan, 200) == [] and watch.on_tick(BTC, -1.0, 200) == []
    assert watch.on_tick(BTC, 120.0, 300) == []
    assert 2 in watch and len(watch) == 2
    assert watch.on_tick("SOL/USDT", 1.0, 0) == []


def test_change_the_same_object_re_added_fires_once() -> None:
    watch = ChangeWatch()
    a = change(1, 5.0)
    watch.add(a)
    watch.remove(1)
    watch.add(a)
    watch.add(a)
    watch.on_tick(BTC, 100.0, 0)
    assert watch.on_tick(BTC, 110.0, 1) == [(a, pytest.approx(10.0))]
    assert len(watch) == 0


def test_change_alarm_validation() -> None:
    with pytest.raises(ValueError, match="percent"):
        change(1, 0.0)
    with pytest.raises(ValueError, match="window"):
        change(1, 5.0, 0)


class NaiveWatch:
    """Full tick history per (symbol, window), scanned on every tick."""

    def __init__(self) -> None:
        self.alarms: dict[int, ChangeAlarm] = {}
        self.history: dict[tuple[str, int], list[tuple[int, float]]] = {}
        self.last_ts: dict[str, int] = {}

    def _group_size(self, key: tuple[str, int]) -> int:
        return sum((a.symbol, a.window_ms) == key for a in self.alarms.values())

    def add(self, a: ChangeAlarm) -> None:
        self.remove(a.id)
        self.history.setdefault((a.symbol, a.window_ms), [])
        self.alarms[a.id] = a

    def remove(self, alarm_id: int) -> bool:
        a = self.alarms.pop(alarm_id, None)
        if a is None:
            return False
        self._forget_if_empty(a.symbol, a.window_ms)
        return True

    def _forget_if_empty(self, symbol: str, window_ms: int) -> None:
        if self._group_size((symbol, window_ms)) == 0:
            del self.history[(symbol, window_ms)]
            if not any(s == symbol for s, _ in self.history):
                self.last_ts.pop(symbol, None)

    def on_tick(self, symbol: str, price: float, ts: int) -> list[tuple[ChangeAlarm, float]]:
        if not (math.isfinite(price) and price > 0):
            return []
        if not any(s == symbol for s, _ in self.history):
            return []
        if ts < self.last_ts.get(symbol, ts):
            return []
        self.last_ts[symbol] = ts
        fired = []
        for (s, window_ms), ticks in list(self.history.items()):
            if s != symbol:
                continue
            ticks.append((ts, price))
            ticks[:] = [(t, p) for t, p in ticks if t >= ts - window_ms]
            seen = [p for _, p in ticks]
            rise = (price / min(seen) - 1.0) * 100.0
            fall = (price / max(seen) - 1.0) * 100.0
            move = rise if rise >= -fall else fall
            for a in list(self.alarms.values()):
                if (a.symbol, a.window_ms) == (s, window_ms) and (rise >= a.pct or fall <= -a.pct):
                    del self.alarms[a.id]
                    fired.append((a, move))
            self._forget_if_empty(s, window_ms)
        return sorted(fired, key=lambda f: (f[0].window_ms, f[0].pct, f[0].id))


@pytest.mark.parametrize(("seed", "load"), [(1, 512), (2, 1)])
def test_change_watch_matches_a_naive_watch(
    seed: int, load: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(alarms_module, "_LOAD", load)
    rng = random.Random(seed)
    symbols = ["A/USDT", "B/USDT"]
    windows = [1_000, 5_000, 20_000]
    prices = dict.fromkeys(symbols, 100.0)
    ts = dict.fromkeys(symbols, 0)
    watch, naive = ChangeWatch(), NaiveWatch()
    next_id = 0
    total_fired = 0
    for _ in range(4000):
        op = rng.random()
        if op < 0.2:
            if rng.random() < 0.1 and next_id:
                alarm_id = rng.randrange(next_id)
            else:
                alarm_id, next_id = next_id, next_id + 1
            a = ChangeAlarm(
                alarm_id, rng.choice(symbols), rng.choice([0.5, 1.0, 2.0, 3.0]), rng.choice(windows)
            )
            watch.add(a)
            naive.add(a)
        elif op < 0.25 and next_id:
            alarm_id = rng.randrange(next_id)
            assert watch.remove(alarm_id) == naive.remove(alarm_id)
        else:
            symbol = rng.choice(symbols)
            step = rng.choice([0, 0, 100, 400, 1500]) if rng.random() > 0.02 else -50
            ts[symbol] += step
            prices[symbol] = round(prices[symbol] * math.exp(rng.gauss(0, 0.004)), 6)
            price = prices[symbol] if rng.random() > 0.02 else math.nan
            got = watch.on_tick(symbol, price, ts[symbol])
            want = naive.on_tick(symbol, price, ts[symbol])
            assert got == want
            total_fired += len(got)
        assert len(watch) == len(naive.alarms)
    assert total_fired > 300


# -- indicator alarms ------------------------------------------------------------------


def test_indicator_fires() -> None:
    assert indicator_fires("above", 70.0, 70.0) and not indicator_fires("above", 70.0, 69.9)
    assert indicator_fires("below", 30.0, 29.0) and not indicator_fires("below", 30.0, 30.1)
    assert not indicator_fires("above", 70.0, None)
    assert not indicator_fires("above", 70.0, math.nan)
    assert not indicator_fires("below", math.nan, 1.0)
    with pytest.raises(ValueError, match="direction"):
        indicator_fires("sideways", 1.0, 1.0)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "name", "period", "label"),
    [
        ("rsi", "rsi", 14, "rsi(14)"),
        ("rsi(7)", "rsi", 7, "rsi(7)"),
        ("RSI( 7 )", "rsi", 7, "rsi(7)"),
        ("  Rsi (7)  ", "rsi", 7, "rsi(7)"),
        ("ema(50)", "ema", 50, "ema(50)"),
        ("EMA(200)", "ema", 200, "ema(200)"),
        ("sma(200)", "sma", 200, "sma(200)"),
        ("sma(2)", "sma", 2, "sma(2)"),
        ("sma(500)", "sma", 500, "sma(500)"),
        ("macd", "macd", None, "macd"),
        ("MACD_HIST", "macd_hist", None, "macd_hist"),
        ("bb_pct", "bb_pct", None, "bb_pct"),
        ("atr", "atr", 14, "atr(14)"),
        ("atr(7)", "atr", 7, "atr(7)"),
        ("volume", "volume", None, "volume"),
    ],
)
def test_parse_indicator(text: str, name: str, period: int | None, label: str) -> None:
    spec = parse_indicator(text)
    assert (spec.name, spec.period, spec.label()) == (name, period, label)
    assert parse_indicator(spec.label()) == spec


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "cannot read indicator"),
        ("   ", "cannot read indicator"),
        ("rsi(14", "cannot read indicator"),
        ("rsi 14", "cannot read indicator"),
        ("rsi((14))", "cannot read indicator"),
        ("stoch", r"unknown indicator 'stoch'; use one of: rsi, rsi\(N\), ema\(N\)"),
        ("ema", r"ema needs a period, e\.g\. ema\(50\)"),
        ("sma", "sma needs a period"),
        ("ema()", "ema period must be a whole number, got ''"),
        ("rsi(abc)", "rsi period must be a whole number, got 'abc'"),
        ("rsi(7.5)", "whole number"),
        ("rsi(-7)", "whole number"),
        ("rsi(1)", "rsi period must be between 2 and 500, got 1"),
        ("ema(501)", "between 2 and 500, got 501"),
        ("macd(12)", "macd takes no period"),
        ("volume(20)", "volume takes no period"),
        ("bb_pct(20)", "bb_pct takes no period"),
    ],
)
def test_parse_indicator_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_indicator(text)


def test_indicator_spec_validates_itself() -> None:
    assert set(INDICATOR_NAMES) == {
        "rsi",
        "ema",
        "sma",
        "macd",
        "macd_hist",
        "bb_pct",
        "atr",
        "volume",
    }
    with pytest.raises(ValueError, match="unknown"):
        IndicatorSpec("vwap", None)
    with pytest.raises(ValueError, match="needs a period"):
        IndicatorSpec("rsi", None)
    with pytest.raises(ValueError, match="takes no period"):
        IndicatorSpec("macd", 12)
    with pytest.raises(ValueError, match="between"):
        IndicatorSpec("ema", 1000)


@pytest.fixture(scope="module")
def recent(btc_1h_frame: pd.DataFrame) -> pd.DataFrame:
    return btc_1h_frame.iloc[-700:]


def _expected(text: str, frame: pd.DataFrame) -> float:
    close = frame["close"]
    series = {
        "rsi": lambda: ind.rsi(close, 14),
        "rsi(7)": lambda: ind.rsi(close, 7),
        "ema(50)": lambda: ind.ema(close, 50),
        "sma(200)": lambda: ind.sma(close, 200),
        "macd": lambda: ind.macd(close)["macd"],
        "macd_hist": lambda: ind.macd(close)["hist"],
        "bb_pct": lambda: ind.bollinger(close)["percent"],
        "atr": lambda: ind.atr(frame, 14),
        "atr(7)": lambda: ind.atr(frame, 7),
        "volume": lambda: frame["volume"],
    }[text]()
    return float(series.iloc[-1])


TEXTS = ["rsi", "rsi(7)", "ema(50)", "sma(200)", "macd", "macd_hist", "bb_pct", "atr", "atr(7)"]


@pytest.mark.parametrize("stop", [450, 700])
def test_latest_value_matches_engine_indicators(recent: pd.DataFrame, stop: int) -> None:
    frame = recent.iloc[:stop]
    features = Features(frame)
    for text in [*TEXTS, "volume"]:
        value = latest_value(parse_indicator(text), features)
        assert value is not None and math.isfinite(value), text
        assert value == pytest.approx(_expected(text, frame), rel=1e-12, abs=1e-12), text
    assert latest_value(parse_indicator("volume"), frame) == float(frame["volume"].iloc[-1])


def test_latest_value_is_none_during_warm_up_or_without_candles(recent: pd.DataFrame) -> None:
    short = recent.iloc[:30]
    assert latest_value(parse_indicator("sma(200)"), short) is None
    assert latest_value(parse_indicator("macd_hist"), short) is None
    assert latest_value(parse_indicator("rsi"), short) is not None
    assert latest_value(parse_indicator("volume"), recent.iloc[:0]) is None
