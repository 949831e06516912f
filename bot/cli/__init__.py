"""Command-line subcommands of `python main.py` besides running the bot.

Each module here defines `register(subparsers)` (adds its argparse parser and
sets `handler=<async function taking the parsed args>`); `main.py` wires every
module listed in `SUBCOMMANDS`.
"""

SUBCOMMANDS: list[str] = [
    "indicators",
    "signals",
    "backfill",
]  # module names under bot.cli, e.g. "backfill"
