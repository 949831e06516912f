"""End to end through processes: the standalone exchange server, `python main.py`
answering `/price BTC` from it, and `python main.py backfill` (progress, resume)."""

from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.market.timeframes import HOUR_MS
from handlers.i18n import Translator
from main import parse_args
from storage.candles import load_candles
from storage.db import Database
from tests.market.conftest import database_url_of

PROJECT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]


@pytest.fixture(scope="module")
def standalone_server() -> Iterator[tuple[str, dict]]:
    """`python -m tests.exchange_server --port 0`: its URL and its ccxt config."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.exchange_server", "--port", "0"],
        cwd=PROJECT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()
        config = json.loads(process.stdout.readline())
        url = banner.split()[3]
        config["rateLimit"] = 1
        yield url, config
    finally:
        process.terminate()
        process.wait(timeout=10)


def _get(url: str) -> object:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def _post(url: str, body: dict) -> object:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


def _env(config: dict, database_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM", "DISCORD"))}
    env.update(
        MARKET_SOURCE="ccxt",
        EXCHANGE="binance",
        EXCHANGE_CCXT_CONFIG=json.dumps(config),
        DATABASE_URL=database_url,
        BACKFILL_DAYS="1",
        EXCHANGE_TIMEOUT_SECONDS="3",
        **extra,
    )
    return env


def test_main_answers_price_from_the_exchange_server(
    standalone_server: tuple[str, dict], tmp_path: Path
) -> None:
    url, config = standalone_server
    before = float(_get(f"{url}/api/v3/ticker/price?symbol=BTCUSDT")["price"])  # type: ignore[index]
    done = subprocess.run(
        [sys.executable, "main.py"],
        cwd=PROJECT,
        input="/price BTC\n",
        capture_output=True,
        text=True,
        timeout=60,
        env=_env(config, f"sqlite+aiosqlite:///{tmp_path / 'e2e.db'}", OUTPUT_DIR=str(tmp_path)),
    )
    after = float(_get(f"{url}/api/v3/ticker/price?symbol=BTCUSDT")["price"])  # type: ignore[index]
    assert done.returncode == 0, done.stderr
    shown = {Translator().price(before), Translator().price(after)}  # (a 5m candle may turn)
    assert any(f"BTC/USDT  {price}" in done.stdout for price in shown), done.stdout
    assert "DEMO" not in done.stdout and "Stale" not in done.stdout


async def test_backfill_cli_resumes_after_interruption(
    standalone_server: tuple[str, dict],
    database: Database,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`main.py backfill` (its parser and handler, run in this process to save the
    interpreter start-ups) against the standalone server."""
    url, config = standalone_server
    for key, value in _env(config, database_url_of(database), EXCHANGE_RETRIES="2").items():
        monkeypatch.setenv(key, value)
    args = parse_args(["backfill", "ETH", "1h", "--days", "100"])
    # The exchange fails every klines request after the second (2,400 candles: 3 pages).
    _post(f"{url}/_control/fault", {"status": 503, "count": 20, "path": "klines", "after": 2})
    assert await args.handler(args) == 1
    _post(f"{url}/_control/fault", {"clear": True})
    first = capsys.readouterr()
    assert "run the same command again to resume" in first.err
    assert "%|" in first.err and "candle/s" in first.err  # the tqdm bar
    async with database.session() as session:
        partial = await load_candles(session, "binance", "ETH/USDT", "1h")
    assert len(partial) == 2000
    assert await args.handler(args) == 0
    second = capsys.readouterr().out
    # (the wall clock moved on between the runs: the range may have slid by an hour)
    stored_before = int(re.search(r"(\d+) already stored", second)[1])  # type: ignore[index]
    assert stored_before in (1999, 2000) and "in 1 requests" in second, second
    async with database.session() as session:
        full = await load_candles(session, "binance", "ETH/USDT", "1h")
    times = full.open_time.tolist()
    assert len(times) == len(set(times)) and len(times) >= 2399
    assert all(b - a == HOUR_MS for a, b in itertools.pairwise(times))
    assert await args.handler(args) == 0
    assert "0 fetched in 0 requests" in capsys.readouterr().out


async def test_backfill_cli_rejects_unlisted_symbols(
    standalone_server: tuple[str, dict],
    database: Database,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, config = standalone_server
    for key, value in _env(config, database_url_of(database)).items():
        monkeypatch.setenv(key, value)
    args = parse_args(["backfill", "BTCC", "1h", "--days", "1"])
    assert await args.handler(args) == 1
    assert "does not list BTCC/USDT. Did you mean: BTC/USDT" in capsys.readouterr().err
