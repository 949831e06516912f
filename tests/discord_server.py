"""A local stand-in for Discord (REST API v10 and the gateway), for discord.py's real
client, command tree and HTTP layer in end-to-end tests.

Point discord.py at it with `DiscordFrontend(..., api_base=server.base_url)` (which
sets `discord.http.Route.BASE`, and the gateway URL this server's `/gateway/bot`
names), using `server.token`. Routes are Discord's: log-in (`/users/@me`,
`/oauth2/applications/@me`), bulk overwrite of global commands, interaction
callbacks and follow-up webhooks (`tests/discord_webhooks.py`), channel messages
(JSON or multipart with attachments), opening a DM, and the gateway
(`tests/discord_gateway.py`: HELLO, READY after IDENTIFY, heartbeat ACKs, events).

Like Discord: error bodies `{"message", "code"}` (401; 403 50007 closed DMs; 404
10003 unknown channel, 10062 unknown interaction, 10015; 400 40060 answered twice,
50035 with form errors from `tests/discord_checks.py`, which holds Discord's
limits); an interaction must be answered once within `deadline` seconds (3),
follow-ups for 15 minutes; channel messages have rate-limit buckets (5 per 5 s per
channel, `/ scale`) announced in `X-RateLimit-*` headers, and a 429 carries
`retry_after`, `global`, `Retry-After`, `X-RateLimit-Scope` and `Via` as discord.py
expects. Payload shapes are in `tests/discord_payloads.py`.

Tests drive it: `user()`, `channel()` (in a guild), `dm()`; `command()`,
`autocomplete()`, `press()` build interactions of Discord's shapes (checking the
options against the synced commands as Discord's client does) and dispatch them
through the gateway; `answer()` waits for what the user sees. Faults:
`fail_next()`, `rate_limit_next()`, `close_dms()`, `delete_channel()`. Records:
`messages` (`sent_to()`), `interactions`, `commands`, `requests`.

Standalone: `python -m tests.discord_server --port 8082` prints DISCORD_API_URL and
DISCORD_BOT_TOKEN and every message the bot sends; type `/price symbol=BTC` to
run a slash command as a simulated user in a DM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import re
import time
from typing import Any

from aiohttp import web

from tests.discord_checks import command_errors
from tests.discord_gateway import Gateway
from tests.discord_payloads import (
    APP_ID,
    MEMBER_PERMISSIONS,
    Interaction,
    Json,
    Message,
    application_json,
    command_data,
    error_response,
    interaction_payload,
    json_response,
    message_json,
    read_body,
    user_json,
)
from tests.discord_webhooks import Webhooks

DEFAULT_TOKEN = "MTAwMDAwMDAwMDAwMDAwMDAx.local.pulsewave-discord-test-token"
DM_OFFSET = 7  # a user's DM channel id is theirs + 7


class DiscordServer(Gateway, Webhooks):
    def __init__(self, token: str = DEFAULT_TOKEN, *, deadline: float = 3.0, scale: float = 1.0):
        self.token, self.deadline, self.scale = token, deadline, scale
        self.ids = itertools.count(1_100_000_000_000_000_000)
        self.bot = user_json(APP_ID, "PulseWave", bot=True)
        self.users: dict[int, Json] = {}
        self.channels: dict[int, Json] = {}
        self.closed_dms: set[int] = set()
        self.commands: list[Json] = []
        self.messages: dict[int, Message] = {}
        self.interactions: dict[str, Interaction] = {}
        self.requests: list[tuple[str, str, int]] = []
        self.faults: list[tuple[str, re.Pattern[str], int, Json, dict[str, str]]] = []
        self.buckets: dict[int, list[float]] = {}
        self.sockets: list[web.WebSocketResponse] = []
        self.sequence = itertools.count(1)
        self.changed = asyncio.Condition()
        self.base_url = ""
        self._runner: web.AppRunner | None = None

    # --- lifecycle -------------------------------------------------------------
    async def start(self, port: int = 0) -> str:
        app = web.Application(middlewares=[self._middleware], client_max_size=64 * 1024**2)
        api = "/api/v10"
        app.router.add_get("/gateway", self._gateway)
        for method, path, handler in [
            ("GET", "/gateway/bot", self._gateway_bot),
            ("GET", "/users/@me", self._me),
            ("GET", "/oauth2/applications/@me", self._application),
            ("PUT", "/applications/{app}/commands", self._put_commands),
            ("GET", "/applications/{app}/commands", self._get_commands),
            ("POST", "/users/@me/channels", self._open_dm),
            ("POST", "/channels/{channel}/messages", self._channel_message),
            ("POST", "/interactions/{id}/{token}/callback", self._callback),
            ("POST", "/webhooks/{app}/{token}", self._followup),
            ("*", "/webhooks/{app}/{token}/messages/{message}", self._webhook_message),
        ]:
            app.router.add_route(method, api + path, handler)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"http://127.0.0.1:{self.port}{api}"
        return self.base_url

    async def close(self) -> None:
        for socket in self.sockets:
            await socket.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> DiscordServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # --- the world ---------------------------------------------------------------
    def user(self, user_id: int, name: str) -> Json:
        self.users[user_id] = user_json(user_id, name)
        return self.users[user_id]

    def channel(self, channel_id: int, guild_id: int, name: str = "general") -> Json:
        self.channels[channel_id] = {"id": str(channel_id), "type": 0, "guild_id": str(guild_id),
                                     "name": name, "position": 0, "permission_overwrites": []}  # fmt: skip
        return self.channels[channel_id]

    @staticmethod
    def dm(user: Json) -> int:
        """The id of the DM channel between `user` and the bot."""
        return int(user["id"]) + DM_OFFSET

    def delete_channel(self, channel_id: int) -> None:
        self.channels.pop(channel_id, None)

    def close_dms(self, user_id: int) -> None:
        self.closed_dms.add(user_id)

    def fail_next(self, method: str, path: str, status: int, body: Json | None = None,
                  headers: dict[str, str] | None = None) -> None:  # fmt: skip
        """The next request matching `method` and the regex `path` (after /api/v10) fails."""
        self.faults.append((method, re.compile(path), status, body or {}, headers or {}))

    def rate_limit_next(self, method: str, path: str, retry_after: float, *, glob: bool = False):
        body = {"message": "You are being rate limited.", "retry_after": retry_after,
                "global": glob, "code": 0}  # fmt: skip
        self.fail_next(
            method, path, 429, body, {"X-RateLimit-Scope": "global" if glob else "shared"}
        )

    def sent_to(self, channel_id: int) -> list[Message]:
        return [m for m in self.messages.values() if m.channel_id == channel_id and not m.deleted]

    # --- interactions --------------------------------------------------------------
    def _interaction(self, kind: int, user: Json, channel_id: int, data: Json, *,
                     locale: str = "en-US", permissions: int = MEMBER_PERMISSIONS) -> Interaction:  # fmt: skip
        iid = next(self.ids)
        channel = self.channels.get(channel_id)
        payload = interaction_payload(iid, kind, user, channel_id, channel, data, locale=locale,
                                      permissions=permissions)  # fmt: skip
        record = Interaction(iid, payload["token"], payload, time.monotonic())
        self.interactions[record.token] = record
        return record

    async def command(self, user: Json, channel_id: int, name: str, values: Json | None = None,
                      **kwargs: Any) -> Interaction:  # fmt: skip
        data = command_data(self.commands, name, values or {}, None)
        return await self._dispatch(self._interaction(2, user, channel_id, data, **kwargs))

    async def autocomplete(self, user: Json, channel_id: int, name: str, values: Json,
                           focused: str, **kwargs: Any) -> list[Json]:  # fmt: skip
        data = command_data(self.commands, name, values, focused)
        record = await self._dispatch(self._interaction(4, user, channel_id, data, **kwargs))
        await self.wait_for(lambda: record.choices is not None, what="an autocomplete answer")
        return record.choices or []

    async def press(self, user: Json, message: Message, label: str, **kwargs: Any) -> Interaction:
        data = {"custom_id": message.buttons[label], "component_type": 2}
        record = self._interaction(3, user, message.channel_id, data, **kwargs)
        record.payload["message"] = message_json(message, self.bot, self.base_url)
        return await self._dispatch(record)

    async def _dispatch(self, record: Interaction) -> Interaction:
        if not self.sockets:
            raise RuntimeError("no bot is connected to the gateway")
        await self.send_event("INTERACTION_CREATE", record.payload)
        return record

    async def answer(self, record: Interaction, count: int = 1, timeout: float = 20.0) -> Message:  # noqa: ASYNC109
        """The message `record` shows once it was answered `count` times (a reply, an
        edit after a deferral, a follow-up …)."""
        visible = lambda: [e for e in record.events if e[0] in ("create", "edit")]  # noqa: E731
        await self.wait_for(lambda: len(visible()) >= count, timeout, f"answer {count}")
        return self.messages[visible()[count - 1][1]]

    async def wait_for(self, predicate: Any, timeout: float = 20.0, what: str = "") -> None:  # noqa: ASYNC109
        try:
            async with asyncio.timeout(timeout), self.changed:
                await self.changed.wait_for(predicate)
        except TimeoutError:
            raise TimeoutError(f"waited {timeout} s for {what or predicate}") from None

    async def _notify(self) -> None:
        async with self.changed:
            self.changed.notify_all()

    # --- REST ------------------------------------------------------------------------
    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        path = request.path.removeprefix("/api/v10")
        for fault in self.faults:
            if fault[0] == request.method and fault[1].fullmatch(path):
                self.faults.remove(fault)
                headers = {"Via": "1.1 google"} | fault[4]
                if fault[2] == 429:
                    headers["Retry-After"] = str(fault[3].get("retry_after", 1))
                    headers["X-RateLimit-Global"] = "true" if fault[3].get("global") else "false"
                response: web.StreamResponse = json_response(fault[3], fault[2], headers)  # fmt: skip
                break
        else:
            bot_route = not path.startswith(("/interactions/", "/webhooks/", "/gateway"))
            if bot_route and request.headers.get("Authorization") != f"Bot {self.token}":
                response = error_response(401, 0, "401: Unauthorized")
            else:
                response = await handler(request)
        self.requests.append((request.method, path, response.status))
        await self._notify()
        return response

    async def _me(self, request: web.Request) -> web.Response:
        return json_response(self.bot)

    async def _application(self, request: web.Request) -> web.Response:
        return json_response(application_json())

    async def _get_commands(self, request: web.Request) -> web.Response:
        return json_response(self.commands)

    async def _put_commands(self, request: web.Request) -> web.Response:
        commands = await request.json()
        errors = command_errors(commands)
        if errors:
            return error_response(400, 50035, "Invalid Form Body", errors)
        old = {c["name"]: c["id"] for c in self.commands}
        self.commands = [c | {"id": old.get(c["name"]) or str(next(self.ids)), "type": 1,
                              "application_id": str(APP_ID), "version": "1"} for c in commands]  # fmt: skip
        return json_response(self.commands)

    async def _open_dm(self, request: web.Request) -> web.Response:
        recipient = int((await request.json())["recipient_id"])
        if recipient not in self.users:
            return error_response(404, 10013, "Unknown User")
        channel = {
            "id": str(recipient + DM_OFFSET),
            "type": 1,
            "recipients": [self.users[recipient]],
        }
        return json_response(channel | {"last_message_id": None})

    def _bucket(self, channel_id: int) -> tuple[bool, dict[str, str], float]:
        """Discord's 5 messages per 5 s per channel (`/ scale`): allowed?, headers, wait."""
        window, now = 5.0 / self.scale, time.monotonic()
        sent = [t for t in self.buckets.get(channel_id, []) if t > now - window]
        allowed = len(sent) < 5
        if allowed:
            sent.append(now)
        self.buckets[channel_id] = sent
        reset_after = max(0.001, sent[0] + window - now)
        headers = {"X-RateLimit-Limit": "5", "X-RateLimit-Remaining": str(5 - len(sent)),
                   "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
                   "X-RateLimit-Reset-After": f"{reset_after:.3f}",
                   "X-RateLimit-Bucket": "channel-messages", "Via": "1.1 google"}  # fmt: skip
        return allowed, headers, reset_after

    async def _channel_message(self, request: web.Request) -> web.Response:
        channel_id = int(request.match_info["channel"])
        dm_user = channel_id - DM_OFFSET
        if channel_id not in self.channels and dm_user not in self.users:
            return error_response(404, 10003, "Unknown Channel")
        if dm_user in self.closed_dms:
            return error_response(403, 50007, "Cannot send messages to this user")
        allowed, headers, wait = self._bucket(channel_id)
        if not allowed:
            body = {"message": "You are being rate limited.", "retry_after": wait, "global": False}
            headers |= {"Retry-After": str(wait), "X-RateLimit-Scope": "user"}
            return json_response(body | {"code": 0}, 429, headers)
        payload, files = await read_body(request, self.ids)
        response = self._store(channel_id, "channel", None, payload, files)
        response.headers.update(headers)
        return response


async def _serve(args: argparse.Namespace) -> None:
    server = DiscordServer(args.token, deadline=args.deadline)
    url = await server.start(args.port)
    alice = server.user(args.user_id, "Alice")
    print(f"DISCORD_API_URL={url}\nDISCORD_BOT_TOKEN={server.token}", flush=True)
    seen: set[int] = set()

    async def printer() -> None:
        while True:
            await server.wait_for(lambda: set(server.messages) - seen, timeout=10**9)
            for message in [m for i, m in server.messages.items() if i not in seen]:
                seen.add(message.id)
                print(
                    f"\n[{message.kind} {message.id}]\n{message.text}\n{message.buttons}",
                    flush=True,
                )

    task = asyncio.create_task(printer())
    loop = asyncio.get_running_loop()
    while line := await loop.run_in_executor(None, input):
        name, *pairs = line.strip().lstrip("/").split()
        values = dict(pair.split("=", 1) for pair in pairs)
        try:
            await server.command(alice, server.dm(alice), name, values)
        except (ValueError, RuntimeError) as error:
            print(f"! {error}", flush=True)
    task.cancel()
    await server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description="Local Discord API stand-in")
    parser.add_argument("--port", type=int, default=8082)
    parser.add_argument("--token", default=DEFAULT_TOKEN)
    parser.add_argument("--user-id", type=int, default=2001)
    parser.add_argument("--deadline", type=float, default=3.0)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt, EOFError):
        asyncio.run(_serve(args))


if __name__ == "__main__":
    main()
