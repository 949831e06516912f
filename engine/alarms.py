"""The alarm book: active alarms indexed so that a price tick costs
O(log n + fired), never a scan of every alarm. Pure and in memory (no I/O).

Price alarms (`PriceAlarm`, matched by `AlarmBook`)
---------------------------------------------------

- ``above`` fires on the first tick with price >= level; ``below`` on the first
  tick with price <= level (a tick exactly at the level fires).
- ``cross`` fires when the price goes from one side of the level to the other
  between consecutive observations; reaching the level counts, and so does a gap
  through it (ticks are samples: the path between two of them is not seen).
  Once it has fired it is gone, so it fires once. The starting side is the
  alarm's ``reference``, the price when it was created. So a cross alarm is
  exactly an ``above`` alarm when reference < level and a ``below`` alarm when
  reference > level, and is indexed as one. When reference == level it fires on
  the first tick that differs from the level, in either direction.
- A cross alarm added with ``reference=None`` takes the last price the book has
  seen for its symbol; if the book has seen none, the next tick of the symbol
  becomes its reference (that tick sets the side and does not fire). The book
  stores such an alarm with the reference it resolved (`dataclasses.replace`),
  so `AlarmBook.for_symbol`, `AlarmBook.on_tick` and adding it back later see
  that reference.
- Fired alarms leave the book. A caller that could not record a firing puts the
  alarm back with `AlarmBook.add`: it fires again on the next tick that is
  still at or beyond its level (a cross alarm keeps its side through its
  reference).
- Ticks whose price is NaN, infinite, zero or negative are ignored: `on_tick`
  returns ``[]`` and they do not become the symbol's last price.
- Several alarms fired by one tick come out in a deterministic order: the level
  farthest from the tick price first (the level a straight move to this price
  reaches first), then by id. Ties (many alarms at one level) all fire.

Index: per symbol, two ladders: sorted arrays of alarms, cut into chunks of at
most ``2 * _LOAD`` so an insertion moves a few kilobytes, never the whole book.
"Fires when price >= level" alarms are kept by ascending level, so the alarms a
tick fires are a prefix; "fires when price <= level" alarms by descending level
(key -level), a prefix again. A tick that fires nothing costs a dict look-up and
two comparisons (each ladder's head against the price); a tick that fires k
alarms costs a bisection in the first chunk and an O(k) slice (then the k are
put in order). Adding and removing cost O(log n) comparisons plus a memmove
within one chunk (removal also steps over the alarms sharing its level). Building
a book from many alarms at once (`AlarmBook(alarms)`) sorts once. Removal is
immediate (no tombstones), so memory follows the live alarms. A cross alarm
whose reference equals its level sits in both ladders at the next float above
and below its level (``math.nextafter``), so it fires on a strict move either
way, and leaves both when it fires.

>>> book = AlarmBook()
>>> book.add(PriceAlarm(1, "BTC/USDT", "above", 70_000.0))
>>> book.add(PriceAlarm(2, "BTC/USDT", "cross", 60_000.0, reference=65_000.0))
>>> book.on_tick("BTC/USDT", 66_000.0)
[]
>>> [a.id for a in book.on_tick("BTC/USDT", 59_000.0)]  # crossed down through 60k
[2]
>>> len(book), 2 in book
(1, False)

Change alarms live in `engine.change_alarms`; indicator alarms (evaluated on
closed candles) in `engine.alarm_indicators`.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Literal

AlarmKind = Literal["above", "below", "cross"]
ALARM_KINDS: tuple[AlarmKind, ...] = ("above", "below", "cross")

# A ladder chunk holds _LOAD to 2 * _LOAD alarms (fewer after removals).
_LOAD = 512


def _positive_finite(value: float) -> bool:
    return 0.0 < value < math.inf  # False for NaN too


class _Ladder[T]:
    """Items sorted by a float key, ascending, in chunks: the items whose key is
    <= a bound are a prefix, taken in O(log n + k). Equal keys keep their
    insertion order. Removal finds an item by its key and identity.

    >>> ladder = _Ladder[str]()
    >>> for key, item in [(3.0, "c"), (1.0, "a"), (2.0, "b"), (2.0, "b2")]:
    ...     ladder.insert(key, item)
    >>> ladder.remove(1.0, "a"), ladder.remove(1.0, "a")
    (True, False)
    >>> out = []
    >>> ladder.take_upto(2.5, out)
    >>> out, len(ladder)
    (['b', 'b2'], 1)
    """

    __slots__ = ("items", "keys", "maxes", "size")

    def __init__(self) -> None:
        self.keys: list[list[float]] = []  # chunks of keys, ascending
        self.items: list[list[T]] = []  # the items, parallel to keys
        self.maxes: list[float] = []  # the last key of each chunk
        self.size = 0

    def __len__(self) -> int:
        return self.size

    def __iter__(self) -> Iterator[T]:
        for chunk in self.items:
            yield from chunk

    def fill(self, keys: list[float], items: list[T]) -> None:
        """Load an empty ladder from parallel keys and items in one sort, O(n log n).
        (Sorting positions, not (key, item) pairs: no million short-lived tuples
        for the garbage collector to walk.)"""
        assert not self.size
        order = sorted(range(len(keys)), key=keys.__getitem__)  # stable for equal keys
        for start in range(0, len(order), _LOAD):
            chunk = order[start : start + _LOAD]
            self.keys.append([keys[i] for i in chunk])
            self.items.append([items[i] for i in chunk])
            self.maxes.append(self.keys[-1][-1])
        self.size = len(order)

    def insert(self, key: float, item: T) -> None:
        self.size += 1
        maxes = self.maxes
        if not maxes:
            self.keys.append([key])
            self.items.append([item])
            maxes.append(key)
            return
        pos = bisect_right(maxes, key)  # the first chunk whose last key is > key
        if pos == len(maxes):  # beyond every key: append to the last chunk
            pos -= 1
            self.keys[pos].append(key)
            self.items[pos].append(item)
            maxes[pos] = key
        else:
            keys = self.keys[pos]
            at = bisect_right(keys, key)
            keys.insert(at, key)
            self.items[pos].insert(at, item)
        keys = self.keys[pos]
        if len(keys) > 2 * _LOAD:  # split in halves
            items = self.items[pos]
            self.keys.insert(pos + 1, keys[_LOAD:])
            self.items.insert(pos + 1, items[_LOAD:])
            del keys[_LOAD:]
            del items[_LOAD:]
            maxes.insert(pos, keys[-1])

    def remove(self, key: float, item: T) -> bool:
        """Remove `item`, inserted with `key`; False if it is not there."""
        maxes = self.maxes
        pos = bisect_left(maxes, key)  # equal keys may span several chunks
        while pos < len(maxes):
            keys, items = self.keys[pos], self.items[pos]
            at = bisect_left(keys, key)
            while at < len(keys) and keys[at] == key:
                if items[at] is item:
                    del keys[at]
                    del items[at]
                    self.size -= 1
                    if keys:
                        maxes[pos] = keys[-1]
                    else:
                        del self.keys[pos], self.items[pos], maxes[pos]
                    return True
                at += 1
            if at < len(keys):
                return False
            pos += 1
        return False

    def take_upto(self, bound: float, out: list[T]) -> None:
        """Move every item whose key is <= `bound` to `out`, in key order."""
        keys_chunks, items_chunks, maxes = self.keys, self.items, self.maxes
        while keys_chunks and keys_chunks[0][0] <= bound:
            if maxes[0] <= bound:  # the whole first chunk
                out.extend(items_chunks[0])
                self.size -= len(keys_chunks[0])
                del keys_chunks[0], items_chunks[0], maxes[0]
            else:
                keys, items = keys_chunks[0], items_chunks[0]
                cut = bisect_right(keys, bound)
                out.extend(items[:cut])
                self.size -= cut
                del keys[:cut], items[:cut]
                return


@dataclass(frozen=True, slots=True)
class PriceAlarm:
    """An active price alarm.

    - `symbol`: normalised, e.g. ``"BTC/USDT"``.
    - `kind`: ``above``, ``below`` or ``cross`` (see the module docstring).
    - `level`: the price that triggers it (finite, > 0).
    - `reference`: the price when the alarm was created; gives a cross alarm its
      starting side (``None``: the book's last price for the symbol).

    >>> PriceAlarm(7, "ETH/USDT", "below", 3000.0).kind
    'below'
    >>> PriceAlarm(7, "ETH/USDT", "sideways", 3000.0)
    Traceback (most recent call last):
    ...
    ValueError: alarm kind must be one of above, below, cross; got 'sideways'
    """

    id: int
    symbol: str
    kind: AlarmKind
    level: float
    reference: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in ALARM_KINDS:
            raise ValueError(
                f"alarm kind must be one of {', '.join(ALARM_KINDS)}; got {self.kind!r}"
            )
        if not _positive_finite(self.level):
            raise ValueError(f"alarm level must be a positive finite price; got {self.level!r}")
        if self.reference is not None and not _positive_finite(self.reference):
            raise ValueError(
                f"alarm reference must be a positive finite price; got {self.reference!r}"
            )


def _keys(alarm: PriceAlarm) -> tuple[float | None, float | None]:
    """The ladder keys of an armed alarm: (up key, down key), None where absent.
    Up fires when price >= key; down fires when -price >= key."""
    level = alarm.level
    if alarm.kind == "above":
        return level, None
    if alarm.kind == "below":
        return None, -level
    reference = alarm.reference
    assert reference is not None  # a cross alarm is armed once it has a reference
    if reference < level:
        return level, None
    if reference > level:
        return None, -level
    # At its own level: strictly above or strictly below fires.
    return math.nextafter(level, math.inf), -math.nextafter(level, -math.inf)


class _SymbolIndex:
    """One symbol's alarms: the two ladders, the alarms waiting for a first price."""

    __slots__ = ("down", "pending", "up")

    def __init__(self) -> None:
        self.up: _Ladder[PriceAlarm] = _Ladder()  # fires when price >= key (= level)
        self.down: _Ladder[PriceAlarm] = _Ladder()  # fires when -price >= key (= -level)
        self.pending: dict[int, PriceAlarm] = {}  # cross alarms with no reference yet

    def empty(self) -> bool:
        return not (self.up.size or self.down.size or self.pending)


class AlarmBook:
    """Active price alarms, indexed per symbol (see the module docstring).

    `AlarmBook(alarms)` loads many alarms at once (one sort per symbol and side,
    as at start-up from storage); it is the same as adding them one by one (a
    repeated id: the last one wins), only faster.

    >>> book = AlarmBook()
    >>> for i, level in enumerate([101.0, 102.0, 102.0, 105.0], start=1):
    ...     book.add(PriceAlarm(i, "SOL/USDT", "above", level))
    >>> [(a.id, a.level) for a in book.on_tick("SOL/USDT", 102.5)]
    [(1, 101.0), (2, 102.0), (3, 102.0)]
    >>> [a.id for a in book.for_symbol("SOL/USDT")], book.symbols()
    ([4], {'SOL/USDT'})
    """

    __slots__ = ("_alarms", "_index", "_last")

    def __init__(self, alarms: Iterable[PriceAlarm] = ()) -> None:
        self._alarms: dict[int, PriceAlarm] = {}  # id -> the live (stored) alarm
        self._index: dict[str, _SymbolIndex] = {}  # only symbols with live alarms
        self._last: dict[str, float] = {}  # last valid price per symbol
        for alarm in alarms:
            self._alarms[alarm.id] = alarm
        if self._alarms:
            self._load()

    def __len__(self) -> int:
        return len(self._alarms)

    def __contains__(self, alarm_id: object) -> bool:
        return isinstance(alarm_id, int) and alarm_id in self._alarms

    def add(self, alarm: PriceAlarm) -> None:
        """Index `alarm`; an alarm with the same id is replaced (idempotent).

        >>> book = AlarmBook()
        >>> book.add(PriceAlarm(1, "BTC/USDT", "above", 70_000.0))
        >>> book.add(PriceAlarm(1, "BTC/USDT", "above", 80_000.0))
        >>> len(book), book.on_tick("BTC/USDT", 75_000.0)
        (1, [])
        """
        if alarm.id in self._alarms:
            self._drop(alarm.id)
        index = self._index.get(alarm.symbol)
        if index is None:
            index = self._index[alarm.symbol] = _SymbolIndex()
        if alarm.kind == "cross" and alarm.reference is None:
            last = self._last.get(alarm.symbol)
            if last is None:
                index.pending[alarm.id] = alarm
                self._alarms[alarm.id] = alarm
                return
            alarm = replace(alarm, reference=last)
        self._alarms[alarm.id] = alarm
        self._arm(index, alarm)

    def remove(self, alarm_id: int) -> bool:
        """Forget the alarm `alarm_id`; True if it was in the book.

        >>> book = AlarmBook()
        >>> book.add(PriceAlarm(1, "BTC/USDT", "below", 50_000.0))
        >>> book.remove(1), book.remove(1), book.on_tick("BTC/USDT", 40_000.0)
        (True, False, [])
        """
        if alarm_id not in self._alarms:
            return False
        self._drop(alarm_id)
        return True

    def on_tick(self, symbol: str, price: float) -> list[PriceAlarm]:
        """The alarms of `symbol` that `price` fires, removed from the book, farthest
        level first, then by id. Invalid prices (NaN, inf, <= 0) fire nothing.

        >>> book = AlarmBook()
        >>> book.add(PriceAlarm(1, "BTC/USDT", "above", 100.0))
        >>> book.on_tick("BTC/USDT", float("nan")), book.on_tick("BTC/USDT", -1.0)
        ([], [])
        >>> book.on_tick("BTC/USDT", 100.0)
        [PriceAlarm(id=1, symbol='BTC/USDT', kind='above', level=100.0, reference=None)]
        """
        price = float(price)
        if not 0.0 < price < math.inf:
            return []
        self._last[symbol] = price
        index = self._index.get(symbol)
        if index is None:
            return []
        fired: list[PriceAlarm] = []
        up, down = index.up, index.down
        if up.size and up.keys[0][0] <= price:  # the head: the lowest key
            up.take_upto(price, fired)
        if down.size and down.keys[0][0] <= -price:
            down.take_upto(-price, fired)
        if index.pending:  # their first price: sets the side, fires nothing
            pending, index.pending = index.pending, {}
            for alarm in pending.values():
                armed = replace(alarm, reference=price)
                self._alarms[armed.id] = armed
                self._arm(index, armed)
        if fired:
            alarms = self._alarms
            for alarm in fired:
                del alarms[alarm.id]
                if alarm.kind == "cross" and alarm.reference == alarm.level:
                    up_key, down_key = _keys(alarm)  # it leaves the other ladder too
                    assert up_key is not None and down_key is not None
                    if not up.remove(up_key, alarm):
                        down.remove(down_key, alarm)
            if index.empty():
                del self._index[symbol]
            if len(fired) > 1:
                fired.sort(key=lambda a: (-abs(price - a.level), a.id))
        return fired

    def for_symbol(self, symbol: str) -> list[PriceAlarm]:
        """The live alarms of `symbol`, by level then id (O(n) for that symbol)."""
        index = self._index.get(symbol)
        if index is None:
            return []
        found = {a.id: a for a in index.up}
        found.update((a.id, a) for a in index.down)
        found.update(index.pending)
        return sorted(found.values(), key=lambda a: (a.level, a.id))

    def symbols(self) -> set[str]:
        """The symbols that have at least one live alarm."""
        return set(self._index)

    # -- internals ---------------------------------------------------------------------

    def _load(self) -> None:
        """Index `self._alarms` into empty ladders (no price seen yet: a cross
        alarm without a reference waits for its symbol's first tick)."""
        columns: dict[str, tuple[list[float], list[PriceAlarm], list[float], list[PriceAlarm]]]
        columns = {}
        for alarm in self._alarms.values():
            index = self._index.get(alarm.symbol)
            if index is None:
                index = self._index[alarm.symbol] = _SymbolIndex()
                columns[alarm.symbol] = ([], [], [], [])
            if alarm.kind == "cross" and alarm.reference is None:
                index.pending[alarm.id] = alarm
                continue
            up_keys, ups, down_keys, downs = columns[alarm.symbol]
            up_key, down_key = _keys(alarm)
            if up_key is not None:
                up_keys.append(up_key)
                ups.append(alarm)
            if down_key is not None:
                down_keys.append(down_key)
                downs.append(alarm)
        for symbol, (up_keys, ups, down_keys, downs) in columns.items():
            self._index[symbol].up.fill(up_keys, ups)
            self._index[symbol].down.fill(down_keys, downs)

    @staticmethod
    def _arm(index: _SymbolIndex, alarm: PriceAlarm) -> None:
        """Put `alarm` (whose reference is resolved if it is a cross) on its ladders."""
        up_key, down_key = _keys(alarm)
        if up_key is not None:
            index.up.insert(up_key, alarm)
        if down_key is not None:
            index.down.insert(down_key, alarm)

    def _drop(self, alarm_id: int) -> None:
        alarm = self._alarms.pop(alarm_id)
        index = self._index[alarm.symbol]
        if index.pending.pop(alarm_id, None) is None:
            up_key, down_key = _keys(alarm)
            if up_key is not None:
                index.up.remove(up_key, alarm)
            if down_key is not None:
                index.down.remove(down_key, alarm)
        if index.empty():
            del self._index[alarm.symbol]
