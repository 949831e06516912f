"""Standalone use: `python -m tests.telegram_server --port 8081` (see the package docstring)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import threading

from tests.telegram_server.constants import DEFAULT_TOKEN
from tests.telegram_server.records import SentMessage
from tests.telegram_server.server import TelegramServer


def _describe(message: SentMessage) -> str:
    body = message.plain or ""
    if message.photo_file_id:
        body = f"[photo {message.photo[-1]['width']}x{message.photo[-1]['height']}] {body}"  # type: ignore[index]
    if message.document_name:
        body = f"[document {message.document_name}] {body}"
    if message.invoice:
        body = f"[invoice {message.invoice['total_amount']} {message.invoice['currency']}] {body}"
    buttons = [
        f"{b.get('text')} ({b.get('callback_data') or b.get('url') or '…'})"
        for b in message.buttons
    ]
    verb = "edited" if message.edited else "sent"
    line = f"[bot {verb} → {message.chat_id} #{message.message_id}] {body}"
    if buttons:
        line += "\n    buttons: " + " | ".join(buttons)
    return line


async def _serve(args: argparse.Namespace) -> None:
    server = TelegramServer(
        token=args.token,
        bot_username=args.bot_username,
        rate_limits=not args.no_rate_limits,
        rate_scale=args.rate_scale,
        privacy_mode=not args.no_privacy,
        auto_chats=True,
    )
    url = await server.start(args.port)
    user = server.user(args.user_id, args.first_name, language_code=args.language)
    server.private_chat(user)
    print(f"Telegram Bot API stand-in on {url} (bot @{server.bot_username})", flush=True)
    print(f"TELEGRAM_API_URL={url}", flush=True)
    print(f"TELEGRAM_BOT_TOKEN={server.token}", flush=True)
    print(
        f"Lines typed here are sent by {user.first_name} (id {user.id}); "
        "'!press <message_id> <callback_data>' presses a button.",
        flush=True,
    )
    server.listeners.append(lambda message: print(_describe(message), flush=True))
    loop = asyncio.get_running_loop()
    lines: asyncio.Queue[str | None] = asyncio.Queue()

    def read_stdin() -> None:
        for line in sys.stdin:
            loop.call_soon_threadsafe(lines.put_nowait, line.rstrip("\n"))
        loop.call_soon_threadsafe(lines.put_nowait, None)

    threading.Thread(target=read_stdin, daemon=True).start()
    try:
        while (line := await lines.get()) is not None:
            if not line.strip():
                continue
            if line.startswith("!press "):
                parts = line.split(maxsplit=2)
                try:
                    await server.press_button(user, (user.id, int(parts[1])), parts[2])
                except (LookupError, ValueError, IndexError) as error:
                    print(f"cannot press: {error}", flush=True)
                continue
            await server.send_text(user, line)
        await asyncio.Event().wait()  # stdin closed: keep serving
    finally:
        await server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description="Local Telegram Bot API stand-in")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--token", default=DEFAULT_TOKEN)
    parser.add_argument("--bot-username", default="pulsewave_bot")
    parser.add_argument("--user-id", type=int, default=1001)
    parser.add_argument("--first-name", default="Alice")
    parser.add_argument("--language", default="en")
    parser.add_argument("--no-rate-limits", action="store_true")
    parser.add_argument("--rate-scale", type=float, default=None)
    parser.add_argument("--no-privacy", action="store_true", help="bot sees all group messages")
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args))
