"""PulseWave entry point: `python main.py` runs the bot (console chat without a token)."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from pydantic import ValidationError


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="pulsewave", description="Self-hosted, chat-first crypto market assistant."
    )
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("run", help="run the bot (default)")
    import importlib

    from bot.cli import SUBCOMMANDS

    for name in SUBCOMMANDS:
        importlib.import_module(f"bot.cli.{name}").register(sub)
    return parser.parse_args(argv)


async def _run() -> int:
    from settings import Settings, describe_error

    try:  # settings first: a bad one stops start-up at once, before the heavy imports
        settings = Settings()
    except ValidationError as error:
        print(describe_error(error), file=sys.stderr)
        return 2
    from bot.app import App, StartupError
    from bot.logs import configure_logging

    configure_logging(settings.effective_log_level, settings.secrets())
    try:
        app = await App.create(settings)
    except StartupError as error:
        print(f"Configuration error: {error}", file=sys.stderr)
        return 2
    try:
        await app.run()
    except StartupError as error:
        print(f"Configuration error: {error}", file=sys.stderr)
        return 2
    finally:
        await app.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.command in (None, "run"):
        try:
            return asyncio.run(_run())
        except KeyboardInterrupt:
            return 130
        except BrokenPipeError:  # the reader went away (`… | head`): not an error of ours
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 0
    try:
        return asyncio.run(args.handler(args))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
