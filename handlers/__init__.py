"""Platform-neutral use cases: one module per area, each a `CommandGroup`.

Handlers take a `Context` and typed arguments and return a `Reply`; they know
no chat platform (only `bot/telegram` imports aiogram, only `bot/discord`
imports discord).
"""

from handlers import alarms, general, market, signals
from handlers.registry import Registry


def build_registry() -> Registry:
    """Every command, in the order help lists them."""
    return Registry([general.group, market.group, signals.group, alarms.group])
