"""Group commit: many callers' writes stored by one writer task, one transaction
per batch, so concurrent callers do not contend for the database.

    writer = GroupCommit(store_many, max_batch=500)   # store_many(items) -> results
    result = await writer.submit(item)                # after its batch committed
    await writer.close()                              # on shutdown: drain, then end

The writer task starts with the first `submit`. It takes everything queued (up to
`max_batch`), calls `write(batch)` once (which must store the whole batch in one
transaction and return one result per item, in order), then resolves each
caller's future: a result means "committed". Items arriving meanwhile form the
next batch, so batches grow with the load and stay single items when it is light.

If a batch write raises, its items are written again one by one, so one bad item
cannot fail the others: each caller gets its own result or its own exception.
A future never stays pending: if the task ends (closed, cancelled, crashed), the
futures it did not resolve get `WriterClosed`.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections import deque
from collections.abc import Awaitable, Callable, Sequence

import structlog

log = structlog.get_logger(__name__)


class WriterClosed(RuntimeError):
    """The writer stopped before confirming this item (or was closed before it came)."""


class GroupCommit[T, R]:
    def __init__(
        self,
        write: Callable[[Sequence[T]], Awaitable[Sequence[R]]],
        *,
        max_batch: int = 500,
        name: str = "group_commit",
    ) -> None:
        self._write = write
        self.max_batch = max_batch
        self.name = name
        self._queue: deque[tuple[T, asyncio.Future[R]]] = deque()
        self._in_flight: list[tuple[T, asyncio.Future[R]]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self.batches = 0  # batch writes attempted (for logs and benchmarks)
        self.largest_batch = 0
        self.fallbacks = 0  # batches that failed and were retried one by one

    @property
    def pending(self) -> int:
        """Items waiting for the next batch (not counting the one being written)."""
        return len(self._queue)

    @property
    def closed(self) -> bool:
        return self._closed

    def submit(self, item: T) -> asyncio.Future[R]:
        """Queue `item`; the future's result is `write`'s result for it once its
        transaction committed, or the exception that refused it. `WriterClosed`
        (raised here) after `close()`. If the wait may be cancelled, await it
        through `asyncio.shield` or relay it to a future of your own (as
        `Intake.receive` does): cancelling this future does not withdraw the item,
        which may be in a transaction already, but hides its outcome."""
        if self._closed:
            raise WriterClosed(f"{self.name} is closed")
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        self._wake.set()
        if self._task is None:  # a context of its own, not the first caller's
            self._task = asyncio.create_task(
                self._run(), name=self.name, context=contextvars.Context()
            )
        return future

    async def close(self) -> None:
        """Refuse new items, write those queued, and end the writer task."""
        self._closed = True
        self._wake.set()
        task = self._task
        if task is not None and not task.done():
            await asyncio.shield(task)  # a cancelled caller does not stop the drain

    async def _run(self) -> None:
        try:
            while True:
                if not self._queue:
                    if self._closed:
                        return
                    self._wake.clear()
                    await self._wake.wait()
                    continue
                size = min(len(self._queue), self.max_batch)
                self._in_flight = [self._queue.popleft() for _ in range(size)]
                await self._commit(self._in_flight)
                self._in_flight = []
        finally:  # normally empty; after a cancellation or a bug, nobody waits forever
            self._closed = True
            for _, future in [*self._in_flight, *self._queue]:
                _fail(future, WriterClosed(f"{self.name} stopped before confirming this item"))
            self._in_flight = []
            self._queue.clear()

    async def _commit(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        self.batches += 1
        self.largest_batch = max(self.largest_batch, len(batch))
        try:
            results = list(await self._write([item for item, _ in batch]))
            if len(results) != len(batch):
                raise RuntimeError(f"write returned {len(results)} results for {len(batch)}")
        except Exception as error:
            if len(batch) == 1:
                _fail(batch[0][1], error)
                return
            self.fallbacks += 1
            log.warning(
                "group_commit_batch_failed",
                writer=self.name,
                size=len(batch),
                error=f"{type(error).__name__}: {error}"[:300],
            )
            for item, future in batch:  # one by one: each caller gets its own answer
                try:
                    (result,) = await self._write([item])
                except Exception as single_error:
                    _fail(future, single_error)
                else:
                    _resolve(future, result)
            return
        for (_, future), result in zip(batch, results, strict=True):
            _resolve(future, result)


def _resolve[R](future: asyncio.Future[R], result: R) -> None:
    if not future.done():
        future.set_result(result)


def _fail[R](future: asyncio.Future[R], error: BaseException) -> None:
    if not future.done():
        future.set_exception(error)
