"""Background jobs that run every so often for the life of the app (presence idleness)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

log = logging.getLogger(__name__)


async def _every(interval_s: float, job: Callable[[], Awaitable[object]], name: str) -> None:
    while True:
        await asyncio.sleep(interval_s)
        try:
            await job()
        except Exception:  # one failed round must not end the job
            log.exception("periodic job %s failed", name)


@contextlib.asynccontextmanager
async def running(jobs: dict[str, tuple[float, Callable[[], Awaitable[object]]]]) -> AsyncIterator[None]:
    """Run each named job every `interval` seconds until the block ends."""
    tasks = [
        asyncio.create_task(_every(interval, job, name), name=name) for name, (interval, job) in jobs.items()
    ]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
