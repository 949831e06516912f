"""The console chat end to end: `python main.py` in a subprocess, as a user runs it."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import png_size, raw_rows

PROJECT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def run_console(tmp_path: Path, script: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {
        k: v for k, v in os.environ.items()
        if not k.startswith(("TELEGRAM_", "DISCORD_", "REPLAY_", "MARKET_", "DATABASE_"))
    }  # fmt: skip
    environment.update(
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'console.db'}",
        OUTPUT_DIR=str(tmp_path / "out"),
        REPLAY_SPEED="0",
    )
    environment.update(env)
    return subprocess.run(
        [sys.executable, "main.py"],
        input=script,
        capture_output=True,
        text=True,
        cwd=PROJECT,
        env=environment,
        timeout=120,
    )


def test_piped_price_and_chart(tmp_path):
    result = run_console(tmp_path, "/price BTC\n/chart ETH 4h\n")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    # The default replay clock is 2025-03-01 00:00 UTC: the last closed 5m candle opened 23:55.
    close = next(r for r in raw_rows("BTC_USDT-5m.csv.gz") if r[0] == 1740786900000)[4]
    assert f"BTC/USDT  {close:,.2f}" in out
    assert out.count("DEMO") >= 2
    path = Path(re.search(r"🖼\s+(\S+\.png)", out).group(1))
    assert path.parent == tmp_path / "out"
    assert png_size(path.read_bytes()) == (1200, 800)
    assert "Traceback" not in result.stderr


def test_replay_start_setting_moves_the_market(tmp_path):
    result = run_console(tmp_path, "/price ETH\n", REPLAY_START="2024-01-01T00:00:00Z")
    close = next(r for r in raw_rows("ETH_USDT-1h.csv.gz") if r[0] == 1704063600000)[4]
    assert f"ETH/USDT  {close:,.2f}" in result.stdout


def test_language_is_remembered_between_runs(tmp_path):
    run_console(tmp_path, "/lang id\n")
    result = run_console(tmp_path, "/price BTC\n")
    assert "Perubahan 24j" in result.stdout


def test_garbage_never_crashes_the_console(tmp_path):
    garbage = (
        "\n".join(["/price", "/chart BTC 9y", "hello", "/", "/price \x00", "💥" * 3000, "/help"])
        + "\n"
    )
    result = run_console(tmp_path, garbage)
    assert result.returncode == 0
    assert "Traceback" not in result.stderr + result.stdout
    assert "PulseWave commands" in result.stdout  # still answering after the garbage


@pytest.mark.parametrize(
    ("env", "setting"),
    [
        ({"REPLAY_SPEED": "-1"}, "REPLAY_SPEED"),
        ({"REPLAY_SPEED": "fast"}, "REPLAY_SPEED"),
        ({"DATABASE_URL": "mysql://x"}, "DATABASE_URL"),
        ({"TIMEFRAMES": "1h,2h"}, "TIMEFRAMES"),
        ({"WEB_PORT": "99999"}, "WEB_PORT"),
        ({"MARKET_SOURCE": "magic"}, "MARKET_SOURCE"),
        ({"REPLAY_DATA_DIR": "/nonexistent"}, "REPLAY_DATA_DIR"),
    ],
)
def test_bad_settings_stop_with_one_line_naming_the_setting(tmp_path, env, setting):
    result = run_console(tmp_path, "/price BTC\n", **env)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and setting in lines[0] and "Traceback" not in result.stderr
