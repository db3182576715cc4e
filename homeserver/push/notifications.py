"""GET /notifications (spec: "Listing notifications", notifications.yaml): the events that
notified the user, newest first, paginated by stream ordering."""

from __future__ import annotations

from typing import Any, Final

import orjson

from homeserver.errors import InvalidParam
from homeserver.events.client_format import client_event
from homeserver.ids import UserID
from homeserver.storage.events import EventStore
from homeserver.storage.push import PushActionStore

DEFAULT_LIMIT: Final = 20
MAX_LIMIT: Final = 100


def parse_from(token: str | None) -> int | None:
    """A `next_token` we gave out: a stream ordering."""
    if token is None:
        return None
    if not (token.isascii() and token.isdigit() and len(token) <= 18):
        raise InvalidParam("'from' is not a token this server gave out")
    return int(token)


class Notifications:
    def __init__(self, store: PushActionStore, events: EventStore) -> None:
        self._store = store
        self._events = events

    async def page(self, user_id: UserID, token: str | None, limit: int, only: str | None) -> dict[str, Any]:
        if only not in (None, "highlight"):
            raise InvalidParam("'only' may only be 'highlight'")
        if limit < 1:
            raise InvalidParam("'limit' must be positive")
        limit = min(limit, MAX_LIMIT)
        rows, next_from = await self._store.notifications(
            user_id, parse_from(token), limit, only == "highlight"
        )
        events = await self._events.get_events({r.event_id for r in rows})
        notifications = []
        for row in rows:
            event = events.get(row.event_id)
            if event is None:
                continue
            actions = orjson.loads(row.actions)
            notifications.append(
                {
                    "actions": actions if isinstance(actions, list) else [],
                    "event": client_event(event),
                    "read": row.read,
                    "room_id": row.room_id,
                    "ts": event.origin_server_ts,
                }
            )
        out: dict[str, Any] = {"notifications": notifications}
        if next_from is not None:
            out["next_token"] = str(next_from)
        return out
