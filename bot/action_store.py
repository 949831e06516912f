"""Button payloads too long for a platform's limit (Telegram's 64-byte callback
data, Discord's 100-character custom ids), kept server-side by a short key.

The key is derived from the content, so the same press always gets the same key;
entries are forgotten after `ttl` seconds. With a database (`db`, `namespace`,
`codec`), every payload is also written there (`storage.chat_ui`), a moment after
`put` and batched, so that a button keeps working after a restart and on any
process behind a load balancer; the memory is then a cache (`capacity` entries,
oldest dropped first). Putting a payload again is free while over half its TTL
is left; after that it is renewed, in memory and in the database together.
Without one, the memory is all there is: after a restart, or on another
process, a key is unknown and the adapter says the button has expired.

>>> store = ActionStore[str]()
>>> key = store.put("alarm BTC/USDT above 70000")
>>> len(key), store.cached(key)
(11, 'alarm BTC/USDT above 70000')
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import structlog

from handlers.i18n import N_
from storage import chat_ui
from storage.db import Database
from storage.models import utcnow

log = structlog.get_logger(__name__)

ACTION_TTL = 48 * 3600.0
ACTION_CAPACITY = 50_000
# What a press on a button whose payload is gone (unknown or expired) answers.
EXPIRED = N_("This button has expired. Please send the command again.")


@dataclass(frozen=True, slots=True)
class Codec[T]:
    """How a payload is kept in the database: as a JSON object and back."""

    dump: Callable[[T], dict]
    load: Callable[[dict], T]


class ActionStore[T]:
    def __init__(
        self,
        ttl: float = ACTION_TTL,
        capacity: int = ACTION_CAPACITY,
        clock: Callable[[], float] = time.monotonic,
        *,
        db: Database | None = None,
        namespace: str = "",
        codec: Codec[T] | None = None,
    ) -> None:
        if db is not None and (not namespace or codec is None):
            raise ValueError("a database-backed ActionStore needs a namespace and a codec")
        self.ttl, self.capacity, self.clock = ttl, capacity, clock
        self.db, self.namespace, self.codec = db, namespace, codec
        self._items: OrderedDict[str, tuple[float, T]] = OrderedDict()
        self._unsaved: dict[str, dict] = {}
        self._saving: asyncio.Task[None] | None = None

    def __len__(self) -> int:
        return len(self._items)

    def put(self, value: T, fingerprint: str | None = None) -> str:
        """Keep `value` under the key derived from `fingerprint` (default: its repr,
        which for the adapters' frozen dataclasses is their content)."""
        digest = hashlib.sha256((fingerprint or repr(value)).encode()).digest()
        key = base64.urlsafe_b64encode(digest[:8]).decode().rstrip("=")
        now = self.clock()
        item = self._items.get(key)
        if item is not None and item[0] - now > self.ttl / 2:
            # Kept recently (a keyboard drawn again): memory and database still hold
            # it for over half the TTL, so neither is renewed (no write per render).
            self._items.move_to_end(key)
            return key
        self._remember(key, now + self.ttl, value)
        if self.db is not None and self.codec is not None:
            self._unsaved[key] = self.codec.dump(value)
            self._save_soon()
        return key

    def cached(self, key: str) -> T | None:
        """The value if this process has it in memory and it has not expired."""
        item = self._items.get(key)
        if item is None or item[0] < self.clock():
            self._items.pop(key, None)
            return None
        return item[1]

    async def get(self, key: str) -> T | None:
        """The value, or None when unknown or expired (memory, then the database)."""
        value = self.cached(key)
        if value is not None or self.db is None or self.codec is None:
            return value
        try:
            async with self.db.session() as session:
                kept = await chat_ui.load_payload(session, self.namespace, key)
            if kept is None:
                return None
            payload, expires_at = kept
            value = self.codec.load(payload)
        except Exception as error:  # unreadable or unreachable: the button "expired"
            log.warning("button_payload_unavailable", key=key, error=repr(error)[:200])
            return None
        # cached until its database expiry, on this store's clock
        self._remember(key, self.clock() + (expires_at - utcnow()).total_seconds(), value)
        return value

    def _remember(self, key: str, expires: float, value: T) -> None:
        """Keep `value` in memory (the most recent last; the oldest go past `capacity`)."""
        self._items[key] = (expires, value)
        self._items.move_to_end(key)
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)

    def _save_soon(self) -> None:
        """Write the unsaved payloads in the background (one task at a time, each
        taking everything queued meanwhile); without an event loop, at `flush`."""
        if self._saving is not None and not self._saving.done():
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._saving = loop.create_task(self.flush(), name="button-payloads")

    async def flush(self) -> None:
        """Write every unsaved payload now (also called when the front end stops).
        A failed write is logged; its buttons work on this process until it ends."""
        while self._unsaved and self.db is not None:
            batch, self._unsaved = self._unsaved, {}
            expires_at = utcnow() + timedelta(seconds=self.ttl)
            try:
                async with self.db.session() as session:
                    await chat_ui.save_payloads(session, self.namespace, batch, expires_at)
            except Exception as error:
                log.warning("button_payloads_not_saved", count=len(batch), error=repr(error)[:200])
                return

    async def close(self) -> None:
        """Finish the background write and write what is left (the front end stops)."""
        saving = self._saving
        if saving is not None and not saving.done():
            await asyncio.wait({saving})
        await self.flush()
