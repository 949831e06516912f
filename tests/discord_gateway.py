"""The gateway side of the Discord emulator (`tests/discord_server.py`): what
discord.py's `Client.connect()` needs to receive events. HELLO on connect, READY
after an IDENTIFY with the right token (close 4004 otherwise), ACKs to heartbeats;
`send_event()` dispatches an event (INTERACTION_CREATE …) to every connected bot.
Frames are sent uncompressed (discord.py reads text frames as they come).
"""

from __future__ import annotations

import contextlib
import itertools
import json

from aiohttp import WSMsgType, web

from tests.discord_payloads import APP_ID, Json, json_response


class Gateway:
    token: str
    port: int
    bot: Json
    sockets: list[web.WebSocketResponse]
    sequence: itertools.count[int]

    async def _gateway_bot(self, request: web.Request) -> web.Response:
        url = f"ws://127.0.0.1:{self.port}/gateway"
        limit = {"total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1}
        return json_response({"url": url, "shards": 1, "session_start_limit": limit})

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        await socket.send_json({"op": 10, "d": {"heartbeat_interval": 41250}, "s": None, "t": None})
        async for frame in socket:
            if frame.type is not WSMsgType.TEXT:
                continue
            message = json.loads(frame.data)
            if message["op"] == 1:
                await socket.send_json({"op": 11, "d": None, "s": None, "t": None})
            elif message["op"] == 2:
                if message["d"]["token"] != self.token:
                    await socket.close(code=4004, message=b"Authentication failed.")
                    break
                ready = {"v": 10, "user": self.bot, "guilds": [], "session_id": "local",
                         "resume_gateway_url": f"ws://127.0.0.1:{self.port}/gateway",
                         "application": {"id": str(APP_ID), "flags": 0}}  # fmt: skip
                await socket.send_json(
                    {"op": 0, "t": "READY", "s": next(self.sequence), "d": ready}
                )
                self.sockets.append(socket)
        with contextlib.suppress(ValueError):
            self.sockets.remove(socket)
        return socket

    async def send_event(self, name: str, data: Json) -> None:
        for socket in list(self.sockets):
            await socket.send_json({"op": 0, "t": name, "s": next(self.sequence), "d": data})
