"""Shared fixtures: real bundled candles (read once per session)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from engine.market.series import CandleSeries, read_candle_file

DATA_DIR = Path(__file__).resolve().parents[2] / "engine" / "market" / "data"


@pytest.fixture(scope="session")
def btc_1h() -> CandleSeries:
    return read_candle_file(DATA_DIR / "BTC_USDT-1h.csv.gz", "1h")


@pytest.fixture(scope="session")
def eth_1h() -> CandleSeries:
    return read_candle_file(DATA_DIR / "ETH_USDT-1h.csv.gz", "1h")


@pytest.fixture(scope="session")
def btc_1h_frame(btc_1h: CandleSeries) -> pd.DataFrame:
    """Every BTC 1h candle: includes the 10 gaps and both flat zero-volume candles."""
    return btc_1h.frame(0, len(btc_1h))
