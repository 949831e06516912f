"""Controlling and observing the server from tests: injected faults and delays, queries of
what the bot did, waiting without sleeping, and the `/_control/…` routes."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from aiohttp import web

from tests.telegram_server.constants import DEFAULT_FAULT_DESCRIPTIONS
from tests.telegram_server.records import (
    CallbackAnswer,
    RequestRecord,
    SentMessage,
    SimUser,
    StoredFile,
    _Delay,
    _Fault,
)


class Control:
    """Faults, delays, queries and waits for tests; control routes.

    A part of `TelegramServer` (server.py), whose `__init__` sets up the state used here."""

    users: dict[int, SimUser]
    sent: list[SentMessage]
    requests: list[RequestRecord]
    commands: dict[tuple[str, str], list[dict[str, str]]]
    callback_answers: list[CallbackAnswer]
    _by_chat: dict[int, list[SentMessage]]
    _messages: dict[tuple[int, int], SentMessage | dict[str, Any]]
    _files: dict[str, StoredFile]
    _pending: deque[dict[str, Any]]
    _faults: list[_Fault]
    _delays: list[_Delay]
    _inflight: int
    _last_activity: float
    _changed: asyncio.Event
    _waiters: int
    _closing: asyncio.Event

    # -- faults ----------------------------------------------------------------------------

    def fail_next(
        self,
        method: str = "*",
        status: int = 500,
        *,
        description: str | None = None,
        retry_after: int | None = None,
        chat_id: int | None = None,
        times: int = 1,
        delay: float = 0.0,
        body: str | None = None,
        disconnect: bool = False,
        processed: bool = False,
    ) -> None:
        """Answer the next `times` calls of `method` ("*": any; case-insensitive), for
        `chat_id` if given, with `status` and Telegram's usual description for it.
        `retry_after` (default 1 for 429) goes into `parameters`; `body` replaces the JSON
        answer (e.g. nginx's HTML 502 page); `disconnect` drops the connection instead;
        `processed` lets the call take effect first (the message is sent, the answer is lost);
        `delay` waits before answering."""
        if status == 429 and retry_after is None:
            retry_after = 1
        if description is None:
            if status == 429:
                description = f"Too Many Requests: retry after {retry_after}"
            else:
                description = DEFAULT_FAULT_DESCRIPTIONS.get(status, "Internal Server Error")
        self._faults.append(
            _Fault(
                method.lower(),
                status,
                description,
                retry_after,
                chat_id,
                times,
                delay,
                body,
                disconnect,
                processed,
            )
        )

    def clear_faults(self) -> None:
        self._faults.clear()
        self._delays.clear()

    def delay(
        self,
        seconds: float,
        *,
        method: str = "*",
        times: int | None = None,
        after: bool = False,
    ) -> None:
        """Delay answers to `method` by `seconds` (until `delay(0)`, or `times` calls).
        By default the delay comes before processing, and a call whose client has gone (timed
        out) meanwhile is dropped unprocessed (recorded with status 499); `after=True`
        processes first, so the client times out on a message that was sent."""
        if seconds <= 0:
            self._delays.clear()
            return
        self._delays.append(_Delay(seconds, method.lower(), times, after))

    def _take_fault(self, method: str, chat_id: Any) -> _Fault | None:
        for fault in self._faults:
            if fault.method not in ("*", method.lower()):
                continue
            if fault.chat_id is not None and str(fault.chat_id) != str(chat_id):
                continue
            fault.times -= 1
            if fault.times <= 0:
                self._faults.remove(fault)
            return fault
        return None

    def _take_delay(self, method: str) -> _Delay | None:
        for rule in self._delays:
            if rule.method in ("*", method.lower()):
                if rule.times is not None:
                    rule.times -= 1
                    if rule.times <= 0:
                        self._delays.remove(rule)
                return rule
        return None

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), seconds)

    # -- queries for tests -----------------------------------------------------------------

    def sent_to(self, chat_id: int) -> list[SentMessage]:
        return list(self._by_chat.get(chat_id, ()))

    def last_sent(self, chat_id: int | None = None) -> SentMessage:
        messages = self.sent if chat_id is None else self._by_chat.get(chat_id, [])
        if not messages:
            raise LookupError(f"no message sent{'' if chat_id is None else f' to {chat_id}'}")
        return messages[-1]

    def message(self, chat_id: int, message_id: int) -> SentMessage:
        found = self._messages.get((chat_id, message_id))
        if not isinstance(found, SentMessage):
            raise LookupError(f"the bot sent no message {message_id} in chat {chat_id}")
        return found

    def calls(self, method: str) -> list[RequestRecord]:
        return [r for r in self.requests if r.method.lower() == method.lower()]

    def count(self, method: str, status: int | None = None) -> int:
        return sum(1 for r in self.calls(method) if status is None or r.status == status)

    def commands_for(self, scope: str = "default", language_code: str = "") -> list[dict[str, str]]:
        return self.commands.get((scope, language_code), [])

    def file_content(self, file_id: str) -> bytes:
        return self._files[file_id].content

    def callback_answer(self, update_id: int) -> CallbackAnswer | None:
        return next((a for a in self.callback_answers if a.update_id == update_id), None)

    # -- waiting ------------------------------------------------------------------------------

    def _notify(self) -> None:
        if self._waiters:
            self._changed.set()
            self._changed = asyncio.Event()

    async def wait_for(
        self,
        predicate: Callable[[], Any],
        timeout: float = 5.0,  # noqa: ASYNC109
        what: str = "a condition",
    ) -> Any:
        """Wait until `predicate()` is truthy (re-checked on every change); returns it."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            value = predicate()
            if value:
                return value
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
            event = self._changed
            self._waiters += 1
            try:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(event.wait(), min(remaining, 0.25))
            finally:
                self._waiters -= 1

    async def wait_for_messages(
        self,
        chat_id: int | None,
        count: int = 1,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> list[SentMessage]:
        """Wait until the bot has sent `count` messages to `chat_id` (None: in all); returns
        them all."""

        def enough() -> list[SentMessage] | None:
            messages = self.sent if chat_id is None else self._by_chat.get(chat_id, [])
            return list(messages) if len(messages) >= count else None

        try:
            return await self.wait_for(enough, timeout, f"{count} message(s) to {chat_id}")
        except TimeoutError as error:
            got = len(self.sent if chat_id is None else self._by_chat.get(chat_id, []))
            raise TimeoutError(f"{error} (got {got})") from None

    async def wait_idle(self, timeout: float = 5.0, quiet: float = 0.05) -> None:  # noqa: ASYNC109
        """Wait until every queued update was taken (confirmed/delivered), no call is being
        processed (long polls aside) and none came for `quiet` seconds. A handler that works
        longer than `quiet` without calling the API is not waited for: use
        `wait_for_messages` for what must happen."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            calm = time.monotonic() - self._last_activity
            if not self._pending and self._inflight == 0 and calm >= quiet:
                return
            if loop.time() >= deadline:
                raise TimeoutError(
                    f"not idle after {timeout}s: {len(self._pending)} update(s) pending, "
                    f"{self._inflight} call(s) in flight"
                )
            await asyncio.sleep(max(0.005, min(quiet - calm, 0.02)))

    # -- control routes (standalone use) ------------------------------------------------------

    async def _control_message(self, request: web.Request) -> web.Response:
        body = await request.json()
        user = self.users.get(int(body["user_id"])) or self.user(
            int(body["user_id"]), body.get("first_name")
        )
        update_id = await self.send_text(user, str(body["text"]), body.get("chat_id"))
        return web.json_response({"update_id": update_id})

    async def _control_press(self, request: web.Request) -> web.Response:
        body = await request.json()
        user = self._sim_user(int(body["user_id"]))
        chat_id = int(body.get("chat_id", user.id))
        try:
            update_id = await self.press_button(
                user, (chat_id, int(body["message_id"])), body.get("data"), text=body.get("text")
            )
        except LookupError as error:
            return web.json_response({"error": str(error)}, status=404)
        return web.json_response({"update_id": update_id})

    async def _control_fault(self, request: web.Request) -> web.Response:
        body = await request.json()
        if body.pop("clear", False):
            self.clear_faults()
        if "status" in body:
            self.fail_next(body.pop("method", "*"), int(body.pop("status")), **body)
        return web.json_response({"faults": len(self._faults)})

    async def _control_block(self, request: web.Request) -> web.Response:
        body = await request.json()
        chat = self._known_chat(int(body["chat_id"]))
        chat.blocked = bool(body.get("blocked", True))
        return web.json_response({"chat_id": chat.id, "blocked": chat.blocked})

    async def _control_sent(self, request: web.Request) -> web.Response:
        chat_id = request.query.get("chat_id")
        messages = self.sent if chat_id is None else self._by_chat.get(int(chat_id), [])
        rows = [
            {k: v for k, v in asdict(m).items() if k not in ("versions", "params")}
            for m in messages
        ]
        return web.json_response(rows)
