"""A local stand-in for Binance's public spot REST API, serving the bundled real candles.

Routes (what ccxt's `binance` class calls for public spot data):
`/api/v3/ping`, `/time`, `/exchangeInfo`, `/klines`, `/ticker/24hr`, `/ticker/price`.

- The server has its own clock (`now_ms`): klines end at it, with the candle
  that contains it served as still open (partial volume) as Binance does, and
  the live price is the close of the finest candle containing it.
- Fault switches: `fail(...)` queues faults (status, Retry-After, delay for
  timeouts, JSON body) for the next matching requests; `down` answers 503 to
  everything; `price_factor` makes a second instance tell its prices apart.
- Run standalone (`python -m tests.exchange_server --port N`), it serves the
  bundled data shifted to the present and follows the wall clock, so that
  `python main.py` (which reads the wall clock) sees a live exchange; with
  `--frozen` it keeps the data's dates. Control routes:
  `POST /_control/clock` `{"now_ms": …}` or `{"advance_ms": …}` (frozen mode),
  `POST /_control/fault` `{"status": 503, "count": 2, "path": "klines"}` (or
  `{"clear": true}`),
  `POST /_control/down` `{"down": true}`.

Point ccxt at it with `server.ccxt_config()` merged into the constructor config.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from aiohttp import web

from engine.market.series import CandleSeries, read_candle_file, resample
from engine.market.timeframes import DAY_MS, TIMEFRAME_MS, WEEK_MS, duration_ms, resample_source

DATA_DIR = Path(__file__).resolve().parent.parent / "engine" / "market" / "data"
DEFAULT_NOW = datetime(2025, 3, 1, 0, 30, tzinfo=UTC)
_FILE = re.compile(r"^(?P<base>[A-Z0-9]+)_(?P<quote>[A-Z0-9]+)-(?P<tf>\w+)\.csv\.gz$")
_BINANCE_INTERVALS = {"1m", "5m", "15m", "30m", "1h", "4h", "1d", "1w"}


@dataclass
class Fault:
    status: int | None = 503  # None: no error status (use with delay_s for a timeout)
    count: int = 1
    path: str | None = None  # substring of the request path; None matches every route
    retry_after: float | None = None
    delay_s: float = 0.0
    body: str | None = None
    after: int = 0  # let this many matching requests through first


@dataclass
class ExchangeServer:
    """The app plus its state; `await start()` binds 127.0.0.1 on a free port."""

    data_dir: Path = DATA_DIR
    now_ms: int = int(DEFAULT_NOW.timestamp() * 1000)
    listed: tuple[str, ...] = ()  # extra symbols listed without data, e.g. "SOL/USDT"
    price_factor: float = 1.0
    shift_ms: int = 0  # served times = bundled times + shift (see `follow_wall_clock`)
    follow_wall_clock: bool = False
    down: bool = False
    faults: list[Fault] = field(default_factory=list)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    _files: dict[str, dict[str, Path]] = field(default_factory=dict)
    _series: dict[tuple[str, str], CandleSeries] = field(default_factory=dict)
    _runner: web.AppRunner | None = None
    port: int = 0

    def __post_init__(self) -> None:
        for path in sorted(self.data_dir.glob("*.csv.gz")):
            match = _FILE.match(path.name)
            if match:
                self._files.setdefault(f"{match['base']}{match['quote']}", {})[match["tf"]] = path

    # -- set-up ------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ccxt_config(self) -> dict[str, Any]:
        """What to merge into ccxt's binance config to talk to this server only."""
        return {
            "urls": {
                "api": {
                    "public": f"{self.base_url}/api/v3",
                    "ws": {"spot": f"ws://127.0.0.1:{self.port}/ws"},
                }
            },
            "options": {
                "defaultType": "spot",
                "fetchMarkets": {"types": ["spot"]},
                "fetchCurrencies": False,
            },
        }

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._faults_middleware])
        routes = [
            ("GET", "/api/v3/ping", self._ping),
            ("GET", "/api/v3/time", self._time),
            ("GET", "/api/v3/exchangeInfo", self._exchange_info),
            ("GET", "/api/v3/klines", self._klines),
            ("GET", "/api/v3/ticker/24hr", self._ticker_24hr),
            ("GET", "/api/v3/ticker/price", self._ticker_price),
            ("POST", "/_control/clock", self._control_clock),
            ("POST", "/_control/fault", self._control_fault),
            ("POST", "/_control/down", self._control_down),
        ]
        for method, path, handler in routes:
            app.router.add_route(method, path, handler)
        return app

    async def start(self, port: int = 0) -> str:
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self.base_url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def map_now_to_wall_clock(self) -> None:
        """Serve the bundled data shifted so that `now_ms` is the present, and follow
        the wall clock from then on: a live-looking exchange for `python main.py`.
        The shift is whole weeks, so weekly candles still open on Mondays."""
        wall = time.time_ns() // 1_000_000
        self.shift_ms = (wall - self.now_ms) // WEEK_MS * WEEK_MS
        self.now_ms += self.shift_ms
        self._series.clear()
        self.follow_wall_clock = True

    def fail(self, status: int | None = 503, **kwargs: Any) -> None:
        self.faults.append(Fault(status=status, **kwargs))

    def advance(self, ms: int) -> None:
        self.now_ms += ms

    def count(self, route: str) -> int:
        return sum(1 for path, _ in self.requests if path.endswith(route))

    # -- data --------------------------------------------------------------------------

    def series(self, market_id: str, timeframe: str) -> CandleSeries | None:
        """All candles of a market (native file or built from a finer one)."""
        files = self._files.get(market_id)
        if files is None:
            return None
        key = (market_id, timeframe)
        if key not in self._series:
            if timeframe in files:
                series = read_candle_file(files[timeframe], timeframe)
            else:
                source = resample_source(timeframe, list(files))
                if source is None:
                    return None
                series = resample(read_candle_file(files[source], source), timeframe)
            self._series[key] = replace(series, open_time=series.open_time + self.shift_ms)
        return self._series[key]

    def served_rows(
        self, market_id: str, timeframe: str, start: int | None, end: int | None, limit: int
    ) -> list[list[Any]]:
        """Klines as Binance returns them: open candles included, prices as strings."""
        series = self.series(market_id, timeframe)
        if series is None:
            return []
        times = series.open_time
        last = int(np.searchsorted(times, self.now_ms, "right"))  # open <= now
        if end is not None:
            last = min(last, int(np.searchsorted(times, end, "right")))
        if start is not None:
            first = int(np.searchsorted(times, start, "left"))
            stop = min(last, first + limit)
        else:
            first, stop = max(0, last - limit), last
        step = duration_ms(timeframe)
        rows = []
        for i in range(first, stop):
            open_time = int(times[i])
            volume = float(series.volume[i])
            if open_time + step > self.now_ms:  # still open: only part of its volume so far
                volume *= (self.now_ms - open_time) / step
            f = self.price_factor
            rows.append(
                [
                    open_time,
                    _num(series.open[i] * f),
                    _num(series.high[i] * f),
                    _num(series.low[i] * f),
                    _num(series.close[i] * f),
                    _num(volume),
                    open_time + step - 1,
                    "0",
                    0,
                    "0",
                    "0",
                    "0",
                ]
            )
        return rows

    def live_price(self, market_id: str) -> float | None:
        """The close of the finest candle containing `now_ms` (a stand-in for trades)."""
        for timeframe in sorted(self._files.get(market_id, {}), key=TIMEFRAME_MS.__getitem__):
            series = self.series(market_id, timeframe)
            if series is None or len(series) == 0:
                continue
            index = int(np.searchsorted(series.open_time, self.now_ms, "right")) - 1
            if index >= 0 and self.now_ms < int(series.open_time[index]) + duration_ms(timeframe):
                return float(series.close[index]) * self.price_factor
        return None

    def _ticker(self, market_id: str) -> dict[str, Any] | None:
        price = self.live_price(market_id)
        if price is None:
            return None
        rows = self.served_rows(market_id, "1h", self.now_ms - DAY_MS, None, 1000)
        opened = float(rows[0][1]) if rows else price
        highs = [float(r[2]) for r in rows] or [price]
        lows = [float(r[3]) for r in rows] or [price]
        volume = sum(float(r[5]) for r in rows)
        return {
            "symbol": market_id,
            "priceChange": _num(price - opened),
            "priceChangePercent": _num((price / opened - 1) * 100 if opened else 0),
            "weightedAvgPrice": _num(price),
            "prevClosePrice": _num(opened),
            "lastPrice": _num(price),
            "lastQty": "0",
            "bidPrice": _num(price),
            "bidQty": "0",
            "askPrice": _num(price),
            "askQty": "0",
            "openPrice": _num(opened),
            "highPrice": _num(max(highs)),
            "lowPrice": _num(min(lows)),
            "volume": _num(volume),
            "quoteVolume": _num(volume * price),
            "openTime": self.now_ms - DAY_MS,
            "closeTime": self.now_ms,
            "firstId": 0,
            "lastId": 0,
            "count": 0,
        }

    def _markets(self) -> list[tuple[str, str]]:
        pairs = []
        for market_id in sorted(self._files):
            for quote in ("USDT", "USDC", "BTC"):
                if market_id.endswith(quote):
                    pairs.append((market_id[: -len(quote)], quote))
                    break
        pairs += [tuple(s.split("/")) for s in self.listed]  # type: ignore[misc]
        return pairs

    # -- routes ------------------------------------------------------------------------

    @web.middleware
    async def _faults_middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path.startswith("/_control"):
            return await handler(request)
        self.requests.append((request.path, dict(request.query)))
        if self.follow_wall_clock:
            self.now_ms = time.time_ns() // 1_000_000
        if self.down:
            return web.json_response({"code": -1, "msg": "down"}, status=503)
        for fault in self.faults:
            if fault.count > 0 and (fault.path is None or fault.path in request.path):
                if fault.after > 0:
                    fault.after -= 1
                    continue
                fault.count -= 1
                if fault.delay_s:
                    await asyncio.sleep(fault.delay_s)
                if fault.status is None:
                    break
                headers = {}
                if fault.retry_after is not None:
                    headers["Retry-After"] = f"{fault.retry_after:g}"
                body = fault.body if fault.body is not None else "<html>error</html>"
                return web.Response(status=fault.status, text=body, headers=headers)
        self.faults = [f for f in self.faults if f.count > 0]
        return await handler(request)

    async def _ping(self, request: web.Request) -> web.Response:
        return web.json_response({})

    async def _time(self, request: web.Request) -> web.Response:
        return web.json_response({"serverTime": self.now_ms})

    async def _exchange_info(self, request: web.Request) -> web.Response:
        symbols = [_market_info(base, quote) for base, quote in self._markets()]
        return web.json_response(
            {
                "timezone": "UTC",
                "serverTime": self.now_ms,
                "rateLimits": [],
                "exchangeFilters": [],
                "symbols": symbols,
            }
        )

    async def _klines(self, request: web.Request) -> web.Response:
        query = request.query
        market_id = query.get("symbol", "")
        interval = query.get("interval", "")
        if market_id not in {b + q for b, q in self._markets()}:
            return web.json_response({"code": -1121, "msg": "Invalid symbol."}, status=400)
        if interval not in _BINANCE_INTERVALS:
            return web.json_response({"code": -1120, "msg": "Invalid interval."}, status=400)
        limit = min(1000, int(query.get("limit", 500)))
        start = int(query["startTime"]) if "startTime" in query else None
        end = int(query["endTime"]) if "endTime" in query else None
        return web.json_response(self.served_rows(market_id, interval, start, end, limit))

    async def _ticker_24hr(self, request: web.Request) -> web.Response:
        wanted = _wanted_symbols(request)
        tickers = [t for m in self._files if (t := self._ticker(m)) is not None]
        if wanted is not None:
            tickers = [t for t in tickers if t["symbol"] in wanted]
            if "symbol" in request.query:
                return web.json_response(tickers[0]) if tickers else _invalid_symbol()
        return web.json_response(tickers)

    async def _ticker_price(self, request: web.Request) -> web.Response:
        wanted = _wanted_symbols(request)
        prices = [
            {"symbol": m, "price": _num(p)}
            for m in self._files
            if (p := self.live_price(m)) is not None and (wanted is None or m in wanted)
        ]
        if "symbol" in request.query:
            return web.json_response(prices[0]) if prices else _invalid_symbol()
        return web.json_response(prices)

    async def _control_clock(self, request: web.Request) -> web.Response:
        body = await request.json()
        if "now_ms" in body:
            self.now_ms = int(body["now_ms"])
        self.now_ms += int(body.get("advance_ms", 0))
        return web.json_response({"now_ms": self.now_ms})

    async def _control_fault(self, request: web.Request) -> web.Response:
        body = await request.json()
        if body.pop("clear", False):
            self.faults.clear()
        if body:
            self.fail(**body)
        return web.json_response({"faults": len(self.faults)})

    async def _control_down(self, request: web.Request) -> web.Response:
        self.down = bool((await request.json()).get("down", True))
        return web.json_response({"down": self.down})


def _num(value: float) -> str:
    # repr round-trips a float exactly, so stored candles can be compared with ==.
    return repr(float(value))


def _invalid_symbol() -> web.Response:
    return web.json_response({"code": -1121, "msg": "Invalid symbol."}, status=400)


def _wanted_symbols(request: web.Request) -> set[str] | None:
    if "symbol" in request.query:
        return {request.query["symbol"]}
    if "symbols" in request.query:
        return set(json.loads(request.query["symbols"]))
    return None


def _market_info(base: str, quote: str) -> dict[str, Any]:
    return {
        "symbol": f"{base}{quote}",
        "status": "TRADING",
        "baseAsset": base,
        "baseAssetPrecision": 8,
        "quoteAsset": quote,
        "quotePrecision": 8,
        "quoteAssetPrecision": 8,
        "orderTypes": ["LIMIT", "MARKET"],
        "icebergAllowed": True,
        "ocoAllowed": True,
        "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": False,
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": "0.01",
                "maxPrice": "1000000",
                "tickSize": "0.01",
            },
            {
                "filterType": "LOT_SIZE",
                "minQty": "0.00001",
                "maxQty": "9000",
                "stepSize": "0.00001",
            },
            {"filterType": "NOTIONAL", "minNotional": "5", "maxNotional": "9000000"},
        ],
        "permissions": [],
        "permissionSets": [["SPOT"]],
        "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
        "allowedSelfTradePreventionModes": ["EXPIRE_MAKER"],
    }


async def _serve(port: int, now: datetime | None, frozen: bool) -> None:
    server = ExchangeServer()
    if now is not None:
        server.now_ms = int(now.timestamp() * 1000)
    if not frozen:
        server.map_now_to_wall_clock()
    url = await server.start(port)
    print(
        f"exchange server on {url} (now {datetime.fromtimestamp(server.now_ms / 1000, UTC)})",
        flush=True,
    )
    print(json.dumps(server.ccxt_config()), flush=True)
    await asyncio.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser(description="Local Binance-like exchange over bundled data")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument(
        "--now",
        type=datetime.fromisoformat,
        default=None,
        help="the moment of the bundled data served as the present (default 2025-03-01 00:30Z)",
    )
    parser.add_argument(
        "--frozen",
        action="store_true",
        help="keep the data's own dates and a clock that moves only via /_control/clock",
    )
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args.port, args.now, args.frozen))


if __name__ == "__main__":
    main()
