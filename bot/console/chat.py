"""Console front end: a prompt (or piped lines) in, rendered replies out.

Interactive: a `pulsewave>` prompt; buttons are numbered and typing the number
presses one. Piped (stdin is not a terminal): one command per line, each reply
printed, exit at end of input, so scripts can drive it.
"""

from __future__ import annotations

import asyncio
import getpass
import hashlib
from pathlib import Path
from typing import TextIO

import structlog

from bot.delivery import Outgoing, Sent
from handlers.context import Services
from handlers.dispatch import dispatch
from handlers.reply import Button, Image, Reply
from handlers.session import PlatformChat, PlatformUser, open_context

log = structlog.get_logger(__name__)

PROMPT = "pulsewave> "
QUIT = {"/quit", "/exit", "quit", "exit"}


class ConsoleChat:
    def __init__(self, services: Services, stdin: TextIO, stdout: TextIO) -> None:
        self.services = services
        self.stdin = stdin
        self.stdout = stdout
        self.interactive = stdin.isatty()
        self.user = PlatformUser("console", getpass.getuser(), display_name=getpass.getuser())
        self.chat = PlatformChat("console", kind="console")
        self.buttons: list[Button] = []
        self.platform = "console"  # as a delivery `Sender`
        self._sent = 0

    async def run(self) -> None:
        if self.interactive:
            await self.handle("/start")
        while True:
            line = await asyncio.to_thread(self._read_line)
            if line is None or line.strip().lower() in QUIT:
                return
            await self.handle(line)

    def _read_line(self) -> str | None:
        if self.interactive:
            try:
                return input(PROMPT)
            except EOFError:
                return None
        line = self.stdin.readline()
        return line if line else None

    async def handle(self, line: str) -> None:
        text = line.strip()
        if text.isdigit() and self.buttons and 1 <= int(text) <= len(self.buttons):
            text = self.buttons[int(text) - 1].action  # a pressed button
        try:
            ctx = await open_context(self.services, self.user, self.chat)
            reply = await dispatch(ctx, text)
        except Exception:  # the chat must outlive any one bad command
            log.exception("console_command_failed")
            reply = Reply(text="Sorry, something went wrong. Please try again.")
        if reply is not None:
            self.write(self.render(reply))

    def render(self, reply: Reply) -> str:
        lines = [reply.plain_text()]
        if reply.image is not None:
            lines.append(
                f"🖼  {self.save(reply.image.png, reply.image.filename, reply.image.cache_key)}"
            )
        if reply.document is not None:
            lines.append(f"📄 {self.save(reply.document.data, reply.document.filename, '')}")
        self.buttons = [button for row in reply.buttons for button in row]
        if self.buttons and self.interactive:
            lines.append("  ".join(f"[{i}] {b.label}" for i, b in enumerate(self.buttons, 1)))
        return "\n".join(lines)

    def save(self, data: bytes, filename: str, key: str) -> Path:
        """Write an attachment under OUTPUT_DIR; the same picture keeps one file."""
        folder = Path(self.services.config.output_dir)
        folder.mkdir(parents=True, exist_ok=True)
        stem, _, suffix = filename.rpartition(".")
        digest = hashlib.sha1((key or data.hex()[:4096]).encode()).hexdigest()[:8]
        path = (folder / f"{stem}_{digest}.{suffix}").resolve()
        path.write_bytes(data)
        return path

    async def send(self, message: Outgoing) -> Sent:
        """The console as a delivery target: alarms and followed signals print here."""
        reply = message.reply
        if message.image is not None and reply.image is None:
            reply.image = Image(
                message.image, f"notification:{id(message)}", message.image_name or "chart.png"
            )
        self.write("🔔 " + self.render(reply))
        self._sent += 1
        return Sent(str(self._sent))

    def write(self, text: str) -> None:
        self.stdout.write(text + "\n\n")
        self.stdout.flush()
