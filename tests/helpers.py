"""Test helpers: reading the bundled data independently of the code under test, and
waiting for a condition."""

from __future__ import annotations

import asyncio
import csv
import gzip
import inspect
import struct
from collections.abc import Awaitable, Callable
from functools import cache
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent.parent / "engine" / "market" / "data"


@cache
def raw_rows(name: str) -> tuple[tuple[int, float, float, float, float, float], ...]:
    """Rows of a bundled file via the csv module: (ts, open, high, low, close, volume)."""
    with gzip.open(DATA_DIR / name, "rt", newline="") as handle:
        reader = csv.reader(handle)
        next(reader)
        return tuple((int(r[0]), *(float(x) for x in r[1:])) for r in reader)


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk (asserting the signature)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


async def eventually(
    check: Callable[[], bool | Awaitable[bool]],
    timeout: float,  # noqa: ASYNC109
    what: str,
    interval: float = 0.02,
) -> None:
    """Wait until `check()` (a plain or an async function) is true, looking every
    `interval` seconds; TimeoutError naming `what` after `timeout` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        if loop.time() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(interval)
