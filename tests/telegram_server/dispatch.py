"""HTTP: the `/bot{token}/{method}` route (token check, parameters, injected faults and
delays, the method call and its record) and the `/file/bot{token}/…` downloads."""

from __future__ import annotations

import inspect
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from aiohttp import web

from tests.telegram_server.constants import _GONE
from tests.telegram_server.errors import ApiError
from tests.telegram_server.params import _chat_key, _json, _read_params
from tests.telegram_server.records import RequestRecord, StoredFile, _Described, _Fault, _Part


class Dispatch:
    """Answers HTTP requests by calling the method handlers.

    A part of `TelegramServer` (server.py), whose `__init__` sets up the state used here."""

    token: str
    requests: list[RequestRecord]
    too_many_requests: int
    too_many_requests_by_chat: Counter[Any]
    _methods: dict[str, tuple[str, Callable[..., Any]]]
    _files_by_path: dict[str, StoredFile]
    _inflight: int
    _last_activity: float

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
