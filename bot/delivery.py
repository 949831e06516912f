"""The outbox worker: claims queued messages, sends them through each platform's
`Sender`, and records what happened.

Guarantees (the README's "Delivery" section says the same to operators):

- A row is written before any send, in the transaction that decided the event;
  nothing is sent that was not queued, and nothing queued is forgotten.
- A send is recorded as ``sent`` (with the platform's message id) right after the
  platform confirms it, one row at a time. After a crash, rows claimed but not
  recorded become claimable again when their lease (`lease_seconds`) runs out,
  so the only messages a hard kill can duplicate are those in flight at that
  instant: at most `concurrency` per worker, usually none or one.
- 429: the row waits exactly the platform's `retry_after` (not counted as a
  failed attempt). 5xx / network errors: exponential backoff, then ``failed``
  with the error after `max_attempts`. The chat blocked the bot / is gone: the
  chat is marked inactive (its alarms and follows stop) and its queue dropped.
- Messages to one chat go out in queue order (a row is claimed only when every
  earlier row to its chat is finished); chats are served concurrently, the
  platform's `Sender` enforcing its rate limits.
- A notification's image is uploaded once per platform per process; the
  platform's file id is stored and reused for every other recipient.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import socket
from collections import OrderedDict, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Protocol

import structlog

from handlers.context import Services
from handlers.notify import late_chart, render_notification
from handlers.reply import Reply
from storage import outbox
from storage.outbox import Claimed

log = structlog.get_logger(__name__)

IMAGE_CACHE = 16  # notifications whose picture bytes a worker keeps in memory
FILE_IDS_KEPT = 10_000  # uploaded file ids a worker remembers (also in the database)


class SendError(Exception):
    """A send that did not happen; subclasses say what to do about it."""


class RetryAfter(SendError):
    def __init__(self, seconds: float, description: str = "") -> None:
        super().__init__(description or f"retry after {seconds} s")
        self.seconds = seconds


class TransientError(SendError):
    """Server error, timeout, network: worth retrying."""


class ChatUnavailable(SendError):
    """The bot can no longer write to this chat (blocked, kicked, deleted)."""


class PermanentError(SendError):
    """The platform rejected the message itself; retrying would not help."""


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message for one chat, rendered."""

    chat_external_id: str
    chat_kind: str
    reply: Reply
    image: bytes | None = None
    image_name: str | None = None
    file_id: str | None = None  # the platform already has the image under this id


@dataclass(frozen=True, slots=True)
class Sent:
    message_id: str
    file_id: str | None = None  # set when this send uploaded the image


class Sender(Protocol):
    """A platform adapter's sending side (Telegram, Discord, the console)."""

    platform: str

    async def send(self, message: Outgoing) -> Sent: ...


@dataclass
class DeliveryStats:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    dropped: int = 0
    uploads: int = 0
    by_error: dict[str, int] = field(default_factory=lambda: defaultdict(int))


class DeliveryWorker:
    """Run with `await worker.run(stop)`: it goes straight on while rows are due;
    when none are, it sleeps until this process queues some (woken at once) or
    `poll_seconds` pass."""

    def __init__(
        self,
        services: Services,
        senders: Iterable[Sender],
        *,
        worker_id: str | None = None,
        batch: int = 100,
        concurrency: int = 16,
        lease_seconds: float = 60.0,
        max_attempts: int = 6,
        poll_seconds: float = 1.0,
        backoff_seconds: float = 2.0,
    ) -> None:
        self.services = services
        self.senders = {s.platform: s for s in senders}
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self.batch = batch
        self.concurrency = concurrency
        self.lease = timedelta(seconds=lease_seconds)
        self.max_attempts = max_attempts
        self.poll_seconds = poll_seconds
        self.backoff_seconds = backoff_seconds
        self.stats = DeliveryStats()
        self._file_ids: dict[tuple[int, str], str] = {}
        self._images: OrderedDict[int, bytes | None] = OrderedDict()
        self._late_charts: dict[int, str | None] = {}  # notification → its chart's name
        self._chart_locks: dict[int, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._upload_locks: dict[tuple[int, str], asyncio.Lock] = defaultdict(asyncio.Lock)

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until `stop` is set; in-flight sends finish before returning."""
        log.info("delivery_started", worker=self.worker_id, platforms=sorted(self.senders))
        while not stop.is_set():
            try:
                handled = await self.run_once()
            except Exception:
                log.exception("delivery_round_failed", worker=self.worker_id)
                handled = 0
            if handled:
                continue  # there may be more right away
            await self._idle(stop)
        log.info("delivery_stopped", worker=self.worker_id)

    async def _idle(self, stop: asyncio.Event) -> None:
        """Nothing due: wait until this process queues rows (the database's outbox
        bell), `stop`, or `poll_seconds` (rows queued by other processes, retries
        coming due)."""
        bell = asyncio.ensure_future(self.services.db.outbox_bell.wait(self.poll_seconds))
        stopping = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait((bell, stopping), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in (bell, stopping):
                waiter.cancel()

    async def run_once(self) -> int:
        """Claim one batch and deliver it; returns how many rows were handled."""
        async with self.services.db.session() as session:
            rows = await outbox.claim(
                session, self.worker_id, self.batch, self.lease, platforms=list(self.senders)
            )
        if not rows:
            return 0
        gate = asyncio.Semaphore(self.concurrency)

        async def serve(row: Claimed) -> None:
            # A claim holds at most one row per chat (each chat's oldest unfinished
            # row: first in, first out), so rows are served concurrently.
            async with gate:
                await self._deliver(row)

        await asyncio.gather(*(serve(row) for row in rows))
        return len(rows)

    async def run_until_idle(self, rounds: int = 10_000) -> DeliveryStats:
        """Deliver everything due now (tests and the console use this)."""
        for _ in range(rounds):
            if not await self.run_once():
                break
        return self.stats

    async def _deliver(self, row: Claimed) -> None:
        """Send one row and record the result (sent, retry, failed or dropped)."""
        sender = self.senders[row.platform]
        language = row.chat_language or self.services.config.default_language
        try:
            reply = render_notification(row.kind, row.payload, language)
        except Exception as error:  # a payload we cannot render will never render
            log.exception("notification_render_failed", outbox_id=row.id, kind=row.kind)
            await self._record_failed(row, f"render: {error!r}")
            return
        wanted = None if row.has_image else late_chart(row.payload)
        if wanted is not None:
            row = await self._late_chart(row, wanted)
        key = (row.notification_id, row.platform)
        try:
            if row.has_image and self._reuses(sender) and self._file_id(row, key) is None:
                # The first send of an image uploads it; the others wait for its id.
                async with self._upload_locks[key]:
                    sent = await self._send(sender, row, reply, key)
            else:
                sent = await self._send(sender, row, reply, key)
        except RetryAfter as error:
            self.stats.retried += 1
            self.stats.by_error["429"] += 1
            await self._record_retry(row, error.seconds, str(error), refund=True)
            return
        except ChatUnavailable as error:
            self.stats.dropped += 1
            async with self.services.db.session() as session:
                await outbox.deactivate_chat(session, row.chat_id, str(error))
            log.info("chat_deactivated", chat=row.chat_id, reason=str(error))
            return  # the chat's other rows were dropped with it
        except PermanentError as error:
            await self._record_failed(row, str(error))
            return
        except Exception as error:  # TransientError, or anything unexpected
            self.stats.by_error[type(error).__name__] += 1
            if row.attempts >= self.max_attempts:
                await self._record_failed(row, f"{type(error).__name__}: {error}")
                return
            delay = self.backoff_seconds * 2 ** (row.attempts - 1)
            self.stats.retried += 1
            await self._record_retry(row, delay, f"{type(error).__name__}: {error}")
            return
        async with self.services.db.session() as session:
            recorded = await outbox.mark_sent(session, row.id, self.worker_id, sent.message_id)
            if sent.file_id:
                await outbox.remember_file_id(
                    session, row.notification_id, row.platform, sent.file_id
                )
        if sent.file_id:  # `_send` already keeps it for this worker's next sends
            self.stats.uploads += 1
        if not recorded:  # our lease ran out and another worker took the row
            log.warning("delivery_lease_lost", outbox_id=row.id, worker=self.worker_id)
        self.stats.sent += 1

    @staticmethod
    def _reuses(sender: Sender) -> bool:
        return getattr(sender, "reuses_files", True)  # Discord re-attaches each time

    def _file_id(self, row: Claimed, key: tuple[int, str]) -> str | None:
        return self._file_ids.get(key) or row.file_ids.get(row.platform)

    async def _send(self, sender: Sender, row: Claimed, reply: Reply, key: tuple[int, str]) -> Sent:
        file_id = self._file_id(row, key) if self._reuses(sender) else None
        image = await self._image(row.notification_id) if row.has_image and not file_id else None
        message = Outgoing(
            row.chat_external_id,
            row.chat_kind,
            reply,
            image=image,
            image_name=row.image_name,
            file_id=file_id,
        )
        try:
            sent = await sender.send(message)
        except PermanentError:
            if file_id is None:
                raise
            # The platform refused its own id (a file id is valid for one bot
            # only: the token changed, say): upload the picture again, once.
            sent = await self._send_again(sender, row, message, key, file_id)
        if sent.file_id:
            _bounded(self._file_ids)[key] = sent.file_id
            self._upload_locks.pop(key, None)  # later sends use the id, not the lock
        return sent

    async def _send_again(
        self, sender: Sender, row: Claimed, message: Outgoing, key: tuple[int, str], refused: str
    ) -> Sent:
        """`message` with a file id other than `refused`: the one another send
        uploaded meanwhile, or the picture itself (one upload: the others wait)."""
        log.warning("file_id_refused", notification=row.notification_id, platform=row.platform)
        async with self._upload_locks[key]:
            if self._file_ids.get(key) == refused:
                del self._file_ids[key]
            file_id = self._file_ids.get(key)
            image = None if file_id else await self._image(row.notification_id)
            # (the caller keeps a new id before anything else runs: no await between)
            return await sender.send(dataclasses.replace(message, image=image, file_id=file_id))

    async def _late_chart(self, row: Claimed, wanted: tuple[str, str]) -> Claimed:
        """Draw the chart a notification was queued without (once per process: the
        other recipients wait for it), store it with the notification and send the
        row with it; without it if it cannot be drawn."""
        notification_id = row.notification_id
        async with self._chart_locks[notification_id]:
            if notification_id not in self._late_charts:
                chart = await self.services.charts.notification_chart(*wanted)
                if chart is not None:
                    self._keep_image(notification_id, chart[0])
                    try:  # stored for other workers; this one sends it from memory anyway
                        async with self.services.db.session() as session:
                            await outbox.attach_image(session, notification_id, *chart)
                    except Exception:
                        log.warning("late_chart_not_stored", notification=notification_id)
                _bounded(self._late_charts)[notification_id] = chart[1] if chart else None
        self._chart_locks.pop(notification_id, None)
        name = self._late_charts.get(notification_id)
        if name is None:
            return row
        return dataclasses.replace(row, has_image=True, image_name=name)

    def _keep_image(self, notification_id: int, png: bytes | None) -> None:
        self._images[notification_id] = png
        if len(self._images) > IMAGE_CACHE:
            self._images.popitem(last=False)

    async def _image(self, notification_id: int) -> bytes | None:
        """The picture's bytes, read once per notification while it is recent (a
        platform that re-attaches it to every message needs them every time)."""
        if notification_id in self._images:
            self._images.move_to_end(notification_id)
            return self._images[notification_id]
        async with self.services.db.session() as session:
            png = await outbox.image(session, notification_id)
        self._keep_image(notification_id, png)
        return png

    async def _record_retry(
        self, row: Claimed, seconds: float, error: str, refund: bool = False
    ) -> None:
        async with self.services.db.session() as session:
            await outbox.mark_retry(
                session, row.id, self.worker_id, timedelta(seconds=seconds), error, refund=refund
            )

    async def _record_failed(self, row: Claimed, error: str) -> None:
        self.stats.failed += 1
        log.warning("delivery_failed", outbox_id=row.id, chat=row.chat_id, error=error)
        async with self.services.db.session() as session:
            await outbox.mark_failed(session, row.id, self.worker_id, error)


def _bounded[K, V](table: dict[K, V]) -> dict[K, V]:
    """`table`, its oldest half dropped once it holds `FILE_IDS_KEPT` entries."""
    if len(table) >= FILE_IDS_KEPT:
        for old in list(table)[: FILE_IDS_KEPT // 2]:
            del table[old]
    return table
