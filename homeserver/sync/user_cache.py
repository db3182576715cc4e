"""A value per user, read from the database and kept while the notifier has seen no change of
that user in one stream since it was read (a user's memberships, their ignored users)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from homeserver.ids import UserID
from homeserver.lru import Lru
from homeserver.notifier import Notifier, Stream

T = TypeVar("T")
MAX_USERS = 100_000


class PerUserCache(Generic[T]):
    def __init__(
        self,
        notifier: Notifier,
        stream: Stream,
        load: Callable[[UserID], Awaitable[T]],
        size: int = MAX_USERS,
    ) -> None:
        self._notifier = notifier
        self._stream = stream
        self._load = load
        self._values: Lru[UserID, tuple[T, int]] = Lru(size)

    async def get(self, user_id: UserID) -> T:
        hit = self._values.get(user_id)
        if hit is not None and not self._notifier.changed_since(self._stream, user_id, hit[1]):
            return hit[0]
        position = self._notifier.positions[self._stream]  # before the read: later changes show
        value = await self._load(user_id)
        self._values.put(user_id, (value, position))
        return value
