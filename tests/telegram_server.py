"""A local stand-in for the Telegram Bot API, for aiogram's real `Bot` and end-to-end tests.

Point aiogram at it with
`AiohttpSession(api=TelegramAPIServer.from_base(server.base_url))` (or `server.make_bot()`),
using `server.token`. Routes are Telegram's: `/bot{token}/{method}` (GET or POST; query,
urlencoded, multipart or JSON parameters, as aiogram and curl send them) and
`/file/bot{token}/{file_path}` for downloads. Requests with another token get 401
`Unauthorized`, unknown methods and routes 404 `Not Found`, as Telegram does.

What it does like Telegram:

- Real response shapes (`{"ok": true, "result": …}` / `{"ok": false, "error_code": N,
  "description": "…", "parameters": {"retry_after": N}}`), so aiogram parses them into its
  types and raises its own exceptions (`TelegramBadRequest`, `TelegramRetryAfter`, …).
- Validation: text 1..4096 and captions ≤ 1024 UTF-16 code units after entity parsing and
  trimming; `parse_mode` HTML (only Telegram's tags, strictly nested, `&lt; &gt; &amp; &quot;`
  and numeric entities), MarkdownV2 (reserved characters must be escaped) and legacy
  Markdown, with tdlib's error texts ("can't parse entities: …"); inline keyboards
  (one action per button, callback_data 1..64 bytes); photos must be real PNG/JPEG uploads
  or file_ids this server issued; edits of missing messages, identical edits ("message is
  not modified"); unknown chats; blocked users and kicked bots (403).
- Rate limits (`RateLimits`, default Telegram's published ones): 30 messages/s per bot,
  1/s per private chat with a burst of 3, 20/min per group; counted for messages sent and
  edited; 429 with `retry_after` from the token buckets (clock `time.monotonic`, injectable).
- getUpdates long polling (offset/limit/timeout/allowed_updates, woken at once by a new
  update, 409 to the earlier poll when another one starts), webhooks (updates POSTed as JSON
  with `X-Telegram-Bot-Api-Secret-Token`, retried until a 2xx answer, a method in the
  webhook's answer is executed as Telegram does; getUpdates is 409 while one is set).

Controlling and observing it from tests:

- Simulated people: `user()`, `private_chat()`, `group()`, then `await send_text()`,
  `press_button()`, `send_document()`, `send_photo()`, `pre_checkout()`,
  `successful_payment()` queue updates with Telegram's shapes and return their update_id.
- Faults: `fail_next(method, status, …)`, `block_chat(chat_id)`, `delay(seconds)`,
  `migrate_group()`.
- Records: `sent` (`SentMessage`s in order; `sent_to(chat_id)`), `edits`, `deleted`,
  `uploads`, `requests`, `commands`, `callback_answers`, `pre_checkout_answers`,
  `chat_actions`, `webhook_deliveries`, `too_many_requests` (+ per chat).
- Waiting without sleeping: `wait_for_messages()`, `wait_for()`, `wait_idle()`.

Standalone: `python -m tests.telegram_server --port 8081` prints the base URL and token
(as TELEGRAM_API_URL / TELEGRAM_BOT_TOKEN for `python main.py`), prints every message the
bot sends, and sends each line typed on stdin as a message from a simulated user
(`!press <message_id> <callback_data>` presses a button). Control routes:
`POST /_control/message` `{"user_id": 1, "text": "/start"}`,
`POST /_control/press` `{"user_id": 1, "message_id": 5, "data": "x"}`,
`POST /_control/fault` `{"method": "sendMessage", "status": 502}`,
`POST /_control/block` `{"chat_id": 1, "blocked": true}`,
`GET /_control/sent?chat_id=1`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import inspect
import itertools
import json
import math
import mimetypes
import re
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

if TYPE_CHECKING:
    from aiogram import Bot

DEFAULT_TOKEN = "7000000001:AAHlocalPulseWaveTestBotToken-0000000"
TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
CALLBACK_DATA_LIMIT = 64
CALLBACK_ANSWER_LIMIT = 200
PHOTO_LIMIT = 10 * 1024 * 1024
UPLOAD_LIMIT = 50 * 1024 * 1024
DOWNLOAD_LIMIT = 20 * 1024 * 1024
NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly "
    "the same as a current content and reply markup of the message"
)
QUERY_TOO_OLD = "query is too old and response timeout expired or query ID is invalid"
DEFAULT_EXCLUDED_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
BUTTON_ACTIONS = (
    "url",
    "callback_data",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)
COMMAND_SCOPES = frozenset(
    {
        "default",
        "all_private_chats",
        "all_group_chats",
        "all_chat_administrators",
        "chat",
        "chat_administrators",
        "chat_member",
    }
)
DEFAULT_FAULT_DESCRIPTIONS = {
    400: "Bad Request: chat not found",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    404: "Not Found",
    409: "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}
_GONE = 499  # recorded status of a request whose client left before it was processed


# -- errors ---------------------------------------------------------------------------------


class ApiError(Exception):
    """An error answer: `status` is both the HTTP status and `error_code`."""

    def __init__(
        self,
        status: int,
        description: str,
        *,
        retry_after: int | None = None,
        migrate_to_chat_id: int | None = None,
    ) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.retry_after = retry_after
        self.migrate_to_chat_id = migrate_to_chat_id

    def payload(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.status,
            "description": self.description,
        }
        parameters: dict[str, int] = {}
        if self.retry_after is not None:
            parameters["retry_after"] = self.retry_after
        if self.migrate_to_chat_id is not None:
            parameters["migrate_to_chat_id"] = self.migrate_to_chat_id
        if parameters:
            body["parameters"] = parameters
        return body


def bad_request(message: str) -> ApiError:
    return ApiError(400, f"Bad Request: {message}")


class EntityParseError(Exception):
    """A parse_mode error; the message is tdlib's, after "can't parse entities: "."""


# -- simulated people and chats -------------------------------------------------------------


@dataclass
class SimUser:
    id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = "en"
    is_bot: bool = False
    is_premium: bool = False
    deactivated: bool = False

    def to_api(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "is_bot": self.is_bot, "first_name": self.first_name}
        for key in ("last_name", "username", "language_code"):
            if getattr(self, key):
                data[key] = getattr(self, key)
        if self.is_premium:
            data["is_premium"] = True
        return data


@dataclass
class SimChat:
    id: int
    type: str  # "private" | "group" | "supergroup" | "channel"
    title: str | None = None
    username: str | None = None
    user: SimUser | None = None  # the other side of a private chat
    members: dict[int, str] = field(default_factory=dict)  # user id -> status
    bot_status: str = "member"  # the bot's own status in a group or channel
    blocked: bool = False  # private: the user blocked the bot; groups: the bot was removed
    migrated_to: int | None = None
    is_forum: bool = False

    @property
    def is_private(self) -> bool:
        return self.type == "private"

    def to_api(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "type": self.type}
        if self.is_private and self.user is not None:
            data["first_name"] = self.user.first_name
            if self.user.last_name:
                data["last_name"] = self.user.last_name
            if self.user.username:
                data["username"] = self.user.username
            return data
        data["title"] = self.title or ""
        if self.username:
            data["username"] = self.username
        if self.is_forum:
            data["is_forum"] = True
        return data


# -- records ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class MessageVersion:
    """The content of a bot message at one time (the original or after an edit)."""

    method: str
    text: str | None
    caption: str | None
    parse_mode: str | None
    plain: str | None  # text or caption as shown: markup parsed, trimmed
    entities: tuple[tuple[tuple[str, Any], ...], ...]
    photo_file_id: str | None
    document_name: str | None
    document_file_id: str | None
    reply_markup: dict[str, Any] | None
    date: int


@dataclass(eq=False)
class SentMessage:
    """A message the bot sent, as it is now; `versions` holds what it was before edits."""

    chat_id: int
    message_id: int
    method: str
    text: str | None = None  # as sent (with its markup); None for media messages
    caption: str | None = None  # as sent
    parse_mode: str | None = None
    photo_file_id: str | None = None  # the largest PhotoSize's file_id
    document_name: str | None = None
    reply_markup: dict[str, Any] | None = None  # parsed; any keyboard type
    uploaded: bool = False  # the photo/document came as bytes, not a file_id
    plain: str | None = None  # text or caption as the user sees it
    entities: list[dict[str, Any]] = field(default_factory=list)
    photo: list[dict[str, Any]] | None = None  # PhotoSize dicts, smallest first
    document: dict[str, Any] | None = None
    invoice: dict[str, Any] | None = None
    date: int = 0
    edit_date: int | None = None
    reply_to_message_id: int | None = None
    deleted: bool = False
    versions: list[MessageVersion] = field(default_factory=list)  # earlier ones, oldest first
    params: dict[str, Any] = field(default_factory=dict)  # every parameter of the request

    @property
    def edited(self) -> bool:
        return bool(self.versions)

    @property
    def document_file_id(self) -> str | None:
        return self.document["file_id"] if self.document else None

    @property
    def buttons(self) -> list[dict[str, Any]]:
        """The inline keyboard's buttons, row by row."""
        rows = (self.reply_markup or {}).get("inline_keyboard") or []
        return [button for row in rows for button in row]

    @property
    def callback_data(self) -> list[str]:
        return [b["callback_data"] for b in self.buttons if "callback_data" in b]

    def button(self, text: str) -> dict[str, Any]:
        """The inline button labelled `text` (exact match, else the only one containing it)."""
        exact = [b for b in self.buttons if b.get("text") == text]
        found = exact or [b for b in self.buttons if text in str(b.get("text", ""))]
        if len(found) != 1:
            labels = [b.get("text") for b in self.buttons]
            raise LookupError(f"no single button {text!r} in message {self.message_id}: {labels}")
        return found[0]

    def snapshot(self) -> MessageVersion:
        return MessageVersion(
            method=self.method,
            text=self.text,
            caption=self.caption,
            parse_mode=self.parse_mode,
            plain=self.plain,
            entities=tuple(tuple(sorted(e.items())) for e in self.entities),
            photo_file_id=self.photo_file_id,
            document_name=self.document_name,
            document_file_id=self.document_file_id,
            reply_markup=self.reply_markup,
            date=self.edit_date or self.date,
        )


@dataclass
class Edit:
    method: str
    chat_id: int
    message_id: int
    before: MessageVersion
    after: MessageVersion
    message: SentMessage


@dataclass
class Upload:
    """File bytes the bot uploaded (photo or document)."""

    method: str
    kind: str  # "photo" | "document"
    chat_id: int
    file_name: str
    size: int
    file_id: str
    mime_type: str | None = None
    width: int | None = None
    height: int | None = None


@dataclass
class RequestRecord:
    method: str  # canonical name when known, else as requested
    status: int  # HTTP status answered (499: the client left before it was processed)
    chat_id: Any = None
    description: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    files: tuple[str, ...] = ()
    via: str = "http"  # or "webhook" for a method answered in a webhook response
    at: float = 0.0  # monotonic


@dataclass
class CallbackAnswer:
    callback_query_id: str
    update_id: int
    text: str | None = None
    show_alert: bool = False
    url: str | None = None
    cache_time: int | None = None


@dataclass
class PreCheckoutAnswer:
    pre_checkout_query_id: str
    update_id: int
    ok: bool
    error_message: str | None = None


@dataclass
class WebhookDelivery:
    update_id: int
    status: int | None  # None: connection error
    error: str | None = None


@dataclass
class StoredFile:
    file_id: str
    file_unique_id: str
    kind: str  # "photo" | "document"
    content: bytes
    file_path: str
    file_name: str | None = None
    mime_type: str | None = None
    width: int | None = None
    height: int | None = None

    @property
    def file_size(self) -> int:
        return len(self.content)


@dataclass
class RateLimits:
    """Telegram's published limits; `scale` multiplies every rate (and the global burst)."""

    enabled: bool = True
    scale: float = 1.0
    global_per_second: float = 30.0
    private_per_second: float = 1.0
    private_burst: float = 3.0
    group_per_minute: float = 20.0
    group_burst: float = 20.0

    def for_chat(self, chat: SimChat) -> tuple[float, float]:
        """(tokens per second, capacity) of the chat's bucket."""
        if chat.is_private:
            return self.private_per_second * self.scale, self.private_burst
        return self.group_per_minute / 60.0 * self.scale, self.group_burst

    def overall(self) -> tuple[float, float]:
        rate = self.global_per_second * self.scale
        return rate, max(1.0, rate)


class _Bucket:
    __slots__ = ("stamp", "tokens")

    def __init__(self, capacity: float, now: float) -> None:
        self.tokens = capacity
        self.stamp = now

    def wait(self, rate: float, capacity: float, now: float) -> float:
        """Seconds until one token is available (0 if one is)."""
        self.tokens = min(capacity, self.tokens + (now - self.stamp) * rate)
        self.stamp = now
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / rate


@dataclass
class _Fault:
    method: str  # lower-case method name or "*"
    status: int
    description: str
    retry_after: int | None
    chat_id: int | None
    times: int
    delay: float
    body: str | None
    disconnect: bool
    processed: bool


@dataclass
class _Delay:
    seconds: float
    method: str  # lower-case or "*"
    times: int | None
    after: bool


@dataclass
class _Part:
    filename: str
    content: bytes
    content_type: str | None = None


@dataclass
class _Webhook:
    url: str
    secret_token: str | None
    allowed_updates: list[str] | None
    max_connections: int
    last_error_date: int | None = None
    last_error_message: str | None = None


@dataclass
class _Query:
    update_id: int
    answered: bool = False


class _Described:
    """A result with the `description` Telegram adds to some answers (setWebhook…)."""

    def __init__(self, result: Any, description: str) -> None:
        self.result = result
        self.description = description


# -- the server -------------------------------------------------------------------------------


class TelegramServer:
    """The Bot API app plus its state; `async with TelegramServer() as server:` serves it."""

    def __init__(
        self,
        *,
        token: str = DEFAULT_TOKEN,
        bot_username: str = "pulsewave_bot",
        bot_name: str = "PulseWave",
        rate_limits: RateLimits | bool = True,
        rate_scale: float | None = None,
        privacy_mode: bool = True,
        auto_chats: bool = False,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        webhook_retry_delay: float = 0.05,
        webhook_timeout: float = 10.0,
        webhook_https_only: bool = False,
        host: str = "127.0.0.1",
    ) -> None:
        left, sep, right = token.partition(":")
        if not sep or not left.isdigit() or not right:
            raise ValueError(f"not a bot token: {token!r}")
        self.token = token
        self.bot_id = int(left)
        self.bot_username = bot_username
        self.bot_name = bot_name
        if isinstance(rate_limits, bool):
            rate_limits = RateLimits(enabled=rate_limits)
        if rate_scale is not None:
            rate_limits.scale = rate_scale
        self.rate_limits = rate_limits
        self.privacy_mode = privacy_mode
        self.auto_chats = auto_chats  # unknown chat ids become chats of new simulated users
        self.clock = clock
        self.wall_clock = wall_clock
        self.webhook_retry_delay = webhook_retry_delay
        self.webhook_timeout = webhook_timeout
        self.webhook_https_only = webhook_https_only
        self.host = host
        self.port = 0

        # people and chats
        self.users: dict[int, SimUser] = {}
        self.chats: dict[int, SimChat] = {}
        # records
        self.sent: list[SentMessage] = []
        self.edits: list[Edit] = []
        self.deleted: list[tuple[int, int]] = []
        self.uploads: list[Upload] = []
        self.requests: list[RequestRecord] = []
        self.received: list[dict[str, Any]] = []  # messages of simulated users
        self.updates: dict[int, dict[str, Any]] = {}  # every update queued, by id
        self.commands: dict[tuple[str, str], list[dict[str, str]]] = {}
        self.bot_texts: dict[tuple[str, str], str] = {}  # (name|description|short, lang)
        self.menu_buttons: dict[int | None, dict[str, Any]] = {}
        self.callback_answers: list[CallbackAnswer] = []
        self.pre_checkout_answers: list[PreCheckoutAnswer] = []
        self.refunds: list[tuple[int, str]] = []
        self.chat_actions: list[tuple[int, str]] = []
        self.webhook_deliveries: list[WebhookDelivery] = []
        self.too_many_requests = 0  # 429 answers sent (rate limits and injected ones)
        self.too_many_requests_by_chat: Counter[Any] = Counter()
        self.listeners: list[Callable[[SentMessage], None]] = []  # called on sends and edits
        self.webhook: _Webhook | None = None

        self._by_chat: dict[int, list[SentMessage]] = {}
        self._messages: dict[tuple[int, int], SentMessage | dict[str, Any]] = {}
        self._next_message_id: dict[int, int] = {}
        self._files: dict[str, StoredFile] = {}
        self._files_by_path: dict[str, StoredFile] = {}
        self._photo_sizes: dict[str, list[dict[str, Any]]] = {}
        self._file_counter = itertools.count(1)
        self._update_ids = itertools.count(100_000_001)
        self._query_ids = itertools.count(4_000_000_000_000_001)
        self._pending: deque[dict[str, Any]] = deque()
        self._allowed_updates: list[str] | None = None
        self._poller: asyncio.Future[str] | None = None
        self._callback_queries: dict[str, _Query] = {}
        self._pre_checkouts: dict[str, _Query] = {}
        self._payments: set[tuple[int, str]] = set()
        self._buckets: dict[int, _Bucket] = {}
        self._global_bucket: _Bucket | None = None
        self._faults: list[_Fault] = []
        self._delays: list[_Delay] = []
        self._inflight = 0
        self._last_activity = time.monotonic()
        self._changed = asyncio.Event()
        self._waiters = 0
        self._closing = asyncio.Event()
        self._webhook_wake = asyncio.Event()
        self._webhook_task: asyncio.Task[None] | None = None
        self._runner: web.AppRunner | None = None
        self._methods: dict[str, tuple[str, Callable[..., Any]]] = {
            name.lower(): (name, handler)
            for name, handler in {
                "getMe": self._get_me,
                "logOut": self._log_out,
                "close": self._close,
                "getUpdates": self._get_updates,
                "setWebhook": self._set_webhook,
                "deleteWebhook": self._delete_webhook,
                "getWebhookInfo": self._get_webhook_info,
                "sendMessage": self._send_message,
                "sendPhoto": self._send_photo,
                "sendDocument": self._send_document,
                "sendChatAction": self._send_chat_action,
                "sendInvoice": self._send_invoice,
                "editMessageText": self._edit_message_text,
                "editMessageCaption": self._edit_message_caption,
                "editMessageMedia": self._edit_message_media,
                "editMessageReplyMarkup": self._edit_message_reply_markup,
                "deleteMessage": self._delete_message,
                "answerCallbackQuery": self._answer_callback_query,
                "answerPreCheckoutQuery": self._answer_pre_checkout_query,
                "refundStarPayment": self._refund_star_payment,
                "setMyCommands": self._set_my_commands,
                "getMyCommands": self._get_my_commands,
                "deleteMyCommands": self._delete_my_commands,
                "setMyName": self._set_bot_text("name", 64),
                "getMyName": self._get_bot_text("name"),
                "setMyDescription": self._set_bot_text("description", 512),
                "getMyDescription": self._get_bot_text("description"),
                "setMyShortDescription": self._set_bot_text("short_description", 120),
                "getMyShortDescription": self._get_bot_text("short_description"),
                "setChatMenuButton": self._set_chat_menu_button,
                "getChatMenuButton": self._get_chat_menu_button,
                "getChat": self._get_chat,
                "getChatMember": self._get_chat_member,
                "getChatAdministrators": self._get_chat_administrators,
                "getFile": self._get_file,
            }.items()
        }

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def bot_user(self) -> dict[str, Any]:
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": self.bot_name,
            "username": self.bot_username,
        }

    def app(self) -> web.Application:
        app = web.Application(client_max_size=UPLOAD_LIMIT + 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._download)
        app.router.add_post("/_control/message", self._control_message)
        app.router.add_post("/_control/press", self._control_press)
        app.router.add_post("/_control/fault", self._control_fault)
        app.router.add_post("/_control/block", self._control_block)
        app.router.add_get("/_control/sent", self._control_sent)
        app.router.add_route("*", "/{tail:.*}", self._not_found)
        return app

    async def start(self, port: int = 0) -> str:
        self._closing.clear()
        self._runner = web.AppRunner(self.app(), access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self.base_url

    async def stop(self) -> None:
        self._closing.set()
        self._wake_poller("closing")
        if self._webhook_task is not None:
            self._webhook_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._webhook_task
            self._webhook_task = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> TelegramServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def api_server(self) -> Any:
        """aiogram's `TelegramAPIServer` for this server."""
        from aiogram.client.telegram import TelegramAPIServer

        return TelegramAPIServer.from_base(self.base_url)

    def make_bot(self, token: str | None = None, **kwargs: Any) -> Bot:
        """A real aiogram `Bot` talking to this server (close its session when done)."""
        from aiogram import Bot
        from aiogram.client.session.aiohttp import AiohttpSession

        session = AiohttpSession(api=self.api_server())
        return Bot(token or self.token, session=session, **kwargs)

    # -- simulated people and chats -------------------------------------------------------------

    def user(
        self,
        id: int,
        first_name: str | None = None,
        *,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "en",
        is_premium: bool = False,
    ) -> SimUser:
        """A simulated Telegram user (created, or updated if the id exists)."""
        if id <= 0:
            raise ValueError("user ids are positive")
        user = SimUser(
            id,
            first_name or f"User {id}",
            last_name=last_name,
            username=username,
            language_code=language_code,
            is_premium=is_premium,
        )
        self.users[id] = user
        if id in self.chats:
            self.chats[id].user = user
        return user

    def private_chat(self, user: SimUser | int) -> SimChat:
        """The user's private chat with the bot (the user has pressed Start)."""
        user = self._sim_user(user)
        chat = self.chats.get(user.id)
        if chat is None:
            chat = self.chats[user.id] = SimChat(user.id, "private", user=user)
        return chat

    def group(
        self,
        id: int,
        title: str = "Test group",
        members: dict[int, str] | None = None,
        *,
        kind: str = "group",
        username: str | None = None,
        bot_status: str = "member",
        is_forum: bool = False,
    ) -> SimChat:
        """A group, supergroup or channel the bot is in; `members` maps user ids (created if
        unknown) to "creator" | "administrator" | "member" | "restricted" | "left" | "kicked"."""
        if id >= 0:
            raise ValueError("group and channel ids are negative (supergroups: -100…)")
        if kind not in ("group", "supergroup", "channel"):
            raise ValueError(f"unknown chat kind {kind!r}")
        for user_id in members or {}:
            if user_id not in self.users:
                self.user(user_id)
        chat = SimChat(
            id,
            kind,
            title=title,
            username=username,
            members=dict(members or {}),
            bot_status=bot_status,
            is_forum=is_forum,
        )
        self.chats[id] = chat
        return chat

    def add_member(self, chat_id: int, user: SimUser | int, status: str = "member") -> None:
        self.chats[chat_id].members[self._sim_user(user).id] = status

    def block_chat(self, chat_id: int) -> None:
        """The user blocks the bot (private) or the bot is removed (groups): sends get 403."""
        self._known_chat(chat_id).blocked = True

    def unblock_chat(self, chat_id: int) -> None:
        self._known_chat(chat_id).blocked = False

    def deactivate_user(self, user_id: int) -> None:
        """The account is deleted: sends to its private chat get 403 "user is deactivated"."""
        self.users[user_id].deactivated = True

    def migrate_group(self, chat_id: int, new_id: int) -> SimChat:
        """Upgrade a group to a supergroup: sends to the old id get 400 with
        `migrate_to_chat_id` (aiogram's `TelegramMigrateToChat`)."""
        old = self._known_chat(chat_id)
        new = self.group(
            new_id,
            old.title or "",
            old.members,
            kind="supergroup",
            username=old.username,
            bot_status=old.bot_status,
        )
        old.migrated_to = new_id
        return new

    def _sim_user(self, user: SimUser | int) -> SimUser:
        if isinstance(user, SimUser):
            self.users.setdefault(user.id, user)
            return user
        return self.users.get(user) or self.user(user)

    def _known_chat(self, chat_id: int) -> SimChat:
        chat = self.chats.get(chat_id)
        if chat is None:
            if chat_id in self.users:
                return self.private_chat(chat_id)
            raise KeyError(f"no chat {chat_id}; create it with private_chat() or group()")
        return chat

    # -- incoming updates ---------------------------------------------------------------------

    async def send_text(
        self,
        user: SimUser | int,
        text: str,
        chat: SimChat | int | None = None,
        *,
        reply_to: SentMessage | int | None = None,
    ) -> int | None:
        """The user sends `text` (to their private chat by default); returns the update_id,
        or None if a group message would not reach a bot in privacy mode."""
        sim = self._sim_user(user)
        target = self._incoming_chat(sim, chat)
        message = self._incoming_message(sim, target, reply_to)
        message["text"] = text
        entities = detect_entities(text)
        if entities:
            message["entities"] = entities
        if not self._reaches_bot(target, text, message):
            return None
        return self._queue_message(message)

    async def send_document(
        self,
        user: SimUser | int,
        filename: str,
        content: bytes,
        caption: str | None = None,
        *,
        chat: SimChat | int | None = None,
        mime_type: str | None = None,
    ) -> int | None:
        """The user sends a file; the bot can fetch it with getFile + the file route."""
        sim = self._sim_user(user)
        target = self._incoming_chat(sim, chat)
        mime = mime_type or mimetypes.guess_type(filename)[0] or "application/octet-stream"
        stored = self._store_file("document", content, file_name=filename, mime_type=mime)
        message = self._incoming_message(sim, target, None)
        message["document"] = self._document_api(stored)
        if caption:
            message["caption"] = caption
        if not self._reaches_bot(target, caption or "", message):
            return None
        return self._queue_message(message)

    async def send_photo(
        self,
        user: SimUser | int,
        content: bytes,
        caption: str | None = None,
        *,
        chat: SimChat | int | None = None,
    ) -> int | None:
        """The user sends a photo (PNG or JPEG bytes)."""
        sim = self._sim_user(user)
        target = self._incoming_chat(sim, chat)
        width, height = image_size(content)
        sizes = self._store_photo(content, width, height)
        message = self._incoming_message(sim, target, None)
        message["photo"] = sizes
        if caption:
            message["caption"] = caption
        if not self._reaches_bot(target, caption or "", message):
            return None
        return self._queue_message(message)

    async def press_button(
        self,
        user: SimUser | int,
        message: SentMessage | tuple[int, int],
        callback_data: str | None = None,
        *,
        text: str | None = None,
    ) -> int:
        """The user presses an inline button of the bot's `message` (by callback_data, or by
        its label with `text=`); returns the update_id. The button must exist."""
        sim = self._sim_user(user)
        if isinstance(message, tuple):
            found = self._messages.get(message)
            if not isinstance(found, SentMessage):
                raise LookupError(f"the bot sent no message {message}")
            message = found
        if message.deleted:
            raise LookupError(f"message {message.message_id} was deleted")
        if text is not None:
            callback_data = message.button(text).get("callback_data")
        if callback_data is None or callback_data not in message.callback_data:
            raise LookupError(
                f"no button with callback_data {callback_data!r} in message "
                f"{message.message_id}: {message.callback_data}"
            )
        chat = self.chats[message.chat_id]
        query_id = str(next(self._query_ids))
        update_id = self._queue_update(
            "callback_query",
            {
                "id": query_id,
                "from": sim.to_api(),
                "message": self._message_api(message),
                "chat_instance": str((chat.id * 2654435761) & 0x7FFFFFFFFFFFFFFF),
                "data": callback_data,
            },
        )
        self._callback_queries[query_id] = _Query(update_id)
        return update_id

    async def pre_checkout(
        self,
        user: SimUser | int,
        *,
        total_amount: int,
        payload: str,
        currency: str = "XTR",
    ) -> int:
        """The user confirms a payment: a pre_checkout_query the bot must answer."""
        sim = self._sim_user(user)
        query_id = str(next(self._query_ids))
        update_id = self._queue_update(
            "pre_checkout_query",
            {
                "id": query_id,
                "from": sim.to_api(),
                "currency": currency,
                "total_amount": total_amount,
                "invoice_payload": payload,
            },
        )
        self._pre_checkouts[query_id] = _Query(update_id)
        return update_id

    async def successful_payment(
        self,
        user: SimUser | int,
        *,
        total_amount: int,
        payload: str,
        currency: str = "XTR",
        charge_id: str | None = None,
        chat: SimChat | int | None = None,
    ) -> int:
        """The payment went through: a message with `successful_payment`."""
        sim = self._sim_user(user)
        target = self._incoming_chat(sim, chat)
        charge = charge_id or f"stxLocal{next(self._file_counter):010d}"
        self._payments.add((sim.id, charge))
        message = self._incoming_message(sim, target, None)
        message["successful_payment"] = {
            "currency": currency,
            "total_amount": total_amount,
            "invoice_payload": payload,
            "telegram_payment_charge_id": charge,
            "provider_payment_charge_id": "" if currency == "XTR" else f"prv_{charge}",
        }
        return self._queue_message(message)

    def _incoming_chat(self, user: SimUser, chat: SimChat | int | None) -> SimChat:
        if chat is None:
            return self.private_chat(user)
        target = chat if isinstance(chat, SimChat) else self._known_chat(chat)
        if not target.is_private and user.id not in target.members:
            target.members[user.id] = "member"
        return target

    def _incoming_message(
        self, user: SimUser, chat: SimChat, reply_to: SentMessage | int | None
    ) -> dict[str, Any]:
        message: dict[str, Any] = {
            "message_id": self._take_message_id(chat.id),
            "from": user.to_api(),
            "chat": chat.to_api(),
            "date": int(self.wall_clock()),
        }
        if reply_to is not None:
            key = (chat.id, reply_to if isinstance(reply_to, int) else reply_to.message_id)
            replied = self._messages.get(key)
            if replied is None:
                raise LookupError(f"no message {key} to reply to")
            message["reply_to_message"] = (
                self._message_api(replied) if isinstance(replied, SentMessage) else replied
            )
        return message

    def _reaches_bot(self, chat: SimChat, text: str, message: dict[str, Any]) -> bool:
        """Privacy mode: in groups the bot only gets commands meant for it and replies to it."""
        if chat.is_private or not self.privacy_mode or chat.bot_status in ADMIN_STATUSES:
            return True
        match = re.match(r"/[A-Za-z0-9_]+(?:@([A-Za-z0-9_]+))?", text)
        if match and (match[1] is None or match[1].lower() == self.bot_username.lower()):
            return True
        replied = message.get("reply_to_message", {})
        return replied.get("from", {}).get("id") == self.bot_id

    def _queue_message(self, message: dict[str, Any]) -> int:
        chat_id = message["chat"]["id"]
        self._messages[(chat_id, message["message_id"])] = message
        self.received.append(message)
        return self._queue_update("message", message)

    def _queue_update(self, kind: str, payload: dict[str, Any]) -> int:
        update_id = next(self._update_ids)
        update = {"update_id": update_id, kind: payload}
        self.updates[update_id] = update
        self._pending.append(update)
        self._wake_poller("update")
        self._webhook_wake.set()
        self._notify()
        return update_id

    @property
    def pending_updates(self) -> int:
        """Updates queued and not yet confirmed (getUpdates offset) or delivered (webhook)."""
        return len(self._pending)

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

    # -- HTTP ------------------------------------------------------------------------------------

    async def _not_found(self, request: web.Request) -> web.Response:
        return _json(ApiError(404, "Not Found").payload(), 404)

    async def _api(self, request: web.Request) -> web.StreamResponse:
        requested = request.match_info["method"]
        known = self._methods.get(requested.lower())
        name = known[0] if known else requested
        if request.match_info["token"] != self.token:
            self._record(RequestRecord(name, 401, description="Unauthorized"))
            return _json(ApiError(401, "Unauthorized").payload(), 401)
        if known is None:
            self._record(RequestRecord(name, 404, description="Not Found"))
            return _json(ApiError(404, "Not Found").payload(), 404)
        long_poll = name == "getUpdates"
        if not long_poll:
            self._inflight += 1
        try:
            try:
                params, files = await _read_params(request)
            except ApiError as error:
                self._record(RequestRecord(name, error.status, description=error.description))
                return _json(error.payload(), error.status)
            chat_id = params.get("chat_id")
            record = RequestRecord(
                name, 200, chat_id, params=params, files=tuple(files), at=time.monotonic()
            )
            fault = self._take_fault(name, chat_id)
            if fault is not None and not fault.processed:
                return await self._answer_fault(request, record, fault, recorded=False)
            delay = self._take_delay(name)
            if delay is not None and not delay.after:
                await self._pause(delay.seconds)
                if request.transport is None or request.transport.is_closing():
                    record.status, record.description = _GONE, "client left before processing"
                    self._record(record)
                    return web.Response(status=_GONE)
            status, payload = await self._call(name, params, files, record)
            if delay is not None and delay.after:
                await self._pause(delay.seconds)
            if fault is not None:
                return await self._answer_fault(request, record, fault, recorded=True)
            return _json(payload, status)
        finally:
            if not long_poll:
                self._inflight -= 1
            self._last_activity = time.monotonic()
            self._notify()

    async def _call(
        self,
        name: str,
        params: dict[str, Any],
        files: dict[str, _Part],
        record: RequestRecord,
    ) -> tuple[int, dict[str, Any]]:
        """Run a method; records the call; returns (HTTP status, JSON body)."""
        handler = self._methods[name.lower()][1]
        try:
            result = handler(params, files)
            if inspect.isawaitable(result):
                result = await result
            if isinstance(result, _Described):
                payload = {"ok": True, "result": result.result, "description": result.description}
            else:
                payload = {"ok": True, "result": result}
            status = 200
        except ApiError as error:
            payload, status = error.payload(), error.status
            record.description = error.description
        record.status = status
        self._record(record)
        return status, payload

    async def _answer_fault(
        self, request: web.Request, record: RequestRecord, fault: _Fault, *, recorded: bool
    ) -> web.StreamResponse:
        """Answer with an injected fault; a `processed` one replaces the recorded outcome."""
        if fault.delay:
            await self._pause(fault.delay)
        if recorded:  # the call took effect; its recorded outcome is replaced
            self._count_429(record, -1)
        record.status, record.description = fault.status, fault.description
        if fault.disconnect:
            record.status, record.description = 0, "connection dropped"
        if recorded:
            self._count_429(record, +1)
        else:
            self._record(record)
        if fault.disconnect:
            if request.transport is not None:
                request.transport.close()
            return web.Response(status=500)
        if fault.body is not None:
            return web.Response(status=fault.status, text=fault.body, content_type="text/html")
        error = ApiError(fault.status, fault.description, retry_after=fault.retry_after)
        return _json(error.payload(), fault.status)

    def _record(self, record: RequestRecord) -> None:
        if not record.at:
            record.at = time.monotonic()
        self.requests.append(record)
        self._count_429(record, +1)

    def _count_429(self, record: RequestRecord, step: int) -> None:
        if record.status == 429:
            self.too_many_requests += step
            self.too_many_requests_by_chat[_chat_key(record.chat_id)] += step

    async def _download(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return _json(ApiError(401, "Unauthorized").payload(), 401)
        stored = self._files_by_path.get(request.match_info["path"])
        if stored is None:
            return _json(ApiError(404, "Not Found").payload(), 404)
        return web.Response(
            body=stored.content, content_type=stored.mime_type or "application/octet-stream"
        )

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

    # -- parameters ------------------------------------------------------------------------------

    def _chat(self, params: dict[str, Any]) -> SimChat:
        raw = params.get("chat_id")
        if raw is None or raw == "":
            raise bad_request("chat_id is empty")
        chat: SimChat | None = None
        if isinstance(raw, str) and raw.startswith("@"):
            wanted = raw[1:].lower()
            chat = next(
                (c for c in self.chats.values() if (c.username or "").lower() == wanted), None
            )
            if chat is None:
                raise bad_request("chat not found")
            return chat
        try:
            chat_id = int(raw)
        except (TypeError, ValueError):
            raise bad_request("chat not found") from None
        chat = self.chats.get(chat_id)
        if chat is None:
            if chat_id > 0 and chat_id in self.users:
                raise ApiError(403, "Forbidden: bot can't initiate conversation with a user")
            if not self.auto_chats or chat_id == 0:
                raise bad_request("chat not found")
            chat = self.private_chat(chat_id) if chat_id > 0 else self.group(chat_id)
        if chat.migrated_to is not None:
            raise ApiError(
                400,
                "Bad Request: group chat was upgraded to a supergroup chat",
                migrate_to_chat_id=chat.migrated_to,
            )
        return chat

    def _writable_chat(self, params: dict[str, Any]) -> SimChat:
        """The target chat of a send or edit, which the bot must be allowed to write to."""
        chat = self._chat(params)
        if chat.is_private:
            if chat.user is not None and chat.user.deactivated:
                raise ApiError(403, "Forbidden: user is deactivated")
            if chat.blocked:
                raise ApiError(403, "Forbidden: bot was blocked by the user")
        elif chat.blocked or chat.bot_status in ("left", "kicked"):
            if chat.type == "channel":
                raise ApiError(403, "Forbidden: bot is not a member of the channel chat")
            raise ApiError(403, f"Forbidden: bot was kicked from the {chat.type} chat")
        return chat

    def _throttle(self, chat: SimChat) -> None:
        limits = self.rate_limits
        if not limits.enabled:
            return
        now = self.clock()
        rate, capacity = limits.for_chat(chat)
        overall_rate, overall_capacity = limits.overall()
        bucket = self._buckets.get(chat.id)
        if bucket is None:
            bucket = self._buckets[chat.id] = _Bucket(capacity, now)
        if self._global_bucket is None:
            self._global_bucket = _Bucket(overall_capacity, now)
        wait = max(
            bucket.wait(rate, capacity, now),
            self._global_bucket.wait(overall_rate, overall_capacity, now),
        )
        if wait > 0:
            retry_after = max(1, math.ceil(wait - 1e-9))
            raise ApiError(
                429, f"Too Many Requests: retry after {retry_after}", retry_after=retry_after
            )
        bucket.tokens -= 1
        self._global_bucket.tokens -= 1

    def reset_rate_limits(self) -> None:
        self._buckets.clear()
        self._global_bucket = None

    def _formatted(
        self,
        text: str,
        params: dict[str, Any],
        *,
        mode_key: str,
        entities_key: str,
        limit: int,
        caption: bool,
    ) -> tuple[str, list[dict[str, Any]]]:
        if params.get(entities_key):  # explicit entities: parse_mode is ignored
            given = _json_value(params, entities_key, "can't parse entities JSON object")
            if not isinstance(given, list) or not all(isinstance(e, dict) for e in given):
                raise bad_request("can't parse entities JSON object")
            plain, entities = text.replace("\r", ""), [dict(e) for e in given]
        else:
            try:
                plain, entities = parse_entities(text, _str(params, mode_key))
            except EntityParseError as error:
                raise bad_request(f"can't parse entities: {error}") from None
        plain, entities = _trim(plain, entities)
        length = utf16_len(plain)
        if caption:
            if length > limit:
                raise bad_request("message caption is too long")
        elif length == 0:
            raise bad_request("message text is empty")
        elif length > limit:
            raise bad_request("message is too long")
        return plain, entities

    def _reply_markup(self, params: dict[str, Any], *, inline_only: bool = False) -> Any:
        raw = params.get("reply_markup")
        if raw is None or raw == "":
            return None
        markup = _json_value(
            params, "reply_markup", "can't parse reply keyboard markup JSON object"
        )
        if not isinstance(markup, dict):
            raise bad_request("can't parse reply keyboard markup JSON object")
        if "inline_keyboard" in markup:
            _check_inline_keyboard(markup["inline_keyboard"])
            return markup if any(markup["inline_keyboard"]) else None
        if inline_only:
            raise bad_request("inline keyboard expected")
        if "keyboard" in markup:
            rows = markup["keyboard"]
            if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
                raise bad_request('field "keyboard" must be an Array of Arrays')
            for button in itertools.chain.from_iterable(rows):
                label = button if isinstance(button, str) else (button or {}).get("text")
                if not isinstance(label, str) or not label:
                    raise bad_request("keyboard button text must be non-empty")
            return markup
        if markup.get("remove_keyboard") or markup.get("force_reply"):
            return markup
        raise bad_request("can't parse reply keyboard markup JSON object")

    def _reply_to(self, chat: SimChat, params: dict[str, Any]) -> int | None:
        message_id = _int(params, "reply_to_message_id")
        allow_missing = _bool(params, "allow_sending_without_reply")
        if params.get("reply_parameters"):
            reply = _json_value(params, "reply_parameters", "can't parse reply parameters")
            if not isinstance(reply, dict) or "message_id" not in reply:
                raise bad_request("can't parse reply parameters")
            message_id = int(reply["message_id"])
            allow_missing = allow_missing or bool(reply.get("allow_sending_without_reply"))
            if reply.get("chat_id") not in (None, chat.id):
                raise bad_request("message to be replied not found")
        if message_id is None:
            return None
        found = self._messages.get((chat.id, message_id))
        if found is None or (isinstance(found, SentMessage) and found.deleted):
            if allow_missing:
                return None
            raise bad_request("message to be replied not found")
        return message_id

    def _input_file(self, params: dict[str, Any], files: dict[str, _Part], key: str) -> Any:
        """An uploaded `_Part`, a string (file_id or URL), or None."""
        raw = params.get(key)
        if isinstance(raw, str) and raw.startswith("attach://"):
            part = files.get(raw.removeprefix("attach://"))
            if part is None:
                raise bad_request(f"can't find attached file {raw!r}")
            return part
        if key in files:
            return files[key]
        if raw is None or raw == "":
            return None
        return str(raw)

    def _existing_file(self, reference: str, kind: str) -> StoredFile:
        if re.match(r"(?i)https?://", reference):
            raise bad_request("failed to get HTTP URL content")
        stored = self._files.get(reference)
        if stored is None:
            raise bad_request("wrong file identifier/HTTP URL specified")
        if stored.kind != kind:
            raise bad_request("type of file mismatch")
        return stored

    # -- messages --------------------------------------------------------------------------------

    def _take_message_id(self, chat_id: int) -> int:
        message_id = self._next_message_id.get(chat_id, 1)
        self._next_message_id[chat_id] = message_id + 1
        return message_id

    def _new_message(self, chat: SimChat, method: str, **fields: Any) -> SentMessage:
        message = SentMessage(
            chat_id=chat.id,
            message_id=self._take_message_id(chat.id),
            method=method,
            date=int(self.wall_clock()),
            **fields,
        )
        self.sent.append(message)
        self._by_chat.setdefault(chat.id, []).append(message)
        self._messages[(chat.id, message.message_id)] = message
        for listener in self.listeners:
            listener(message)
        return message

    def _message_api(self, message: SentMessage, *, with_reply: bool = True) -> dict[str, Any]:
        chat = self.chats[message.chat_id]
        data: dict[str, Any] = {"message_id": message.message_id}
        if chat.type == "channel":
            data["sender_chat"] = chat.to_api()
        else:
            data["from"] = self.bot_user
        data["chat"] = chat.to_api()
        data["date"] = message.date
        if message.edit_date is not None:
            data["edit_date"] = message.edit_date
        if with_reply and message.reply_to_message_id is not None:
            replied = self._messages.get((message.chat_id, message.reply_to_message_id))
            if isinstance(replied, SentMessage):
                data["reply_to_message"] = self._message_api(replied, with_reply=False)
            elif replied is not None:
                data["reply_to_message"] = {
                    k: v for k, v in replied.items() if k != "reply_to_message"
                }
        if message.text is not None:
            data["text"] = message.plain
            if message.entities:
                data["entities"] = message.entities
        if message.photo is not None:
            data["photo"] = message.photo
        if message.document is not None:
            data["document"] = message.document
        if message.text is None and message.plain:
            data["caption"] = message.plain
            if message.entities:
                data["caption_entities"] = message.entities
        if message.invoice is not None:
            data["invoice"] = message.invoice
        if message.reply_markup and "inline_keyboard" in message.reply_markup:
            data["reply_markup"] = message.reply_markup
        if message.params.get("protect_content") in (True, "true", "True", "1"):
            data["has_protected_content"] = True
        return data

    def _message_target(self, params: dict[str, Any]) -> SentMessage:
        if params.get("inline_message_id"):
            raise bad_request("MESSAGE_ID_INVALID")
        chat = self._writable_chat(params)
        message_id = _int(params, "message_id")
        if message_id is None:
            raise bad_request("message identifier is not specified")
        found = self._messages.get((chat.id, message_id))
        if found is None or (isinstance(found, SentMessage) and found.deleted):
            raise bad_request("message to edit not found")
        if not isinstance(found, SentMessage):
            raise bad_request("message can't be edited")
        return found

    def _apply_edit(self, message: SentMessage, method: str, **changes: Any) -> dict[str, Any]:
        before = message.snapshot()
        message.versions.append(before)
        for key, value in changes.items():
            setattr(message, key, value)
        message.edit_date = int(self.wall_clock())
        self.edits.append(
            Edit(method, message.chat_id, message.message_id, before, message.snapshot(), message)
        )
        for listener in self.listeners:
            listener(message)
        return self._message_api(message)

    # -- files -----------------------------------------------------------------------------------

    def _store_file(
        self,
        kind: str,
        content: bytes,
        *,
        file_name: str | None = None,
        mime_type: str | None = None,
        width: int | None = None,
        height: int | None = None,
    ) -> StoredFile:
        number = next(self._file_counter)
        digest = hashlib.sha1(f"{kind}:{number}".encode()).hexdigest()
        prefix = "AgACAgIAAxkBAAI" if kind == "photo" else "BQACAgIAAxkBAAI"
        extension = (
            ".jpg" if kind == "photo" else (mimetypes.guess_extension(mime_type or "") or "")
        )
        if kind == "document" and file_name and "." in file_name:
            extension = "." + file_name.rsplit(".", 1)[1]
        stored = StoredFile(
            file_id=f"{prefix}{number:08d}{digest[:24]}",
            file_unique_id=f"AQAD{number:08d}{digest[24:30]}",
            kind=kind,
            content=content,
            file_path=f"{'photos' if kind == 'photo' else 'documents'}/file_{number}{extension}",
            file_name=file_name,
            mime_type=mime_type,
            width=width,
            height=height,
        )
        self._files[stored.file_id] = stored
        self._files_by_path[stored.file_path] = stored
        return stored

    def _store_photo(self, content: bytes, width: int, height: int) -> list[dict[str, Any]]:
        sizes = []
        for side, (w, h) in photo_sizes(width, height):
            stored = self._store_file("photo", content, mime_type="image/jpeg", width=w, height=h)
            area = (w * h) / max(1, width * height)
            file_size = len(content) if side is None else max(1, int(len(content) * area))
            sizes.append(
                {
                    "file_id": stored.file_id,
                    "file_unique_id": stored.file_unique_id,
                    "width": w,
                    "height": h,
                    "file_size": file_size,
                }
            )
        for size in sizes:
            self._photo_sizes[size["file_id"]] = sizes
        return sizes

    @staticmethod
    def _document_api(stored: StoredFile) -> dict[str, Any]:
        data: dict[str, Any] = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": stored.file_size,
        }
        if stored.file_name:
            data["file_name"] = stored.file_name
        if stored.mime_type:
            data["mime_type"] = stored.mime_type
        return data

    def _photo_input(self, media: Any) -> tuple[Any, list[dict[str, Any]]]:
        """Validate a photo without storing it: ((width, height), []) for an upload,
        (None, its PhotoSizes) for a file_id."""
        if isinstance(media, _Part):
            if len(media.content) > PHOTO_LIMIT:
                raise ApiError(413, "Request Entity Too Large")
            try:
                width, height = image_size(media.content)
            except ValueError:
                raise bad_request("IMAGE_PROCESS_FAILED") from None
            if width + height > 10000 or max(width, height) > 20 * min(width, height):
                raise bad_request("PHOTO_INVALID_DIMENSIONS")
            return (width, height), []
        return None, self._photo_sizes[self._existing_file(media, "photo").file_id]

    def _commit_photo(
        self, media: Any, dims: Any, sizes: list[dict], method: str, chat: SimChat
    ) -> tuple[list[dict[str, Any]], bool]:
        if not isinstance(media, _Part):
            return sizes, False
        width, height = dims
        sizes = self._store_photo(media.content, width, height)
        self.uploads.append(
            Upload(
                method,
                "photo",
                chat.id,
                media.filename,
                len(media.content),
                sizes[-1]["file_id"],
                media.content_type,
                width,
                height,
            )
        )
        return sizes, True

    def _document_input(self, media: Any) -> StoredFile | None:
        """Validate a document: None for an upload (stored on commit), else the stored file."""
        if isinstance(media, _Part):
            if not media.content:
                raise bad_request("file must be non-empty")
            if len(media.content) > UPLOAD_LIMIT:
                raise ApiError(413, "Request Entity Too Large")
            return None
        return self._existing_file(media, "document")

    def _commit_document(
        self, media: Any, stored: StoredFile | None, method: str, chat: SimChat
    ) -> tuple[StoredFile, bool]:
        if stored is not None:
            return stored, False
        mime = (
            media.content_type
            if media.content_type and media.content_type != "application/octet-stream"
            else mimetypes.guess_type(media.filename)[0] or "application/octet-stream"
        )
        stored = self._store_file(
            "document", media.content, file_name=media.filename, mime_type=mime
        )
        self.uploads.append(
            Upload(
                method,
                "document",
                chat.id,
                media.filename,
                len(media.content),
                stored.file_id,
                mime,
            )
        )
        return stored, True

    # -- methods: bot and updates ---------------------------------------------------------------

    def _get_me(self, params: dict[str, Any], files: dict[str, _Part]) -> dict[str, Any]:
        return {
            **self.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": not self.privacy_mode,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    def _log_out(self, params: dict[str, Any], files: dict[str, _Part]) -> bool:
        return True

    def _close(self, params: dict[str, Any], files: dict[str, _Part]) -> bool:
        return True

    def _wanted(self, update: dict[str, Any], allowed: list[str] | None) -> bool:
        kind = next(k for k in update if k != "update_id")
        if not allowed:
            return kind not in DEFAULT_EXCLUDED_UPDATES
        return kind in allowed

    def _deliverable(self, limit: int, allowed: list[str] | None) -> list[dict[str, Any]]:
        if any(not self._wanted(u, allowed) for u in self._pending):
            self._pending = deque(u for u in self._pending if self._wanted(u, allowed))
        return list(itertools.islice(self._pending, limit))

    def _wake_poller(self, reason: str) -> None:
        if self._poller is not None and not self._poller.done():
            self._poller.set_result(reason)

    async def _get_updates(self, params: dict[str, Any], files: dict[str, _Part]) -> Any:
        if self.webhook is not None:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        offset = _int(params, "offset")
        limit = min(100, max(1, _int(params, "limit") or 100))
        timeout = max(0, _int(params, "timeout") or 0)
        if params.get("allowed_updates") not in (None, ""):
            allowed = _json_value(params, "allowed_updates", "can't parse allowed_updates")
            if not isinstance(allowed, list):
                raise bad_request("can't parse allowed_updates")
            self._allowed_updates = [str(a) for a in allowed]
        if offset is not None:
            if offset < 0:
                keep = -offset
                while len(self._pending) > keep:
                    self._pending.popleft()
            else:
                while self._pending and self._pending[0]["update_id"] < offset:
                    self._pending.popleft()
            self._notify()
        self._wake_poller("conflict")  # an earlier long poll ends as on Telegram
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            batch = self._deliverable(limit, self._allowed_updates)
            remaining = deadline - loop.time()
            if batch or remaining <= 0 or self._closing.is_set():
                if batch:
                    self._last_activity = time.monotonic()
                return batch
            poller: asyncio.Future[str] = loop.create_future()
            self._poller = poller
            try:
                reason = await asyncio.wait_for(poller, remaining)
            except TimeoutError:
                return []
            finally:
                if self._poller is poller:
                    self._poller = None
            if reason == "conflict":
                raise ApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; "
                    "make sure that only one bot instance is running",
                )
            if reason == "webhook":
                raise ApiError(409, "Conflict: terminated by setWebhook request")

    def _set_webhook(self, params: dict[str, Any], files: dict[str, _Part]) -> Any:
        url = _str(params, "url") or ""
        if not url:
            return self._delete_webhook(params, files)
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise bad_request("bad webhook: Wrong HTTP URL specified")
        if self.webhook_https_only:
            if parts.scheme != "https":
                raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
            if (parts.port or 443) not in (80, 88, 443, 8443):
                raise bad_request(
                    "bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443"
                )
        secret = _str(params, "secret_token")
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", secret):
            raise bad_request("secret token contains unallowed characters")
        allowed = None
        if params.get("allowed_updates") not in (None, ""):
            allowed = _json_value(params, "allowed_updates", "can't parse allowed_updates")
        max_connections = _int(params, "max_connections") or 40
        if not 1 <= max_connections <= 100:
            raise bad_request("bad webhook: max_connections must be between 1 and 100")
        if _bool(params, "drop_pending_updates"):
            self._pending.clear()
        unchanged = self.webhook is not None and self.webhook.url == url
        self.webhook = _Webhook(url, secret, allowed, max_connections)
        self._wake_poller("webhook")
        if self._webhook_task is None or self._webhook_task.done():
            self._webhook_task = asyncio.get_running_loop().create_task(self._webhook_loop())
        self._webhook_wake.set()
        return _Described(True, "Webhook is already set" if unchanged else "Webhook was set")

    def _delete_webhook(self, params: dict[str, Any], files: dict[str, _Part]) -> Any:
        if _bool(params, "drop_pending_updates"):
            self._pending.clear()
        existed = self.webhook is not None
        self.webhook = None
        self._webhook_wake.set()
        return _Described(True, "Webhook was deleted" if existed else "Webhook is already deleted")

    def _get_webhook_info(self, params: dict[str, Any], files: dict[str, _Part]) -> Any:
        info: dict[str, Any] = {
            "url": self.webhook.url if self.webhook else "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._pending),
        }
        if self.webhook is not None:
            info["max_connections"] = self.webhook.max_connections
            info["ip_address"] = "127.0.0.1"
            if self.webhook.allowed_updates is not None:
                info["allowed_updates"] = self.webhook.allowed_updates
            if self.webhook.last_error_date is not None:
                info["last_error_date"] = self.webhook.last_error_date
                info["last_error_message"] = self.webhook.last_error_message
        return info

    async def _webhook_loop(self) -> None:
        """Deliver pending updates to the webhook one at a time, in order, retrying."""
        timeout = aiohttp.ClientTimeout(total=self.webhook_timeout)
        failures = 0
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while not self._closing.is_set() and self.webhook is not None:
                hook = self.webhook
                batch = self._deliverable(1, hook.allowed_updates)
                if not batch:
                    self._webhook_wake.clear()
                    await self._webhook_wake.wait()
                    continue
                update = batch[0]
                headers = {}
                if hook.secret_token:
                    headers["X-Telegram-Bot-Api-Secret-Token"] = hook.secret_token
                status: int | None = None
                error: str | None = None
                reply: tuple[dict[str, Any], dict[str, _Part]] | None = None
                self._inflight += 1
                try:
                    async with session.post(hook.url, json=update, headers=headers) as response:
                        status = response.status
                        if 200 <= status < 300:
                            reply = await _read_webhook_reply(response)
                        else:
                            error = f"Wrong response from the webhook: {status} {response.reason}"
                except TimeoutError:
                    error = "Read timeout expired"
                except aiohttp.ClientError as exc:
                    error = f"Connection failed: {type(exc).__name__}"
                finally:
                    self._inflight -= 1
                    self._last_activity = time.monotonic()
                self.webhook_deliveries.append(WebhookDelivery(update["update_id"], status, error))
                if error is None:
                    failures = 0
                    if self._pending and self._pending[0] is update:
                        self._pending.popleft()
                    if reply is not None:
                        await self._webhook_reply(*reply)
                    self._notify()
                    continue
                hook.last_error_date = int(self.wall_clock())
                hook.last_error_message = error
                failures += 1
                self._notify()
                await self._pause(min(self.webhook_retry_delay * 2 ** (failures - 1), 2.0))

    async def _webhook_reply(self, params: dict[str, Any], files: dict[str, _Part]) -> None:
        """A method in the webhook's answer is executed; its result goes nowhere."""
        name = str(params.pop("method", ""))
        known = self._methods.get(name.lower())
        record = RequestRecord(
            known[0] if known else name, 200, params.get("chat_id"), params=params, via="webhook"
        )
        if known is None:
            record.status, record.description = 404, "Not Found"
            self._record(record)
            return
        await self._call(known[0], params, files, record)

    # -- methods: sending ------------------------------------------------------------------------

    def _send_message(self, params: dict[str, Any], files: dict[str, _Part]) -> Any:
        chat = self._writable_chat(params)
        text = _str(params, "text")
        if text is None:
            raise bad_request("message text is empty")
        plain, entities = self._formatted(
            text,
            params,
            mode_key="parse_mode",
            entities_key="entities",
            limit=TEXT_LIMIT,
            caption=False,
        )
        markup = self._reply_markup(params)
        reply_to = self._reply_to(chat, params)
        self._throttle(chat)
        message = self._new_message(
            chat,
            "sendMessage",
            text=text,
            parse_mode=_str(params, "parse_mode"),
            plain=plain,
            entities=entities,
            reply_markup=markup,
            reply_to_message_id=reply_to,
            params=params,
        )
        return self._message_api(message)

    def _caption(self, params: dict[str, Any]) -> tuple[str | None, str, list[dict[str, Any]]]:
        caption = _str(params, "caption")
        if not caption:
            return None, "", []
        plain, entities = self._formatted(
            caption,
            params,
            mode_key="parse_mode",
            entities_key="caption_entities",
            limit=CAPTION_LIMIT,
            caption=True,
        )
        return caption, plain, entities

    def _send_photo(self, params: dict[str, Any], files: dict[str, _Part]) -> Any:
        chat = self._writable_chat(params)
        media = self._input_file(params, files, "photo")
        if media is None:
            raise bad_request("there is no photo in the request")
        dims, sizes = self._photo_input(media)
        caption, plain, entities = self._caption(params)
        markup = self._reply_markup(params)
        reply_to = self._reply_to(chat, params)
        self._throttle(chat)
        sizes, uploaded = self._commit_photo(media, dims, sizes, "sendPhoto", chat)
        message = self._new_message(
            chat,
            "sendPhoto",
            caption=caption,
            parse_mode=_str(params, "parse_mode"),
            photo_file_id=sizes[-1]["file_id"],
            photo=sizes,
            uploaded=uploaded,
            plain=plain,
            entities=entities,
            reply_markup=markup,
            reply_to_message_id=reply_to,
            params=params,
        )
        return self._message_api(message)

    def _send_document(self, params: dict[str, Any], files: dict[str, _Part]) -> Any:
        chat = self._writable_chat(params)
        media = self._input_file(params, files, "document")
        if media is None:
            raise bad_request("there is no document in the request")
        existing = self._document_input(media)
        caption, plain, entities = self._caption(params)
        markup = self._reply_markup(params)
        reply_to = self._reply_to(chat, params)
        self._throttle(chat)
        stored, uploaded = self._commit_document(media, existing, "sendDocument", chat)
        message = self._new_message(
            chat,
            "sendDocument",
            caption=caption,
            parse_mode=_str(params, "parse_mode"),
            document_name=stored.file_name,
            document=self._document_api(stored),
            uploaded=uploaded,
            plain=plain,
            entities=entities,
            reply_markup=markup,
            reply_to_message_id=reply_to,
            params=params,
        )
        return self._message_api(message)

    def _send_chat_action(self, params: dict[str, Any], files: dict[str, _Part]) -> bool:
        chat = self._writable_chat(params)
        action = _str(params, "action")
        if not action:
            raise bad_request("action is empty")
        if action not in CHAT_ACTIONS:
            raise bad_request("wrong parameter action in request")
        self.chat_actions.append((chat.id, action))
        return True

    def _send_invoice(self, params: dict[str, Any], files: dict[str, _Part]) -> Any:
        chat = self._writable_chat(params)
        title = _str(params, "title") or ""
        description = _str(params, "description") or ""
        payload = _str(params, "payload") or ""
        currency = _str(params, "currency") or ""
        if not 1 <= len(title) <= 32:
            raise bad_request("TITLE_INVALID" if title else "invoice title is empty")
        if not 1 <= len(description) <= 255:
            raise bad_request("DESCRIPTION_INVALID")
        if not 1 <= len(payload.encode()) <= 128:
            raise bad_request("INVOICE_PAYLOAD_INVALID")
        if not re.fullmatch(r"[A-Z]{3}", currency):
            raise bad_request("CURRENCY_INVALID")
        prices = _json_value(params, "prices", "can't parse prices JSON object")
        if not isinstance(prices, list) or not prices:
            raise bad_request("can't parse prices JSON object")
        try:
            amounts = [int(p["amount"]) for p in prices if str(p["label"]).strip()]
        except (KeyError, TypeError, ValueError):
            raise bad_request("can't parse prices JSON object") from None
        if len(amounts) != len(prices):
            raise bad_request("can't parse prices JSON object")
        provider_token = _str(params, "provider_token") or ""
        if currency == "XTR" and (len(prices) != 1 or provider_token):
            raise bad_request("STARS_INVOICE_INVALID")
        if currency != "XTR" and not provider_token:
            raise bad_request("PAYMENT_PROVIDER_INVALID")
        if sum(amounts) <= 0:
            raise bad_request("CURRENCY_TOTAL_AMOUNT_INVALID")
        markup = self._reply_markup(params, inline_only=True)
        self._throttle(chat)
        invoice = {
            "title": title,
            "description": description,
            "start_parameter": _str(params, "start_parameter") or "",
            "currency": currency,
            "total_amount": sum(amounts),
        }
        message = self._new_message(
            chat, "sendInvoice", invoice=invoice, reply_markup=markup, params=params
        )
        return self._message_api(message)

    # -- methods: editing ------------------------------------------------------------------------

    def _edit_message_text(self, params: dict[str, Any], files: dict[str, _Part]) -> Any:
        message = self._message_target(params)
        if message.text is None:
            raise bad_request("there is no text in the message to edit")
        text = _str(params, "text")
        if text is None:
            raise bad_request("message text is empty")
        plain, entities = self._formatted(
            text,
            params,
            mode_key="parse_mode",
            entities_key="entities",
            limit=TEXT_LIMIT,
            caption=False,
        )
        markup = self._reply_markup(params, inline_only=True)
        if (plain, entities, markup) == (message.plain, message.entities, message.reply_markup):
            raise bad_request(NOT_MODIFIED)
        self._throttle(self.chats[message.chat_id])
        return self._apply_edit(
            message,
            "editMessageText",
            text=text,
            parse_mode=_str(params, "parse_mode"),
            plain=plain,
            entities=entities,
            reply_markup=markup,
        )

    def _edit_message_caption(self, params: dict[str, Any], files: dict[str, _Part]) -> Any:
        message = self._message_target(params)
        if message.text is not None or message.invoice is not None:
            raise bad_request("there is no caption in the message to edit")
        caption, plain, entities = self._caption(params)
        markup = self._reply_markup(params, inline_only=True)
        if (plain, entities, markup) == (
            message.plain or "",
            message.entities,
            message.reply_markup,
        ):
            raise bad_request(NOT_MODIFIED)
        self._throttle(self.chats[message.chat_id])
        return self._apply_edit(
            message,
            "editMessageCaption",
            caption=caption,
            parse_mode=_str(params, "parse_mode"),
            plain=plain,
            entities=entities,
            reply_markup=markup,
        )

    def _edit_message_media(self, params: dict[str, Any], files: dict[str, _Part]) -> Any:
        message = self._message_target(params)
        if message.photo is None and message.document is None:
            raise bad_request("there is no media in the message to edit")
        spec = _json_value(params, "media", "can't parse InputMedia JSON object")
        if not isinstance(spec, dict) or not spec.get("media"):
            raise bad_request("can't parse InputMedia JSON object")
        kind = spec.get("type")
        if kind not in ("photo", "document"):
            raise bad_request(f"unsupported media type {kind!r} in this test server")
        media = self._input_file({"media": spec["media"]}, files, "media")
        media_params = {k: v for k, v in spec.items() if k not in ("type", "media")}
        caption, plain, entities = self._caption(media_params)
        markup = self._reply_markup(params, inline_only=True)
        chat = self.chats[message.chat_id]
        if kind == "photo":
            dims, sizes = self._photo_input(media)
            same = not isinstance(media, _Part) and sizes[-1]["file_id"] == message.photo_file_id
        else:
            existing = self._document_input(media)
            same = existing is not None and existing.file_id == message.document_file_id
        if same and (plain, entities, markup) == (
            message.plain or "",
            message.entities,
            message.reply_markup,
        ):
            raise bad_request(NOT_MODIFIED)
        self._throttle(chat)
        changes: dict[str, Any] = {
            "caption": caption,
            "parse_mode": _str(media_params, "parse_mode"),
            "plain": plain,
            "entities": entities,
            "reply_markup": markup,
        }
        if kind == "photo":
            sizes, uploaded = self._commit_photo(media, dims, sizes, "editMessageMedia", chat)
            changes.update(
                photo=sizes,
                photo_file_id=sizes[-1]["file_id"],
                document=None,
                document_name=None,
                uploaded=uploaded,
            )
        else:
            stored, uploaded = self._commit_document(media, existing, "editMessageMedia", chat)
            changes.update(
                document=self._document_api(stored),
                document_name=stored.file_name,
                photo=None,
                photo_file_id=None,
                uploaded=uploaded,
            )
        return self._apply_edit(message, "editMessageMedia", **changes)

    def _edit_message_reply_markup(self, params: dict[str, Any], files: dict[str, _Part]) -> Any:
        message = self._message_target(params)
        markup = self._reply_markup(params, inline_only=True)
        if markup == message.reply_markup:
            raise bad_request(NOT_MODIFIED)
        self._throttle(self.chats[message.chat_id])
        return self._apply_edit(message, "editMessageReplyMarkup", reply_markup=markup)

    def _delete_message(self, params: dict[str, Any], files: dict[str, _Part]) -> bool:
        chat = self._chat(params)
        message_id = _int(params, "message_id")
        if message_id is None:
            raise bad_request("message identifier is not specified")
        found = self._messages.get((chat.id, message_id))
        if found is None or (isinstance(found, SentMessage) and found.deleted):
            raise bad_request("message to delete not found")
        if isinstance(found, SentMessage):
            found.deleted = True
        elif not chat.is_private and chat.bot_status not in ADMIN_STATUSES:
            raise bad_request("message can't be deleted")
        else:
            del self._messages[(chat.id, message_id)]
        self.deleted.append((chat.id, message_id))
        return True

    # -- methods: queries and payments ---------------------------------------------------------

    def _answer_callback_query(self, params: dict[str, Any], files: dict[str, _Part]) -> bool:
        query_id = _str(params, "callback_query_id") or ""
        query = self._callback_queries.get(query_id)
        if query is None or query.answered:
            raise bad_request(QUERY_TOO_OLD)
        text = _str(params, "text")
        if text is not None and len(text) > CALLBACK_ANSWER_LIMIT:
            raise bad_request("MESSAGE_TOO_LONG")
        query.answered = True
        self.callback_answers.append(
            CallbackAnswer(
                query_id,
                query.update_id,
                text,
                _bool(params, "show_alert"),
                _str(params, "url"),
                _int(params, "cache_time"),
            )
        )
        return True

    def _answer_pre_checkout_query(self, params: dict[str, Any], files: dict[str, _Part]) -> bool:
        query_id = _str(params, "pre_checkout_query_id") or ""
        query = self._pre_checkouts.get(query_id)
        if query is None or query.answered:
            raise bad_request(QUERY_TOO_OLD)
        ok = _bool(params, "ok")
        error_message = _str(params, "error_message")
        if not ok and not error_message:
            raise bad_request("error_message is empty")
        query.answered = True
        self.pre_checkout_answers.append(
            PreCheckoutAnswer(query_id, query.update_id, ok, error_message)
        )
        return True

    def _refund_star_payment(self, params: dict[str, Any], files: dict[str, _Part]) -> bool:
        key = (_int(params, "user_id") or 0, _str(params, "telegram_payment_charge_id") or "")
        if key not in self._payments:
            raise bad_request("CHARGE_NOT_FOUND")
        if key in self.refunds:
            raise bad_request("CHARGE_ALREADY_REFUNDED")
        self.refunds.append(key)
        return True

    # -- methods: commands, menu, bot texts ----------------------------------------------------

    def _command_key(self, params: dict[str, Any]) -> tuple[str, str]:
        scope: Any = {"type": "default"}
        if params.get("scope"):
            scope = _json_value(params, "scope", "can't parse BotCommandScope JSON object")
        if not isinstance(scope, dict) or scope.get("type") not in COMMAND_SCOPES:
            raise bad_request("can't parse BotCommandScope JSON object")
        kind = str(scope["type"])
        if kind in ("chat", "chat_administrators", "chat_member"):
            chat = self._chat({"chat_id": scope.get("chat_id")})
            kind = f"{kind}:{chat.id}"
            if scope["type"] == "chat_member":
                kind += f":{int(scope.get('user_id', 0))}"
        language = _str(params, "language_code") or ""
        if language and not re.fullmatch(r"[a-z]{2}", language):
            raise bad_request("LANG_CODE_INVALID")
        return kind, language

    def _set_my_commands(self, params: dict[str, Any], files: dict[str, _Part]) -> bool:
        commands = _json_value(params, "commands", "can't parse commands JSON object")
        if not isinstance(commands, list):
            raise bad_request("can't parse commands JSON object")
        if len(commands) > 100:
            raise bad_request("BOT_COMMANDS_TOO_MUCH")
        cleaned = []
        for command in commands:
            if not isinstance(command, dict):
                raise bad_request("can't parse BotCommand JSON object")
            name = str(command.get("command", "")).removeprefix("/")
            description = str(command.get("description", ""))
            if not re.fullmatch(r"[a-z0-9_]{1,32}", name):
                raise bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(description) <= 256:
                raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
            cleaned.append({"command": name, "description": description})
        key = self._command_key(params)
        if cleaned:
            self.commands[key] = cleaned
        else:
            self.commands.pop(key, None)
        return True

    def _get_my_commands(self, params: dict[str, Any], files: dict[str, _Part]) -> Any:
        return self.commands.get(self._command_key(params), [])

    def _delete_my_commands(self, params: dict[str, Any], files: dict[str, _Part]) -> bool:
        self.commands.pop(self._command_key(params), None)
        return True

    def _set_bot_text(self, kind: str, limit: int) -> Callable[..., bool]:
        def handler(params: dict[str, Any], files: dict[str, _Part]) -> bool:
            value = _str(params, kind) or ""
            if len(value) > limit:
                raise bad_request(f"{kind.upper()}_INVALID")
            key = (kind, _str(params, "language_code") or "")
            if value:
                self.bot_texts[key] = value
            else:
                self.bot_texts.pop(key, None)
            return True

        return handler

    def _get_bot_text(self, kind: str) -> Callable[..., dict[str, str]]:
        def handler(params: dict[str, Any], files: dict[str, _Part]) -> dict[str, str]:
            language = _str(params, "language_code") or ""
            value = self.bot_texts.get((kind, language)) or self.bot_texts.get((kind, ""), "")
            if kind == "name" and not value:
                value = self.bot_name
            return {kind: value}

        return handler

    def _set_chat_menu_button(self, params: dict[str, Any], files: dict[str, _Part]) -> bool:
        chat_id = self._chat(params).id if params.get("chat_id") not in (None, "") else None
        button: Any = {"type": "default"}
        if params.get("menu_button"):
            button = _json_value(params, "menu_button", "can't parse menu button JSON object")
        if not isinstance(button, dict) or button.get("type") not in (
            "default",
            "commands",
            "web_app",
        ):
            raise bad_request("can't parse menu button JSON object")
        self.menu_buttons[chat_id] = button
        return True

    def _get_chat_menu_button(self, params: dict[str, Any], files: dict[str, _Part]) -> Any:
        chat_id = self._chat(params).id if params.get("chat_id") not in (None, "") else None
        return self.menu_buttons.get(chat_id) or self.menu_buttons.get(None) or {"type": "default"}

    # -- methods: chats and files ----------------------------------------------------------------

    def _get_chat(self, params: dict[str, Any], files: dict[str, _Part]) -> Any:
        chat = self._chat(params)
        if not chat.is_private and (chat.blocked or chat.bot_status in ("left", "kicked")):
            raise ApiError(403, f"Forbidden: bot is not a member of the {chat.type} chat")
        info = chat.to_api()
        info.update(
            accent_color_id=0,
            max_reaction_count=11,
            accepted_gift_types={
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        )
        return info

    def _member_api(self, chat: SimChat, user_id: int) -> dict[str, Any]:
        if user_id == self.bot_id:
            user = self.bot_user
            status = "member" if chat.is_private else chat.bot_status
        else:
            sim = self.users.get(user_id)
            if sim is None:
                raise bad_request("user not found")
            user = sim.to_api()
            if chat.is_private:
                status = "member" if user_id == chat.id else "left"
            else:
                status = chat.members.get(user_id, "left")
        return _chat_member(user, status)

    def _get_chat_member(self, params: dict[str, Any], files: dict[str, _Part]) -> Any:
        chat = self._chat(params)
        user_id = _int(params, "user_id")
        if user_id is None:
            raise bad_request("user_id is empty")
        return self._member_api(chat, user_id)

    def _get_chat_administrators(self, params: dict[str, Any], files: dict[str, _Part]) -> Any:
        chat = self._chat(params)
        if chat.is_private:
            raise bad_request("there are no administrators in the private chat")
        admins = [
            self._member_api(chat, user_id)
            for user_id, status in chat.members.items()
            if status in ADMIN_STATUSES
        ]
        if chat.bot_status in ADMIN_STATUSES:
            admins.append(self._member_api(chat, self.bot_id))
        return admins

    def _get_file(self, params: dict[str, Any], files: dict[str, _Part]) -> Any:
        stored = self._files.get(_str(params, "file_id") or "")
        if stored is None:
            raise bad_request("invalid file_id")
        if stored.file_size > DOWNLOAD_LIMIT:
            raise bad_request("file is too big")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": stored.file_size,
            "file_path": stored.file_path,
        }


ADMIN_STATUSES = frozenset({"creator", "administrator"})


def _chat_member(user: dict[str, Any], status: str) -> dict[str, Any]:
    data: dict[str, Any] = {"status": status, "user": user}
    if status == "creator":
        data["is_anonymous"] = False
    elif status == "administrator":
        data.update(
            can_be_edited=False,
            is_anonymous=False,
            can_manage_chat=True,
            can_delete_messages=True,
            can_manage_video_chats=True,
            can_restrict_members=True,
            can_promote_members=False,
            can_change_info=True,
            can_invite_users=True,
            can_post_stories=False,
            can_edit_stories=False,
            can_delete_stories=False,
            can_send_welcome_messages=False,
            can_pin_messages=True,
        )
    elif status == "restricted":
        flags = [
            "can_send_messages",
            "can_send_audios",
            "can_send_documents",
            "can_send_photos",
            "can_send_videos",
            "can_send_video_notes",
            "can_send_voice_notes",
            "can_send_polls",
            "can_send_other_messages",
            "can_add_web_page_previews",
            "can_react_to_messages",
            "can_edit_tag",
            "can_change_info",
            "can_invite_users",
            "can_pin_messages",
            "can_manage_topics",
        ]
        data.update(dict.fromkeys(flags, False), is_member=True, until_date=0)
    elif status == "kicked":
        data["until_date"] = 0
    return data


# -- request parsing ----------------------------------------------------------------------------


def _json(payload: dict[str, Any], status: int = 200) -> web.Response:
    return web.Response(
        text=json.dumps(payload, ensure_ascii=False),
        status=status,
        content_type="application/json",
    )


async def _read_params(request: web.Request) -> tuple[dict[str, Any], dict[str, _Part]]:
    """Parameters from the query string and a urlencoded, multipart or JSON body."""
    params: dict[str, Any] = dict(request.query)
    files: dict[str, _Part] = {}
    if not request.body_exists:
        return params, files
    if request.content_type == "application/json":
        try:
            body = await request.json()
        except ValueError:
            raise bad_request("can't parse JSON encoded request body") from None
        if not isinstance(body, dict):
            raise bad_request("can't parse JSON encoded request body")
        params.update(body)
        return params, files
    try:
        form = await request.post()
    except web.HTTPRequestEntityTooLarge:
        raise ApiError(413, "Request Entity Too Large") from None
    for key, value in form.items():
        if isinstance(value, web.FileField):
            files[key] = _Part(value.filename, value.file.read(), value.content_type)
        else:
            params[key] = value
    return params, files


async def _read_webhook_reply(
    response: aiohttp.ClientResponse,
) -> tuple[dict[str, Any], dict[str, _Part]] | None:
    """A method call in a webhook's answer: JSON, or multipart as aiogram sends it."""
    if response.content_type == "application/json":
        with contextlib.suppress(ValueError):
            body = await response.json()
            if isinstance(body, dict) and body.get("method"):
                return body, {}
        return None
    if response.content_type != "multipart/form-data":
        return None
    params: dict[str, Any] = {}
    files: dict[str, _Part] = {}
    reader = aiohttp.MultipartReader(response.headers, response.content)
    while True:
        part = await reader.next()
        if part is None:
            break
        if not isinstance(part, aiohttp.BodyPartReader) or part.name is None:
            continue
        if part.filename:
            files[part.name] = _Part(part.filename, bytes(await part.read()))
        else:
            params[part.name] = await part.text()
    return (params, files) if params.get("method") else None


def _str(params: dict[str, Any], key: str) -> str | None:
    value = params.get(key)
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _int(params: dict[str, Any], key: str) -> int | None:
    value = params.get(key)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise bad_request(f"invalid {key} specified") from None


def _bool(params: dict[str, Any], key: str) -> bool:
    value = params.get(key)
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1")
    return bool(value)


def _json_value(params: dict[str, Any], key: str, error: str) -> Any:
    value = params.get(key)
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            raise bad_request(error) from None
    return value


def _chat_key(chat_id: Any) -> Any:
    try:
        return int(chat_id)
    except (TypeError, ValueError):
        return chat_id


def _check_inline_keyboard(rows: Any) -> None:
    if not isinstance(rows, list):
        raise bad_request('field "inline_keyboard" must be an Array')
    total = 0
    for row in rows:
        if not isinstance(row, list):
            raise bad_request('field "inline_keyboard" must be an Array of Arrays')
        for button in row:
            total += 1
            if not isinstance(button, dict):
                raise bad_request("can't parse inline keyboard button: Object expected")
            label = button.get("text")
            if not isinstance(label, str) or not label.strip():
                raise bad_request("BUTTON_TEXT_INVALID")
            actions = [key for key in BUTTON_ACTIONS if key in button]
            if not actions:
                raise bad_request(
                    "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"
                )
            if len(actions) > 1:
                raise bad_request(
                    "can't parse inline keyboard button: exactly one of the optional fields "
                    f"must be used, found {', '.join(actions)}"
                )
            if "callback_data" in button:
                data = button["callback_data"]
                if not isinstance(data, str) or not 1 <= len(data.encode()) <= CALLBACK_DATA_LIMIT:
                    raise bad_request("BUTTON_DATA_INVALID")
            if "url" in button:
                url = str(button["url"])
                if not re.match(r"(?i)(https?|tg|ton)://\S+$", url):
                    raise bad_request(
                        f"inline keyboard button URL '{url}' is invalid: Wrong HTTP URL"
                    )
    if total > 100:
        raise bad_request("reply markup is too long")


# -- images -------------------------------------------------------------------------------------


def image_size(content: bytes) -> tuple[int, int]:
    """(width, height) of PNG or JPEG bytes; ValueError if they are neither."""
    if content.startswith(b"\x89PNG\r\n\x1a\n"):
        if len(content) < 33 or content[12:16] != b"IHDR" or b"IEND" not in content[-12:]:
            raise ValueError("truncated PNG")
        width = int.from_bytes(content[16:20], "big")
        height = int.from_bytes(content[20:24], "big")
        if width == 0 or height == 0:
            raise ValueError("empty PNG")
        return width, height
    if content.startswith(b"\xff\xd8\xff"):
        index = 2
        while index + 9 < len(content):
            if content[index] != 0xFF:
                raise ValueError("corrupt JPEG")
            marker = content[index + 1]
            if marker == 0xFF:  # padding
                index += 1
                continue
            if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
                index += 2
                continue
            length = int.from_bytes(content[index + 2 : index + 4], "big")
            if marker in (
                0xC0,
                0xC1,
                0xC2,
                0xC3,
                0xC5,
                0xC6,
                0xC7,
                0xC9,
                0xCA,
                0xCB,
                0xCD,
                0xCE,
                0xCF,
            ):
                height = int.from_bytes(content[index + 5 : index + 7], "big")
                width = int.from_bytes(content[index + 7 : index + 9], "big")
                if width == 0 or height == 0:
                    raise ValueError("empty JPEG")
                return width, height
            index += 2 + length
        raise ValueError("JPEG without a frame header")
    raise ValueError("not a PNG or JPEG image")


def photo_sizes(width: int, height: int) -> list[tuple[int | None, tuple[int, int]]]:
    """Telegram's thumbnails (s 90, m 320, x 800, y 1280, w 2560) up to the photo's size:
    [(side limit or None for the full size, (w, h))], smallest first."""
    sizes: list[tuple[int | None, tuple[int, int]]] = []
    longest = max(width, height)
    for side in (90, 320, 800, 1280, 2560):
        if longest <= side:
            sizes.append((None, (width, height)))
            return sizes
        scale = side / longest
        sizes.append((side, (max(1, round(width * scale)), max(1, round(height * scale)))))
    return sizes


def png_bytes(width: int = 4, height: int = 3, rgb: tuple[int, int, int] = (30, 144, 255)) -> bytes:
    """A minimal valid PNG (a plain colour), for tests."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    row = b"\x00" + bytes(rgb) * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * height))
        + chunk(b"IEND", b"")
    )


# -- text and entities ------------------------------------------------------------------------------


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, as Telegram counts."""
    return len(text.encode("utf-16-le")) // 2


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode("utf-8"))


def parse_entities(text: str, parse_mode: str | None) -> tuple[str, list[dict[str, Any]]]:
    """(plain text, entities) for a parse_mode; raises EntityParseError as Telegram would."""
    text = text.replace("\r", "")
    mode = (parse_mode or "").strip().lower()
    if not mode:
        return text, []
    if mode == "html":
        return parse_html(text)
    if mode == "markdownv2":
        return parse_markdown_v2(text)
    if mode == "markdown":
        return parse_markdown(text)
    raise EntityParseError(f"unsupported parse_mode {parse_mode!r}")


def _trim(text: str, entities: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """Telegram strips leading and trailing whitespace; entities follow."""
    stripped = text.strip()
    if stripped == text:
        return text, entities
    if not stripped:
        return "", []
    shift = utf16_len(text[: len(text) - len(text.lstrip())])
    length = utf16_len(stripped)
    kept = []
    for entity in entities:
        start = max(0, entity["offset"] - shift)
        end = min(length, entity["offset"] + entity["length"] - shift)
        if end > start:
            kept.append({**entity, "offset": start, "length": end - start})
    return stripped, kept


_HTML_TAGS = frozenset(
    {
        "a",
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "span",
        "tg-spoiler",
        "tg-emoji",
        "code",
        "pre",
        "blockquote",
    }
)
_HTML_ENTITY_TYPES = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "span": "spoiler",
    "tg-spoiler": "spoiler",
    "code": "code",
    "pre": "pre",
}
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_ENTITY = re.compile(r"&(?:#([0-9]{1,7})|#[xX]([0-9a-fA-F]{1,6})|([a-zA-Z]{2,8}));")
_TAG_NAME = re.compile(r"[a-zA-Z0-9-]*")
_SPECIAL = re.compile(r"[<&]")


def _html_entity(text: str, index: int) -> tuple[str, int] | None:
    """Decode an HTML entity at `index`: (character, length), or None (a literal '&')."""
    match = _ENTITY.match(text, index)
    if match is None:
        return None
    if match[3] is not None:
        char = _NAMED_ENTITIES.get(match[3])
        return (char, match.end() - index) if char else None
    code = int(match[1]) if match[1] is not None else int(match[2], 16)
    if code == 0 or code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        return None
    return chr(code), match.end() - index


def _decode_html_value(value: str) -> str:
    out, index = [], 0
    while index < len(value):
        if value[index] == "&" and (decoded := _html_entity(value, index)):
            out.append(decoded[0])
            index += decoded[1]
        else:
            out.append(value[index])
            index += 1
    return "".join(out)


def parse_html(text: str) -> tuple[str, list[dict[str, Any]]]:
    """Telegram's HTML parse mode (after tdlib's parse_html), strict about tags."""
    out: list[str] = []
    offset = 0  # UTF-16 offset in the output
    stack: list[dict[str, Any]] = []
    entities: list[dict[str, Any]] = []
    index, size = 0, len(text)

    def emit(piece: str) -> None:
        nonlocal offset
        out.append(piece)
        offset += utf16_len(piece)

    while index < size:
        match = _SPECIAL.search(text, index)
        if match is None:
            emit(text[index:])
            break
        if match.start() > index:
            emit(text[index : match.start()])
        index = match.start()
        if text[index] == "&":
            decoded = _html_entity(text, index)
            if decoded is None:
                emit("&")
                index += 1
            else:
                emit(decoded[0])
                index += decoded[1]
            continue
        begin = index
        if index + 1 < size and text[index + 1] == "/":
            name_match = _TAG_NAME.match(text, index + 2)
            name = name_match.group().lower()
            index = name_match.end()
            while index < size and text[index].isspace():
                index += 1
            if not stack:
                raise EntityParseError(
                    f"Unexpected end tag at byte offset {_byte_offset(text, begin)}"
                )
            if index >= size or text[index] != ">":
                raise EntityParseError(
                    f'Can\'t find end tag corresponding to start tag "{stack[-1]["tag"]}"'
                )
            expected = stack[-1]["tag"]
            if name != expected:
                raise EntityParseError(
                    f"Unmatched end tag at byte offset {_byte_offset(text, begin)}, "
                    f'expected "</{expected}>", found "</{name}>"'
                )
            index += 1
            opened = stack.pop()
            _close_html_entity(opened, offset, stack, entities)
            continue
        name_match = _TAG_NAME.match(text, index + 1)
        name = name_match.group().lower()
        index = name_match.end()
        if name not in _HTML_TAGS:
            raise EntityParseError(
                f'Unsupported start tag "{name}" at byte offset {_byte_offset(text, begin)}'
            )
        attributes: dict[str, str] = {}
        while True:
            while index < size and text[index].isspace():
                index += 1
            if index >= size:
                raise EntityParseError(
                    f"Unclosed start tag at byte offset {_byte_offset(text, begin)}"
                )
            if text[index] == ">":
                index += 1
                break
            attr_match = _TAG_NAME.match(text, index)
            attr = attr_match.group().lower()
            if not attr:
                raise EntityParseError(
                    f'Empty attribute name in the tag "{name}" at byte offset '
                    f"{_byte_offset(text, begin)}"
                )
            index = attr_match.end()
            while index < size and text[index].isspace():
                index += 1
            value = ""
            if index < size and text[index] == "=":
                index += 1
                while index < size and text[index].isspace():
                    index += 1
                if index >= size:
                    raise EntityParseError(
                        f"Unclosed start tag at byte offset {_byte_offset(text, begin)}"
                    )
                if text[index] in "'\"":
                    end = text.find(text[index], index + 1)
                    if end < 0:
                        raise EntityParseError(
                            f'Unclosed start tag "{name}" at byte offset {_byte_offset(text, begin)}'
                        )
                    value = _decode_html_value(text[index + 1 : end])
                    index = end + 1
                else:
                    value_match = re.compile(r"[^\s>'\"]*").match(text, index)
                    value = _decode_html_value(value_match.group())
                    index = value_match.end()
            attributes[attr] = value
        if name == "span" and attributes.get("class") != "tg-spoiler":
            raise EntityParseError(
                f'Tag "span" must have class "tg-spoiler" at byte offset {_byte_offset(text, begin)}'
            )
        stack.append({"tag": name, "attrs": attributes, "offset": offset})
    if stack:
        raise EntityParseError(
            f'Can\'t find end tag corresponding to start tag "{stack[-1]["tag"]}"'
        )
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(out), entities


def _close_html_entity(
    opened: dict[str, Any],
    offset: int,
    stack: list[dict[str, Any]],
    entities: list[dict[str, Any]],
) -> None:
    tag, attrs = opened["tag"], opened["attrs"]
    length = offset - opened["offset"]
    language = attrs.get("class", "")
    if tag == "code" and stack and stack[-1]["tag"] == "pre" and language.startswith("language-"):
        stack[-1]["language"] = language.removeprefix("language-")
        return
    if length <= 0:
        return
    entity: dict[str, Any] = {"offset": opened["offset"], "length": length}
    if tag == "a":
        href = attrs.get("href", "")
        if not href:
            return
        user = re.fullmatch(r"tg://user\?id=(\d+)", href)
        if user:
            entity.update(
                type="text_mention", user={"id": int(user[1]), "is_bot": False, "first_name": ""}
            )
        else:
            entity.update(type="text_link", url=href)
    elif tag == "tg-emoji":
        entity.update(type="custom_emoji", custom_emoji_id=attrs.get("emoji-id", ""))
    elif tag == "blockquote":
        entity["type"] = "expandable_blockquote" if "expandable" in attrs else "blockquote"
    else:
        entity["type"] = _HTML_ENTITY_TYPES[tag]
        if tag == "pre" and opened.get("language"):
            entity["language"] = opened["language"]
    entities.append(entity)


_MDV2_RESERVED = "_*[]()~`>#+-=|{}.!"
_MDV2_NAMES = {
    "bold": "Bold",
    "italic": "Italic",
    "underline": "Underline",
    "strikethrough": "Strikethrough",
    "spoiler": "Spoiler",
    "code": "Code",
    "pre": "Pre",
    "text_link": "TextUrl",
    "custom_emoji": "CustomEmoji",
}


def parse_markdown_v2(text: str) -> tuple[str, list[dict[str, Any]]]:
    """Telegram's MarkdownV2 (after tdlib's parse_markdown_v2): reserved characters outside
    entities must be escaped."""
    out: list[str] = []
    offset = 0
    stack: list[dict[str, Any]] = []
    entities: list[dict[str, Any]] = []
    index, size = 0, len(text)

    def emit(piece: str) -> None:
        nonlocal offset
        out.append(piece)
        offset += utf16_len(piece)

    def at(position: int) -> str:
        return text[position] if position < size else ""

    while index < size:
        char = text[index]
        if char == "\\" and index + 1 < size and 0 < ord(text[index + 1]) <= 126:
            emit(text[index + 1])
            index += 2
            continue
        current = stack[-1]["type"] if stack else None
        reserved = "`" if current in ("code", "pre") else _MDV2_RESERVED
        if char not in reserved:
            emit(char)
            index += 1
            continue
        ends = {
            "bold": char == "*",
            "italic": char == "_" and at(index + 1) != "_",
            "code": char == "`",
            "pre": text.startswith("```", index),
            "text_link": char == "]",
            "custom_emoji": char == "]",
            "underline": text.startswith("__", index),
            "strikethrough": char == "~",
            "spoiler": text.startswith("||", index),
        }
        if current is not None and ends[current]:
            opened = stack.pop()
            entity: dict[str, Any] = {
                "offset": opened["offset"],
                "length": offset - opened["offset"],
            }
            if current in ("text_link", "custom_emoji"):
                index += 1
                url = ""
                if at(index) == "(":
                    url_begin = index
                    index += 1
                    chars = []
                    while index < size and text[index] != ")":
                        if text[index] == "\\" and index + 1 < size:
                            index += 1
                        chars.append(text[index])
                        index += 1
                    if index >= size:
                        raise EntityParseError(
                            f"Can't find end of a URL at byte offset {_byte_offset(text, url_begin)}"
                        )
                    index += 1
                    url = "".join(chars)
                if current == "custom_emoji":
                    emoji = re.fullmatch(r"tg://emoji\?id=(\d+)", url)
                    if not emoji:
                        raise EntityParseError("Custom emoji entity must contain a tg://emoji URL")
                    entity.update(type="custom_emoji", custom_emoji_id=emoji[1])
                else:
                    entity.update(type="text_link", url=url or "".join(out)[-entity["length"] :])
            else:
                index += {"underline": 2, "spoiler": 2, "pre": 3}.get(current, 1)
                entity["type"] = current
                if current == "pre" and opened.get("language"):
                    entity["language"] = opened["language"]
            if entity["length"] > 0:
                entities.append(entity)
            continue
        begin = index
        item: dict[str, Any] = {"offset": offset, "byte": _byte_offset(text, begin)}
        if char == "_":
            if at(index + 1) == "_":
                item["type"], index = "underline", index + 2
            else:
                item["type"], index = "italic", index + 1
        elif char == "*":
            item["type"], index = "bold", index + 1
        elif char == "~":
            item["type"], index = "strikethrough", index + 1
        elif char == "|" and at(index + 1) == "|":
            item["type"], index = "spoiler", index + 2
        elif char == "[":
            item["type"], index = "text_link", index + 1
        elif char == "!" and at(index + 1) == "[":
            item["type"], index = "custom_emoji", index + 2
        elif char == "`":
            if text.startswith("```", index):
                index += 3
                language_end = index
                while (
                    language_end < size
                    and not text[language_end].isspace()
                    and text[language_end] != "`"
                ):
                    language_end += 1
                if language_end > index and at(language_end) == "\n":
                    item["language"] = text[index:language_end]
                    index = language_end
                if at(index) == "\n":
                    index += 1
                item["type"] = "pre"
            else:
                item["type"], index = "code", index + 1
        elif char == ">" and (index == 0 or text[index - 1] == "\n"):
            index += 1  # a blockquote line marker
            continue
        else:
            raise EntityParseError(
                f"Character '{char}' is reserved and must be escaped with the preceding '\\'"
            )
        item["offset"] = offset
        stack.append(item)
    if stack:
        raise EntityParseError(
            f"Can't find end of {_MDV2_NAMES[stack[-1]['type']]} entity at byte offset "
            f"{stack[-1]['byte']}"
        )
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(out), entities


def parse_markdown(text: str) -> tuple[str, list[dict[str, Any]]]:
    """Telegram's legacy Markdown: *bold*, _italic_, `code`, ```pre```, [text](url)."""
    out: list[str] = []
    offset = 0
    entities: list[dict[str, Any]] = []
    index, size = 0, len(text)

    def emit(piece: str) -> None:
        nonlocal offset
        out.append(piece)
        offset += utf16_len(piece)

    while index < size:
        char = text[index]
        if char == "\\" and index + 1 < size and text[index + 1] in "_*`[":
            emit(text[index + 1])
            index += 2
            continue
        if char not in "_*`[":
            emit(char)
            index += 1
            continue
        begin = index
        end_char = "]" if char == "[" else char
        index += 1
        is_pre = False
        language = ""
        if char == "`" and text.startswith("``", index):
            is_pre = True
            index += 2
            language_end = index
            while (
                language_end < size
                and not text[language_end].isspace()
                and text[language_end] != "`"
            ):
                language_end += 1
            if language_end > index and language_end < size and text[language_end] == "\n":
                language = text[index:language_end]
                index = language_end + 1
        start = offset
        while index < size and (
            text[index] != end_char or (is_pre and not text.startswith("```", index))
        ):
            emit(text[index])
            index += 1
        if index >= size:
            raise EntityParseError(
                f"Can't find end of the entity starting at byte offset {_byte_offset(text, begin)}"
            )
        index += 3 if is_pre else 1
        length = offset - start
        entity: dict[str, Any] = {"offset": start, "length": length}
        if char == "[":
            url = ""
            if index < size and text[index] == "(":
                close = text.find(")", index + 1)
                if close >= 0:
                    url = text[index + 1 : close]
                    index = close + 1
            if not url:
                continue
            entity.update(type="text_link", url=url)
        elif is_pre:
            entity["type"] = "pre"
            if language:
                entity["language"] = language
        else:
            entity["type"] = {"_": "italic", "*": "bold", "`": "code"}[char]
        if length > 0:
            entities.append(entity)
    return "".join(out), entities


_INCOMING_ENTITIES = re.compile(
    r"(?P<bot_command>(?<![\w/])/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?)"
    r"|(?P<url>\bhttps?://[^\s<>]+)"
    r"|(?P<mention>(?<!\w)@[A-Za-z0-9_]{5,32})"
    r"|(?P<hashtag>(?<![\w#])#\w+)"
    r"|(?P<cashtag>(?<![\w$])\$[A-Z]{1,8}\b)"
)


def detect_entities(text: str) -> list[dict[str, Any]]:
    """The entities Telegram's clients attach to a user's text: bot commands (with their
    @bot suffix), URLs, mentions, hashtags and cashtags; offsets in UTF-16 units."""
    entities = []
    for match in _INCOMING_ENTITIES.finditer(text):
        kind = match.lastgroup
        if kind is None:
            continue
        entities.append(
            {
                "type": kind,
                "offset": utf16_len(text[: match.start()]),
                "length": utf16_len(match.group()),
            }
        )
    return entities


# -- standalone ---------------------------------------------------------------------------------------


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


if __name__ == "__main__":
    main()
