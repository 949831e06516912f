"""Parsing and validation of user input shared by every front end."""

from decimal import Decimal

import pytest

from engine.market.symbols import close_matches, normalize_symbol
from engine.market.timeframes import bucket_start, normalize_timeframe, resample_source
from handlers.args import parse_number
from handlers.registry import split_command


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("BTC", "BTC/USDT"),
        ("btc", "BTC/USDT"),
        ("BTC/USDT", "BTC/USDT"),
        ("BTCUSDT", "BTC/USDT"),
        ("btc-usdt", "BTC/USDT"),
        ("eth_usdt", "ETH/USDT"),
        (" Eth/Btc ", "ETH/BTC"),
        ("ETHBTC", "ETH/BTC"),
        ("", None),
        ("BTC/USDT/X", None),
        ("b$c", None),
        ("'; DROP TABLE users;--", None),
        ("<script>", None),
        ("₿", None),
        ("BTC" * 20, None),
        ("USDT", "USDT/USDT"),
    ],
)
def test_normalize_symbol(text, expected):
    assert normalize_symbol(text) == expected


def test_default_quote_is_configurable():
    assert normalize_symbol("btc", "usdc") == "BTC/USDC"


def test_close_matches_suggest_by_base():
    assert close_matches("BTX/USDT", ["BTC/USDT", "ETH/USDT"])[0] == "BTC/USDT"
    assert close_matches("ZZZ/USDT", ["BTC/USDT"]) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1h", "1h"),
        ("4H", "4h"),
        ("60m", "1h"),
        ("1W", "1w"),
        ("d", "1d"),
        ("2h", None),
        ("", None),
    ],
)
def test_normalize_timeframe(text, expected):
    assert normalize_timeframe(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("70000", Decimal("70000")),
        ("70,000", Decimal("70000")),
        ("70k", Decimal("70000")),
        ("70K", Decimal("70000")),
        ("1.5m", Decimal("1500000")),
        ("0.25", Decimal("0.25")),
        (".5", Decimal("0.5")),
        ("-3", Decimal("-3")),
        ("1,234,567.5", Decimal("1234567.5")),
        ("1,5", None),
        ("70,00", None),
        ("1e400", None),
        ("1e5", None),
        ("nan", None),
        ("inf", None),
        ("٣", None),
        ("１２", None),
        ("", None),
        ("k", None),
        ("12abc", None),
    ],
)
def test_parse_number(text, expected):
    assert parse_number(text) == expected


def test_huge_numbers_parse_but_exceed_every_limit():
    from handlers.args import MAX_NUMBER

    assert parse_number("9" * 5000) > MAX_NUMBER


def test_split_command():
    assert split_command("/chart@PulseWaveBot ETH 4h") == ("chart", "ETH 4h")
    assert split_command("  /PRICE   btc  ") == ("price", "btc")
    assert split_command("price btc") == ("price", "btc")
    assert split_command("/") is None
    assert split_command("") is None


def test_week_buckets_open_on_monday():
    # 2025-03-05 (a Wednesday) 12:00 UTC belongs to the week opening Monday 2025-03-03.
    assert bucket_start(1741176000000, "1w") == 1740960000000
    assert bucket_start(1741176000000, "4h") == 1741176000000 - 0


def test_resample_source_prefers_coarsest_divisor():
    assert resample_source("4h", ["1m", "5m", "1h", "1d"]) == "1h"
    assert resample_source("1w", ["1h", "1d"]) == "1d"
    assert resample_source("15m", ["5m", "1h"]) == "5m"
    assert resample_source("1m", ["5m"]) is None
