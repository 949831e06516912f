"""The interaction side of the Discord emulator (`tests/discord_server.py`): the
callback that answers an interaction (once, within the deadline: 4 message, 5
deferred "thinking…", 6 deferred update, 7 update the component's message, 8
autocomplete choices), follow-up messages, and get/edit/delete of `@original` or a
follow-up by id, with the interaction's token, for 15 minutes.
"""

from __future__ import annotations

import itertools
import json
import time

from aiohttp import web

from tests.discord_checks import autocomplete_errors, message_errors
from tests.discord_payloads import (
    EPHEMERAL,
    Attachment,
    Interaction,
    Json,
    Message,
    error_response,
    json_response,
    message_json,
    read_body,
)

TOKEN_LIFETIME = 15 * 60.0


class Webhooks:
    deadline: float
    ids: itertools.count[int]
    bot: Json
    base_url: str
    messages: dict[int, Message]
    interactions: dict[str, Interaction]

    def _record(self, request: web.Request) -> Interaction | None:
        record = self.interactions.get(request.match_info["token"])
        if record is None or time.monotonic() - record.created > TOKEN_LIFETIME:
            return None
        return record

    async def _callback(self, request: web.Request) -> web.Response:
        record = self._record(request)
        if record is None or str(record.id) != request.match_info["id"]:
            return error_response(404, 10062, "Unknown interaction")
        if time.monotonic() - record.created > self.deadline:
            return error_response(404, 10062, "Unknown interaction")
        if record.responses:
            return error_response(400, 40060, "Interaction has already been acknowledged.")
        body, files = await read_body(request, self.ids)
        kind, data = body["type"], body.get("data") or {}
        channel_id = int(record.payload["channel_id"])
        info: Json = {"id": str(record.id), "type": record.payload["type"]}
        resource: Json | None = None
        if kind in (4, 5):
            response = self._store(channel_id, "response" if kind == 4 else "loading", record,
                                   data, files)  # fmt: skip
            if response.status != 200:
                return response
            record.original = int(json.loads(response.text)["id"])
            resource = {"type": kind, "message": json.loads(response.text)}
            info |= {"response_message_id": str(record.original),
                     "response_message_loading": kind == 5,
                     "response_message_ephemeral": bool(data.get("flags", 0) & EPHEMERAL)}  # fmt: skip
        elif kind == 7:
            message = self.messages[int(record.payload["message"]["id"])]
            error = self._edit(message, data, files, record)
            if error is not None:
                return error
            resource = {"type": 7, "message": message_json(message, self.bot, self.base_url)}
        elif kind == 8:
            errors = autocomplete_errors(data)
            if errors:
                return error_response(400, 50035, "Invalid Form Body", errors)
            record.choices = data["choices"]
        elif kind != 6:
            return error_response(400, 50035, f"unsupported callback type {kind}")
        record.responses.append(kind)
        return json_response({"interaction": info} | ({"resource": resource} if resource else {}))

    def _store(self, channel_id: int, kind: str, record: Interaction | None, payload: Json,
               files: list[Attachment]) -> web.Response:  # fmt: skip
        errors = message_errors(payload, [f.filename for f in files], edit=kind == "loading")
        if errors:
            return error_response(400, 50035, "Invalid Form Body", errors)
        message = Message(next(self.ids), channel_id, kind, payload, files,
                          record.id if record else None)  # fmt: skip
        self.messages[message.id] = message
        if record is not None:
            record.events.append(("loading" if kind == "loading" else "create", message.id))
        return json_response(message_json(message, self.bot, self.base_url))

    async def _followup(self, request: web.Request) -> web.Response:
        record = self._record(request)
        if record is None or not record.responses:
            return error_response(404, 10015, "Unknown Webhook")
        payload, files = await read_body(request, self.ids)
        return self._store(int(record.payload["channel_id"]), "followup", record, payload, files)

    def _edit(self, message: Message, payload: Json, files: list[Attachment],
              record: Interaction) -> web.Response | None:  # fmt: skip
        errors = message_errors(payload, [f.filename for f in files], edit=True)
        if errors:
            return error_response(400, 50035, "Invalid Form Body", errors)
        if "attachments" in payload:
            keep = {str(a.get("id")) for a in payload["attachments"]}
            message.attachments = [a for a in message.attachments if str(a.id) in keep]
        message.attachments += files
        flags = message.payload.get("flags", 0)
        message.payload |= {k: v for k, v in payload.items() if k != "attachments"}
        message.payload["flags"] = flags
        message.kind = "response" if message.kind == "loading" else message.kind
        message.edits += 1
        record.events.append(("edit", message.id))
        return None

    async def _webhook_message(self, request: web.Request) -> web.Response:
        record = self._record(request)
        if record is None or not record.responses:
            return error_response(404, 10015, "Unknown Webhook")
        key = request.match_info["message"]
        if key == "@original":
            component = record.payload.get("message", {}).get("id")
            message_id = record.original or (int(component) if component else None)
        else:
            message_id = int(key)
        message = self.messages.get(message_id or 0)
        if message is None or message.deleted:
            return error_response(404, 10008, "Unknown Message")
        if request.method == "DELETE":
            message.deleted = True
            record.events.append(("delete", message.id))
            return json_response(None, 204)
        if request.method == "PATCH":
            payload, files = await read_body(request, self.ids)
            error = self._edit(message, payload, files, record)
            if error is not None:
                return error
        return json_response(message_json(message, self.bot, self.base_url))
