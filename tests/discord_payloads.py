"""Discord's payload shapes for the local emulator (`tests/discord_server.py`): the
interactions Discord sends (application command, autocomplete, component), the
messages and application it returns, the request bodies discord.py sends (JSON, or
multipart with `payload_json` and `files[n]`), and what the emulator records.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

Json = dict[str, Any]
APP_ID = 1_000_000_000_000_000_001  # the bot user has the application's id
EPHEMERAL = 64
ALL_PERMISSIONS = (1 << 47) - 1
MEMBER_PERMISSIONS = 0x0000_0000_0004_0C40  # view channel, send messages, read history
MANAGE_CHANNELS = 1 << 4
DISCORD_EPOCH_MS = 1_420_070_400_000


@dataclass
class Attachment:
    id: int
    filename: str
    data: bytes
    content_type: str = "application/octet-stream"


@dataclass
class Message:
    id: int
    channel_id: int
    kind: str  # channel, response, loading (a deferral's "thinking…"), followup
    payload: Json
    attachments: list[Attachment] = field(default_factory=list)
    interaction_id: int | None = None
    deleted: bool = False
    edits: int = 0

    @property
    def ephemeral(self) -> bool:
        return bool(self.payload.get("flags", 0) & EPHEMERAL)

    @property
    def embed(self) -> Json:
        return (self.payload.get("embeds") or [{}])[0]

    @property
    def text(self) -> str:
        """Title, description, fields and footer of the first embed, as lines."""
        e = self.embed
        parts = [e.get("title"), e.get("description")]
        parts += [f"{f['name']}: {f['value']}" for f in e.get("fields", [])]
        return "\n".join(p for p in [*parts, (e.get("footer") or {}).get("text")] if p)

    @property
    def buttons(self) -> dict[str, str]:
        """label → custom_id"""
        rows = self.payload.get("components") or []
        return {b.get("label", ""): b["custom_id"] for r in rows for b in r["components"]}


@dataclass
class Interaction:
    id: int
    token: str
    payload: Json
    created: float
    responses: list[int] = field(default_factory=list)  # callback types, in order
    original: int | None = None  # message id of @original
    choices: list[Json] | None = None  # an autocomplete's answer
    events: list[tuple[str, int]] = field(default_factory=list)  # (loading|create|edit|delete, id)


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None):
    """A JSON response typed exactly `application/json`, as Discord sends (discord.py
    parses a body as JSON only then)."""
    if status == 204:
        return web.Response(status=204, headers=headers)
    body = json.dumps(data).encode()
    return web.Response(
        body=body, status=status, headers={"Content-Type": "application/json"} | (headers or {})
    )


def error_response(status: int, code: int, message: str, errors: Json | None = None):
    """Discord's error body: `{"message", "code"}`, form errors under `errors`."""
    return json_response(
        {"message": message, "code": code} | ({"errors": errors} if errors else {}), status
    )


def user_json(user_id: int, name: str, *, bot: bool = False) -> Json:
    user = {"id": str(user_id), "username": name.lower(), "discriminator": "0"}
    return user | {"global_name": None if bot else name, "avatar": None, "bot": bot}


def application_json() -> Json:
    owner = user_json(1, "owner")
    return {"id": str(APP_ID), "name": "PulseWave", "description": "", "icon": None,
            "bot_public": True, "bot_require_code_grant": False, "owner": owner,
            "verify_key": "0" * 64, "flags": 0, "team": None,
            "interactions_endpoint_url": None}  # fmt: skip


def interaction_payload(iid: int, kind: int, user: Json, channel_id: int, channel: Json | None,
                        data: Json, *, locale: str, permissions: int) -> Json:  # fmt: skip
    """An INTERACTION_CREATE: in a guild channel (`channel` given) with the member
    and their permissions there, or in the user's DM with the bot."""
    payload: Json = {"id": str(iid), "application_id": str(APP_ID), "type": kind, "data": data,
                     "token": f"itoken.{iid}", "version": 1, "locale": locale,
                     "entitlements": [], "attachment_size_limit": 10 * 1024**2,
                     "app_permissions": str(ALL_PERMISSIONS), "channel_id": str(channel_id)}  # fmt: skip
    if channel is not None:
        guild = channel["guild_id"]
        member = {"user": user, "roles": [], "joined_at": "2024-01-01T00:00:00+00:00",
                  "permissions": str(permissions), "deaf": False, "mute": False, "flags": 0}  # fmt: skip
        return payload | {"guild_id": guild, "guild_locale": "en-US", "member": member,
                          "context": 0, "guild": {"id": guild, "locale": "en-US", "features": []},
                          "channel": channel, "authorizing_integration_owners": {"0": guild}}  # fmt: skip
    return payload | {"user": user, "context": 1, "channel": {"id": str(channel_id), "type": 1},
                      "authorizing_integration_owners": {"1": user["id"]}}  # fmt: skip


def command_data(commands: list[Json], name: str, values: Json, focused: str | None) -> Json:
    """A slash command's data as Discord sends it, checked as Discord's client would:
    a synced command, known options, values among the choices, required ones given."""
    command = next((c for c in commands if c["name"] == name), None)
    if command is None:
        raise ValueError(f"/{name} is not a synced command")
    known = {o["name"]: o for o in command.get("options", [])}
    options = []
    for key, value in values.items():
        spec = known.get(key)
        if spec is None:
            raise ValueError(f"/{name} has no option {key!r}")
        if spec.get("choices") and value not in [c["value"] for c in spec["choices"]]:
            raise ValueError(f"{value!r} is not a choice of {key}")
        length = spec.get("min_length", 0), spec.get("max_length", 6000)
        if spec["type"] == 3 and key != focused and not length[0] <= len(value) <= length[1]:
            raise ValueError(f"{key} must be {length[0]}-{length[1]} characters")
        if spec["type"] == 10 and not spec.get("min_value", value) <= value <= spec.get(
            "max_value", value
        ):
            raise ValueError(f"{key} must be within {spec.get('min_value')}..{spec['max_value']}")
        option: Json = {"name": key, "type": spec["type"], "value": value}
        if key == focused:
            option["focused"] = True
        options.append(option)
    missing = [o["name"] for o in known.values() if o.get("required") and o["name"] not in values]
    if missing and focused is None:
        raise ValueError(f"/{name} needs {missing}")
    return {"id": command["id"], "name": name, "type": 1, "options": options}


def message_json(message: Message, author: Json, base_url: str) -> Json:
    stamp = datetime.fromtimestamp(((message.id >> 22) + DISCORD_EPOCH_MS) / 1000, UTC)
    attachments = [
        {
            "id": str(a.id),
            "filename": a.filename,
            "size": len(a.data),
            "url": f"{base_url}/attachments/{a.id}",
            "proxy_url": f"{base_url}/attachments/{a.id}",
            "content_type": a.content_type,
        }
        for a in message.attachments
    ]
    return {"id": str(message.id), "channel_id": str(message.channel_id), "type": 0,
            "content": message.payload.get("content") or "", "author": author,
            "embeds": message.payload.get("embeds") or [],
            "components": message.payload.get("components") or [], "attachments": attachments,
            "flags": message.payload.get("flags", 0), "timestamp": stamp.isoformat(),
            "edited_timestamp": None, "mentions": [], "mention_roles": [], "pinned": False,
            "mention_everyone": False, "tts": False, "application_id": str(APP_ID)}  # fmt: skip


async def read_body(request: web.Request, ids: Iterator[int]) -> tuple[Json, list[Attachment]]:
    """JSON, or multipart `payload_json` plus `files[n]` (as discord.py sends files)."""
    if not request.content_type.startswith("multipart/"):
        return (await request.json() if request.can_read_body else {}), []
    payload: Json = {}
    files: list[Attachment] = []
    async for part in await request.multipart():
        if part.name == "payload_json":
            payload = json.loads(await part.text())  # type: ignore[union-attr]
        elif part.name and part.name.startswith("files["):
            data = await part.read(decode=False)  # type: ignore[union-attr]
            kind = part.headers.get("Content-Type", "application/octet-stream")
            files.append(Attachment(next(ids), part.filename or "file", bytes(data), kind))
    return payload, files
