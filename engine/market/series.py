"""Columnar candle series and resampling to coarser timeframes (pure numpy)."""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from engine.market.timeframes import DAY_MS, TIMEFRAME_MS, bucket_start, duration_ms


@dataclass(frozen=True, slots=True)
class CandleSeries:
    """Candles of one symbol and timeframe as parallel arrays, sorted by open time."""

    timeframe: str
    open_time: np.ndarray  # int64 ms
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray

    def __len__(self) -> int:
        return len(self.open_time)

    @property
    def first_open_ms(self) -> int:
        return int(self.open_time[0])

    @property
    def last_close_ms(self) -> int:
        return int(self.open_time[-1]) + duration_ms(self.timeframe)

    def closed_count(self, now_ms: int) -> int:
        """How many candles have closed at `now_ms` (open + duration <= now)."""
        return int(np.searchsorted(self.open_time, now_ms - duration_ms(self.timeframe), "right"))

    def covers(self, now_ms: int) -> bool:
        """True when `now_ms` lies within this series' history (from first close to
        one candle after the last close), so its latest closed candle is current."""
        step = duration_ms(self.timeframe)
        return self.first_open_ms + step <= now_ms < self.last_close_ms + step

    def frame(self, start: int, stop: int) -> pd.DataFrame:
        """Rows [start, stop) as the DataFrame shape the engine uses."""
        index = pd.to_datetime(self.open_time[start:stop], unit="ms", utc=True)
        return pd.DataFrame(
            {
                "open": self.open[start:stop],
                "high": self.high[start:stop],
                "low": self.low[start:stop],
                "close": self.close[start:stop],
                "volume": self.volume[start:stop],
            },
            index=pd.DatetimeIndex(index, name="time"),
        )

    @classmethod
    def from_frame(cls, timeframe: str, frame: pd.DataFrame) -> CandleSeries:
        """From a DataFrame with a `timestamp` (ms) column or a UTC DatetimeIndex."""
        if "timestamp" in frame.columns:
            times = frame["timestamp"].to_numpy(dtype=np.int64)
        else:
            times = (frame.index.asi8 // 1_000_000).astype(np.int64)
        columns = {
            c: frame[c].to_numpy(dtype=np.float64)
            for c in ("open", "high", "low", "close", "volume")
        }
        return cls(timeframe, times, **columns)


@dataclass(frozen=True, slots=True)
class DayWindow:
    """The 24h figures behind `/price`, from closed candles (see `day_window`)."""

    last_close: float
    reference_close: float | None  # close of the latest candle ≥ 24h before the last
    high: float
    low: float
    volume: float
    close_ms: int  # close time of the last candle

    def change_pct(self, price: float) -> float | None:
        """`price` against the reference close, in percent (None without 24h of data)."""
        if self.reference_close is None or self.reference_close <= 0:
            return None
        return (price / self.reference_close - 1.0) * 100.0


def day_window(series: CandleSeries, stop: int) -> DayWindow:
    """24h figures of the candles before index `stop` (the closed ones).

    The window is the candles that opened after (last open − 24h): 288 five-minute
    candles, 24 hourly ones. The reference is the latest candle that opened at or
    before (last open − 24h), i.e. closed at least 24h before the last one closed.
    """
    last = stop - 1
    last_open = int(series.open_time[last])
    first = int(np.searchsorted(series.open_time[:stop], last_open - DAY_MS, "right"))
    return DayWindow(
        last_close=float(series.close[last]),
        reference_close=float(series.close[first - 1]) if first > 0 else None,
        high=float(series.high[first:stop].max()),
        low=float(series.low[first:stop].min()),
        volume=float(series.volume[first:stop].sum()),
        close_ms=last_open + duration_ms(series.timeframe),
    )


def read_candle_file(path: Path, timeframe: str) -> CandleSeries:
    """Read a bundled-format file: gzip CSV, header `timestamp,open,high,low,close,volume`.

    Rows are sorted and de-duplicated on timestamp (the last row wins) so that a
    hand-edited file cannot break the binary searches that rely on order.
    """
    with gzip.open(path, "rt") if path.suffix == ".gz" else path.open() as handle:
        frame = pd.read_csv(handle, dtype={"timestamp": np.int64})
    expected = ["timestamp", "open", "high", "low", "close", "volume"]
    if list(frame.columns) != expected:
        raise ValueError(f"{path.name}: header must be {','.join(expected)}")
    frame = frame.drop_duplicates("timestamp", keep="last").sort_values("timestamp")
    return CandleSeries.from_frame(timeframe, frame)


def resample(series: CandleSeries, timeframe: str) -> CandleSeries:
    """Build `timeframe` candles from finer ones, as the exchange would publish them.

    A coarse candle takes the first open, highest high, lowest low, last close and
    summed volume of the finer candles inside it. Buckets align to the epoch (weeks
    to Monday 00:00 UTC). Only buckets the source fully spans are kept: the first
    one if the source starts at its open, the last one if the source reaches its
    close. A bucket with missing finer candles inside (an exchange outage) is kept,
    since the exchange would publish it too.
    """
    if TIMEFRAME_MS[timeframe] % TIMEFRAME_MS[series.timeframe]:
        raise ValueError(f"cannot build {timeframe} from {series.timeframe}")
    if len(series) == 0:
        return series
    size = duration_ms(timeframe)
    buckets = bucket_start(series.open_time, timeframe)  # vectorised: works on arrays
    starts = np.flatnonzero(np.r_[True, buckets[1:] != buckets[:-1]])
    ends = np.r_[starts[1:], len(buckets)] - 1
    keep = np.ones(len(starts), dtype=bool)
    if series.first_open_ms > buckets[0]:
        keep[0] = False
    if series.last_close_ms < buckets[-1] + size:
        keep[-1] = False
    result = CandleSeries(
        timeframe,
        buckets[starts][keep],
        series.open[starts][keep],
        np.maximum.reduceat(series.high, starts)[keep],
        np.minimum.reduceat(series.low, starts)[keep],
        series.close[ends][keep],
        np.add.reduceat(series.volume, starts)[keep],
    )
    return result
