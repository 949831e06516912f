"""From a line of text (or a pressed button) to a `Reply`, for every front end.

Parsing errors, user errors and market errors become a clear message in the
user's language (with the command's usage where that helps); anything else
becomes a short apology with an error id, and the log gets the traceback.
"""

from __future__ import annotations

import difflib
import uuid

import structlog

from engine.market.types import MarketError, NoData, UnknownSymbol, UnsupportedTimeframe
from handlers.args import shorten
from handlers.context import Context
from handlers.errors import UserError
from handlers.i18n import N_
from handlers.registry import MAX_INPUT_LENGTH, Command, split_command
from handlers.reply import Reply, Tone

log = structlog.get_logger(__name__)

APOLOGY = N_("Sorry, something went wrong on my side (error id {id}). Please try again.")


async def dispatch(ctx: Context, text: str) -> Reply | None:
    """Run the command in `text` for `ctx`; None for an empty line."""
    if len(text) > MAX_INPUT_LENGTH:
        return _mark(ctx, error_reply(ctx, ctx._(N_("That message is too long to be a command."))))
    parsed = split_command(text)
    if parsed is None:
        if not text.strip():
            return None
        return _mark(ctx, error_reply(ctx, ctx._(N_("Send /help for the list of commands."))))
    name, rest = parsed
    command = ctx.services.registry.find(name)
    if command is None or (command.admin_only and not ctx.user.is_admin):
        return _mark(ctx, _unknown_command(ctx, name))
    log.info("command", command=command.name, platform=ctx.platform, user=ctx.user.id)
    try:
        arguments = await command.parse_args(ctx, rest)
        reply = await command.handler(ctx, **arguments)
    except UserError as error:
        reply = error_reply(
            ctx, ctx._(error.message, **error.values), command if error.show_usage else None
        )
    except MarketError as error:
        reply = error_reply(ctx, market_error_text(ctx, error))
    except Exception:
        error_id = uuid.uuid4().hex[:8]
        log.exception("handler_failed", command=command.name, error_id=error_id)
        reply = error_reply(ctx, ctx._(APOLOGY, id=error_id))
    return _mark(ctx, reply)


def error_reply(ctx: Context, message: str, command: Command | None = None) -> Reply:
    lines = [message]
    if command is not None:
        lines.append(ctx._(N_("Usage: {usage}"), usage=command.usage))
        if command.examples:
            lines.append(ctx._(N_("Example: {example}"), example=command.examples[0]))
    return Reply(text="\n".join(lines), tone=Tone.ERROR, ephemeral=True)


def market_error_text(ctx: Context, error: MarketError) -> str:
    if isinstance(error, UnknownSymbol):
        if error.matches:
            return ctx._(
                N_("I don't know the market {symbol}. Did you mean: {matches}?"),
                symbol=shorten(error.symbol),
                matches=", ".join(error.matches),
            )
        return ctx._(N_("I don't know the market {symbol}."), symbol=shorten(error.symbol))
    if isinstance(error, UnsupportedTimeframe):
        return ctx._(
            N_("{symbol} has no {timeframe} data. Available: {available}."),
            symbol=error.symbol,
            timeframe=error.timeframe,
            available=" ".join(error.available),
        )
    if isinstance(error, NoData):
        return ctx._(
            N_("There is no data for {symbol} yet at this market time."), symbol=error.symbol
        )
    return ctx._(N_("The market data is unavailable right now. Please try again shortly."))


def _unknown_command(ctx: Context, name: str) -> Reply:
    names = [c.name for c in ctx.services.registry.visible(ctx.user.is_admin)]
    close = difflib.get_close_matches(name, names, n=1)
    if close:
        message = ctx._(
            N_("There is no command /{name}. Did you mean /{suggestion}?"),
            name=shorten(name),
            suggestion=close[0],
        )
    else:
        message = ctx._(
            N_("There is no command /{name}. Send /help for the list."), name=shorten(name)
        )
    return error_reply(ctx, message)


def _mark(ctx: Context, reply: Reply) -> Reply:
    """Every reply on the replayed market says so, with the market time it shows."""
    if ctx.services.market.is_demo:
        reply.demo = ctx._(
            N_("DEMO · replayed market at {time}"),
            time=ctx.tr.datetime(ctx.services.clock.now_ms()),
        )
    return reply
