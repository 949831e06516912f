"""Chart images for handlers: fetch candles, render off the event loop, cache.

The picture depends only on the market data (not on the viewer's language),
so one render serves every chat that asks for the same chart at the same candle.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import OrderedDict

import structlog

from engine.charts import CHART_CANDLES, WARMUP_CANDLES, ChartSpec, render_candles
from engine.market.clock import to_datetime
from engine.market.types import Candles, MarketFeed
from handlers.reply import Image

_CACHE_SIZE = 64
NOTIFICATION_CHART_TIMEOUT = 30.0  # seconds; a message never waits longer for its chart

log = structlog.get_logger(__name__)


class ChartService:
    def __init__(self, market: MarketFeed) -> None:
        self.market = market
        self._cache: OrderedDict[str, Image] = OrderedDict()
        self._inflight: dict[str, asyncio.Future[Image]] = {}

    async def candle_chart(
        self,
        symbol: str,
        timeframe: str,
        levels: tuple[float, ...] = (),
        markers: tuple[tuple[int, str], ...] = (),
    ) -> tuple[Image, Candles]:
        """The standard chart of `symbol` at `timeframe` (≈120 candles) and its data,
        with support/resistance `levels` and signal `markers` if given."""
        candles = await self.market.candles(symbol, timeframe, CHART_CANDLES + WARMUP_CANDLES)
        last_open = int(candles.frame.index[-1].value // 1_000_000)
        extras = hashlib.blake2b(repr((levels, markers)).encode(), digest_size=4).hexdigest()
        key = f"chart:{symbol}:{timeframe}:{last_open}:{extras}"
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key], candles
        if key in self._inflight:  # someone is rendering this very chart: wait for it
            return await asyncio.shield(self._inflight[key]), candles
        future: asyncio.Future[Image] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            demo = "DEMO · " if self.market.is_demo else ""
            as_of = to_datetime(candles.last_close_ms or 0).strftime("%Y-%m-%d %H:%M UTC")
            spec = ChartSpec(
                title=f"{symbol} · {timeframe}",
                subtitle=f"{demo}{as_of}",
                levels=levels,
                markers=markers,
                watermark="DEMO" if self.market.is_demo else "",
            )
            png = await asyncio.to_thread(render_candles, candles.frame, spec)
            image = Image(png, key, f"{symbol.replace('/', '')}_{timeframe}.png")
            future.set_result(image)
        except BaseException as error:
            future.set_exception(error)
            future.exception()  # retrieved here, so an unawaited future does not warn
            raise
        finally:
            self._inflight.pop(key, None)
        self._cache[key] = image
        if len(self._cache) > _CACHE_SIZE:
            self._cache.popitem(last=False)
        return image, candles

    async def notification_chart(
        self,
        symbol: str,
        timeframe: str,
        levels: tuple[float, ...] = (),
        markers: tuple[tuple[int, str], ...] = (),
    ) -> tuple[bytes, str] | None:
        """The chart for a pushed message (PNG, file name), or None when it cannot be
        drawn in time: the message matters more than its picture and goes as text."""
        try:
            image, _ = await asyncio.wait_for(
                self.candle_chart(symbol, timeframe, levels, markers), NOTIFICATION_CHART_TIMEOUT
            )
        except Exception:
            log.warning(
                "notification_chart_failed", symbol=symbol, timeframe=timeframe, exc_info=True
            )
            return None
        return image.png, image.filename
