"""What the benches share: a temporary PostgreSQL database, quantiles, polling.

Standard library only at import time: the client processes of bench/webhook.py
import it too.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

PG: dict[str, Any] = dict(
    host=os.environ.get("PULSEWAVE_TEST_PG_HOST", "127.0.0.1"),
    port=int(os.environ.get("PULSEWAVE_TEST_PG_PORT", "5432")),
    user=os.environ.get("PULSEWAVE_TEST_PG_USER", "postgres"),
)


@asynccontextmanager
async def temporary_postgres(prefix: str = "pulsewave_bench") -> AsyncIterator[str]:
    """A PostgreSQL database of its own (`PULSEWAVE_TEST_PG_*`), created for the
    block and dropped after it (WITH (FORCE): connections left open do not keep
    it); yields its SQLAlchemy asyncpg URL."""
    import asyncpg

    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(database="postgres", timeout=5, **PG)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield f"postgresql+asyncpg://{PG['user']}@{PG['host']}:{PG['port']}/{name}"
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


def quantiles(values: list[float], scale: float = 1.0) -> tuple[float, float]:
    """Median and p99 of `values`, each times `scale` (1000: seconds to ms)."""
    ordered = sorted(values)
    return statistics.median(ordered) * scale, ordered[int(0.99 * (len(ordered) - 1))] * scale


async def wait_until(
    check: Callable[[], object],
    timeout: float,  # noqa: ASYNC109
    what: str,
    interval: float = 0.05,
) -> None:
    """Poll `check()` every `interval` seconds until it holds; `TimeoutError(what)`
    after `timeout` seconds (for conditions with no event to wait on)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        await asyncio.sleep(interval)
