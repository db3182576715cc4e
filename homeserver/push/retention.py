"""Deleting old notifications: a user's own notifications (mentions, invites: rows of their
own, see storage/push.py) that are read and older than the retention period go, a batch per
statement, from a periodic job (homeserver/periodic.py). Unread ones stay, since they are the
unread counts; an event's common row stays as long as the event (one row per event, whatever
the room's size).

GET /notifications pages by stream ordering, not by offset, so rows deleted between two pages
only end the listing earlier: a `from` token below every remaining row gives an empty page."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Final

from homeserver.storage.push import PushActionStore

BATCH: Final = 1000  # rows per DELETE: short transactions, other writers are not held up
MAX_BATCHES: Final = 50  # per sweep; a backlog is worked off over the following sweeps
SWEEP_INTERVAL_S: Final = 3600.0
DAY_MS: Final = 24 * 3600 * 1000


class PushRetention:
    def __init__(
        self, store: PushActionStore, retention_days: int, clock: Callable[[], float] = time.time
    ) -> None:
        self._store = store
        self._retention_ms = retention_days * DAY_MS
        self._clock = clock

    async def sweep(self) -> int:
        """Delete read rows stored before the retention period; how many went."""
        cutoff = int(self._clock() * 1000) - self._retention_ms
        deleted = 0
        for _ in range(MAX_BATCHES):
            n = await self._store.delete_read_before(cutoff, BATCH)
            deleted += n
            if n < BATCH:
                break
        return deleted
