"""An Uplink run as a task for the length of a block, and waiting for its events."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from edge.uplink.client import Uplink, UplinkEvent


@contextlib.asynccontextmanager
async def running(uplink: Uplink) -> AsyncIterator[Uplink]:
    task = asyncio.create_task(uplink.run(), name="uplink-under-test")
    try:
        yield uplink
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def event(uplink: Uplink, kind: str, *, timeout_s: float = 10.0) -> UplinkEvent:
    """The next event of ``kind`` (others are skipped), within ``timeout_s``."""
    async with asyncio.timeout(timeout_s):
        while True:
            got = await uplink.events.get()
            if got.kind == kind:
                return got
