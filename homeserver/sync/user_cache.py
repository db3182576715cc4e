"""A value per user, read from the database and kept while the notifier has seen no change of
that user in one stream since it was read (a user's memberships, their ignored users)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from homeserver.ids import UserID
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
        self._size = size
        self._values: OrderedDict[UserID, tuple[T, int]] = OrderedDict()

    async def get(self, user_id: UserID) -> T:
        hit = self._values.get(user_id)
        if hit is not None and not self._notifier.changed_since(self._stream, user_id, hit[1]):
            self._values.move_to_end(user_id)
            return hit[0]
        position = self._notifier.positions[self._stream]  # before the read: later changes show
        value = await self._load(user_id)
        self._values[user_id] = (value, position)
        self._values.move_to_end(user_id)
        if len(self._values) > self._size:
            self._values.popitem(last=False)
        return value
