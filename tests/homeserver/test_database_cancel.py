"""A read whose caller is cancelled mid-query (a WebSocket frame task when its socket
closes) runs to its end: no connection is torn down under it and no task is left waiting."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select, text

from homeserver.storage.database import Database

# Counts to two million in SQL: long enough to be cancelled while it runs.
SLOW = text(
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 2000000) SELECT count(*) FROM c"
)


async def test_a_cancelled_read_runs_to_its_end_and_leaves_nothing_behind(database: Database) -> None:
    before = asyncio.all_tasks()
    reading = asyncio.ensure_future(database.fetch_value(SLOW))
    for _ in range(3):  # three turns of the loop: the read is sent to the database
        await asyncio.sleep(0)
    reading.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reading
    left = [t for t in asyncio.all_tasks() - before if t is not asyncio.current_task()]
    assert left, "the read goes on without its caller"
    done, pending = await asyncio.wait(left, timeout=60)
    assert not pending
    assert all(not t.cancelled() and t.exception() is None for t in done)
    assert await database.fetch_value(select(1)) == 1
