"""`TelegramServer`: the Bot API app plus its state, put together from its parts (mixins,
one module each: people, control, dispatch, params, limits, files, messages, editing,
updates, queries, commands, chats); this module holds the state and the lifecycle."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections import Counter, deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from tests.telegram_server.chats import Chats
from tests.telegram_server.commands import Commands
from tests.telegram_server.constants import DEFAULT_TOKEN, UPLOAD_LIMIT
from tests.telegram_server.control import Control
from tests.telegram_server.dispatch import Dispatch
from tests.telegram_server.editing import Editing
from tests.telegram_server.files import Files
from tests.telegram_server.limits import RateLimits, Throttling, _Bucket
from tests.telegram_server.messages import Messages
from tests.telegram_server.params import Parameters
from tests.telegram_server.people import People
from tests.telegram_server.queries import Queries
from tests.telegram_server.records import (
    CallbackAnswer,
    Edit,
    PreCheckoutAnswer,
    RequestRecord,
    SentMessage,
    SimChat,
    SimUser,
    StoredFile,
    Upload,
    WebhookDelivery,
    _Delay,
    _Fault,
    _Query,
    _Webhook,
)
from tests.telegram_server.updates import Updates

if TYPE_CHECKING:
    from aiogram import Bot


class TelegramServer(
    People,
    Control,
    Dispatch,
    Parameters,
    Throttling,
    Files,
    Messages,
    Editing,
    Updates,
    Queries,
    Commands,
    Chats,
):
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
