"""The bot itself and its updates: getMe, logOut, close, getUpdates long polling, and
webhooks (setWebhook, deleteWebhook, getWebhookInfo, the delivery loop)."""

from __future__ import annotations

import asyncio
import itertools
import re
import time
from collections import deque
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from tests.telegram_server.constants import DEFAULT_EXCLUDED_UPDATES
from tests.telegram_server.errors import ApiError, bad_request
from tests.telegram_server.params import _bool, _int, _json_value, _read_webhook_reply, _str
from tests.telegram_server.records import (
    RequestRecord,
    WebhookDelivery,
    _Described,
    _Part,
    _Webhook,
)


class Updates:
    """How queued updates reach the bot: getUpdates or the webhook.

    A part of `TelegramServer` (server.py), whose `__init__` sets up the state used here."""

    privacy_mode: bool
    wall_clock: Callable[[], float]
    webhook_retry_delay: float
    webhook_timeout: float
    webhook_https_only: bool
    webhook: _Webhook | None
    webhook_deliveries: list[WebhookDelivery]
    _methods: dict[str, tuple[str, Callable[..., Any]]]
    _pending: deque[dict[str, Any]]
    _allowed_updates: list[str] | None
    _poller: asyncio.Future[str] | None
    _closing: asyncio.Event
    _webhook_wake: asyncio.Event
    _webhook_task: asyncio.Task[None] | None
    _inflight: int
    _last_activity: float

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
