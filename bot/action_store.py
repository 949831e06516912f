"""Button payloads too long for a platform's limit (Telegram's 64-byte callback
data, Discord's 100-character custom ids), kept server-side by a short key.

The key is derived from the content, so the same press always gets the same key;
entries are forgotten after `ttl` seconds or beyond `capacity` (oldest first).
The store lives in the process's memory: after a restart, or on another
process, a key is unknown and the adapter says the button has expired.

>>> store = ActionStore[str]()
>>> key = store.put("alarm BTC/USDT above 70000")
>>> len(key), store.get(key)
(11, 'alarm BTC/USDT above 70000')
"""

from __future__ import annotations

import base64
import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable

ACTION_TTL = 48 * 3600.0
ACTION_CAPACITY = 50_000


class ActionStore[T]:
    def __init__(
        self,
        ttl: float = ACTION_TTL,
        capacity: int = ACTION_CAPACITY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl, self.capacity, self.clock = ttl, capacity, clock
        self._items: OrderedDict[str, tuple[float, T]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def put(self, value: T, fingerprint: str | None = None) -> str:
        """Keep `value` under the key derived from `fingerprint` (default: its repr,
        which for the adapters' frozen dataclasses is their content)."""
        digest = hashlib.sha256((fingerprint or repr(value)).encode()).digest()
        key = base64.urlsafe_b64encode(digest[:8]).decode().rstrip("=")
        self._items[key] = (self.clock() + self.ttl, value)
        self._items.move_to_end(key)
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)
        return key

    def get(self, key: str) -> T | None:
        """The value, or None when unknown or expired."""
        item = self._items.get(key)
        if item is None or item[0] < self.clock():
            self._items.pop(key, None)
            return None
        return item[1]
