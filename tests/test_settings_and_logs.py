"""Settings from the environment, and logs that never carry a secret."""

import io
import logging

import pytest
import structlog
from pydantic import ValidationError

from bot.logs import configure_logging
from settings import Settings, describe_error


def settings(**env):
    return Settings(_env_file=None, **env)


def test_defaults_without_tokens_are_the_console_demo():
    s = settings()
    assert s.market_source == "replay" and s.console_mode
    assert s.database_url.startswith("sqlite+aiosqlite:///") and s.database_url.endswith(
        "data/pulsewave.db"
    )
    assert s.symbols == ["BTC/USDT", "ETH/USDT"] and s.quote_currency == "USDT"
    assert s.replay_start.isoformat() == "2025-03-01T00:00:00+00:00"


def test_env_example_lists_every_setting_with_its_default():
    from pathlib import Path

    example = Path(__file__).resolve().parent.parent / ".env.example"
    names = {line.split("=")[0] for line in example.read_text().splitlines()
             if line and not line.startswith("#")}  # fmt: skip
    assert names == {name.upper() for name in Settings.model_fields}
    assert Settings(_env_file=example) == settings()


def test_a_token_switches_to_live_data(monkeypatch):
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123:abc")
    s = Settings(_env_file=None)
    assert s.market_source == "ccxt" and not s.console_mode
    assert "123:abc" not in repr(s)


def test_comma_lists_from_the_environment(monkeypatch):
    monkeypatch.setenv("SYMBOLS", "BTC/USDT, SOL/USDT")
    monkeypatch.setenv("TIMEFRAMES", "1h,4h")
    monkeypatch.setenv("ADMIN_IDS", "telegram:1,42")
    s = Settings(_env_file=None)
    assert s.symbols == ["BTC/USDT", "SOL/USDT"] and s.timeframes == ["1h", "4h"]
    assert s.admin_ids == ["telegram:1", "42"]


def test_naive_replay_start_is_utc(monkeypatch):
    monkeypatch.setenv("REPLAY_START", "2024-01-01T00:00:00")
    assert Settings(_env_file=None).replay_start.utcoffset().total_seconds() == 0


def test_error_line_names_the_setting_but_never_a_secret():
    with pytest.raises(ValidationError) as error:
        settings(replay_speed=-1, telegram_bot_token=12345)
    line = describe_error(error.value)
    assert line.startswith("Configuration error: REPLAY_SPEED") and "\n" not in line


@pytest.fixture
def restore_logging():
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:], root.level = handlers, level
    structlog.reset_defaults()


def test_logs_are_one_line_per_event_and_scrub_secrets(restore_logging):
    stream = io.StringIO()
    secret = "123456:SECRET-TOKEN-VALUE"
    configure_logging("INFO", [secret], stream=stream)
    log = structlog.get_logger("test")
    log.info("sending", url=f"https://api.telegram.org/bot{secret}/sendMessage")
    logging.getLogger("aiogram").warning("failed %s", f"bot{secret}/getMe")
    try:
        raise RuntimeError(f"boom {secret}")
    except RuntimeError:
        log.exception("crashed")
    output = stream.getvalue()
    assert secret not in output
    assert output.count("***") >= 3
    lines = output.strip().splitlines()
    assert (
        lines[0].startswith("timestamp=")
        and "level=info" in lines[0]
        and "event=sending" in lines[0]
    )
    assert len(lines) == 3  # the traceback stays inside its event's line
