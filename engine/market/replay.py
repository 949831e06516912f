"""The DEMO market: real historical candles replayed on a market clock.

Files are read lazily (one per symbol and timeframe, bundled format:
`BASE_QUOTE-TF.csv.gz`). Timeframes without a file are built from the coarsest
finer file that divides them (4h from 1h, 1w from 1d). Everything served is
closed at the market clock; nothing after it is ever visible.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from engine.market.clock import MarketClock
from engine.market.series import CandleSeries, day_window, read_candle_file, resample
from engine.market.symbols import close_matches
from engine.market.timeframes import TIMEFRAME_MS, duration_ms, resample_source
from engine.market.types import Candles, NoData, Ticker, UnknownSymbol, UnsupportedTimeframe

_FILE_NAME = re.compile(r"^(?P<base>[A-Z0-9]+)_(?P<quote>[A-Z0-9]+)-(?P<tf>\w+)\.csv(\.gz)?$")


class ReplayFeed:
    """A `MarketFeed` over a folder of candle files, seen through a `MarketClock`."""

    name = "replay"
    is_demo = True

    def __init__(self, data_dir: Path, clock: MarketClock, timeframes: list[str] | None = None):
        self.clock = clock
        self._files: dict[str, dict[str, Path]] = {}
        self._series: dict[tuple[str, str], CandleSeries] = {}
        self._lock = asyncio.Lock()
        self._allowed = set(timeframes or TIMEFRAME_MS)
        for path in sorted(Path(data_dir).glob("*.csv*")):
            match = _FILE_NAME.match(path.name)
            if match and match["tf"] in TIMEFRAME_MS:
                symbol = f"{match['base']}/{match['quote']}"
                self._files.setdefault(symbol, {})[match["tf"]] = path
        if not self._files:
            raise FileNotFoundError(f"no candle files (BASE_QUOTE-TF.csv.gz) in {data_dir}")

    async def symbols(self) -> list[str]:
        return sorted(self._files)

    async def has_symbol(self, symbol: str) -> bool:
        return symbol in self._files

    def native_timeframes(self, symbol: str) -> list[str]:
        return sorted(self._known(symbol), key=TIMEFRAME_MS.__getitem__)

    async def timeframes(self, symbol: str) -> list[str]:
        native = self.native_timeframes(symbol)
        built = [tf for tf in TIMEFRAME_MS if tf not in native and resample_source(tf, native)]
        return sorted((set(native) | set(built)) & self._allowed, key=TIMEFRAME_MS.__getitem__)

    async def candles(self, symbol: str, timeframe: str, limit: int) -> Candles:
        if timeframe not in await self.timeframes(symbol):
            raise UnsupportedTimeframe(symbol, timeframe, await self.timeframes(symbol))
        series = await self.series(symbol, timeframe)
        now = self.clock.now_ms()
        stop = series.closed_count(now)
        if stop == 0:
            raise NoData(symbol, timeframe)
        start = max(0, stop - max(1, limit))
        return Candles(symbol, timeframe, series.frame(start, stop), now, self.name)

    async def ticker(self, symbol: str) -> Ticker:
        now = self.clock.now_ms()
        series = await self._finest_current(symbol, now)
        stop = series.closed_count(now)
        if stop == 0:
            raise NoData(symbol)
        window = day_window(series, stop)
        return Ticker(
            symbol=symbol,
            last=window.last_close,
            change_pct=window.change_pct(window.last_close),
            high=window.high,
            low=window.low,
            volume=window.volume,
            timeframe=series.timeframe,
            as_of_ms=window.close_ms,
            age_ms=now - window.close_ms,
            source=self.name,
        )

    def is_stale(self, symbol: str, timeframe: str | None = None) -> bool:
        """Never: the replay is the DEMO market's whole truth at its clock."""
        return False

    async def series(self, symbol: str, timeframe: str) -> CandleSeries:
        """The whole history of `symbol` at `timeframe` (loaded or built once)."""
        key = (symbol, timeframe)
        if key not in self._series:
            async with self._lock:
                if key not in self._series:
                    self._series[key] = await asyncio.to_thread(self._load, symbol, timeframe)
        return self._series[key]

    def _known(self, symbol: str) -> dict[str, Path]:
        files = self._files.get(symbol)
        if files is None:
            raise UnknownSymbol(symbol, close_matches(symbol, self._files))
        return files

    def _load(self, symbol: str, timeframe: str) -> CandleSeries:
        files = self._known(symbol)
        if timeframe in files:
            return read_candle_file(files[timeframe], timeframe)
        source = resample_source(timeframe, list(files))
        if source is None:
            raise UnsupportedTimeframe(symbol, timeframe, list(files))
        return resample(read_candle_file(files[source], source), timeframe)

    async def _finest_current(self, symbol: str, now: int) -> CandleSeries:
        """The finest native series whose history covers `now`; past the end of all
        data, the one that ends last (its age then tells the user how old it is)."""
        loaded = [await self.series(symbol, tf) for tf in self.native_timeframes(symbol)]
        for series in loaded:
            if series.covers(now):
                return series
        started = [s for s in loaded if s.closed_count(now) > 0]
        if not started:
            raise NoData(symbol)
        return max(started, key=lambda s: (min(s.last_close_ms, now), -duration_ms(s.timeframe)))
