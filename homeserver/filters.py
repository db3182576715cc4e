"""Event filters (Client-Server API, "Filtering"): the RoomEventFilter used by /messages,
/context and (with the sync issue) /sync."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any

from homeserver.errors import BadJson
from homeserver.events.model import Event

MAX_FILTER_ITEMS = 1000


@lru_cache(maxsize=4096)
def _glob(pattern: str) -> re.Pattern[str]:
    return re.compile(fnmatch.translate(pattern))


def _matches_any(value: str, patterns: tuple[str, ...]) -> bool:
    return any(value == p or ("*" in p and _glob(p).match(value)) for p in patterns)


@dataclass(frozen=True)
class RoomEventFilter:
    limit: int | None = None
    types: tuple[str, ...] | None = None
    not_types: tuple[str, ...] = ()
    senders: tuple[str, ...] | None = None
    not_senders: tuple[str, ...] = ()
    rooms: tuple[str, ...] | None = None
    not_rooms: tuple[str, ...] = ()
    contains_url: bool | None = None
    lazy_load_members: bool = False
    include_redundant_members: bool = False
    unread_thread_notifications: bool = False  # /sync: per-thread notification counts

    def allows_type(self, event_type: str) -> bool:
        if self.types is not None and not _matches_any(event_type, self.types):
            return False
        return not (self.not_types and _matches_any(event_type, self.not_types))

    @cached_property
    def passes_all(self) -> bool:
        """Whether the filter lets every event through (only a limit, or nothing, set): the
        common /sync filter, checked per event."""
        return (
            self.types is None
            and not self.not_types
            and self.senders is None
            and not self.not_senders
            and self.rooms is None
            and not self.not_rooms
            and self.contains_url is None
        )

    def matches(self, event: Event) -> bool:
        if self.passes_all:
            return True
        if not self.allows_type(event.type):
            return False
        if self.senders is not None and event.sender not in self.senders:
            return False
        if event.sender in self.not_senders:
            return False
        if self.rooms is not None and event.room_id not in self.rooms:
            return False
        if event.room_id in self.not_rooms:
            return False
        if self.contains_url is not None:
            has_url = isinstance(event.content.get("url"), str)
            if has_url != self.contains_url:
                return False
        return True

    @classmethod
    def from_json(cls, data: Any) -> RoomEventFilter:
        if data is None:
            return cls()
        if not isinstance(data, Mapping):
            raise BadJson("A filter must be a JSON object")
        limit = data.get("limit")
        if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 0):
            raise BadJson("filter limit must be a non-negative integer")
        return cls(
            limit=limit,
            types=_string_list(data, "types"),
            not_types=_string_list(data, "not_types") or (),
            senders=_string_list(data, "senders"),
            not_senders=_string_list(data, "not_senders") or (),
            rooms=_string_list(data, "rooms"),
            not_rooms=_string_list(data, "not_rooms") or (),
            contains_url=_bool(data, "contains_url"),
            lazy_load_members=_bool(data, "lazy_load_members") or False,
            include_redundant_members=_bool(data, "include_redundant_members") or False,
            unread_thread_notifications=_bool(data, "unread_thread_notifications") or False,
        )


def _string_list(data: Mapping[str, Any], key: str) -> tuple[str, ...] | None:
    value = data.get(key)
    if value is None:
        return None
    if (
        not isinstance(value, list)
        or len(value) > MAX_FILTER_ITEMS
        or not all(isinstance(v, str) for v in value)
    ):
        raise BadJson(f"filter field '{key}' must be a list of strings")
    return tuple(value)


def _bool(data: Mapping[str, Any], key: str) -> bool | None:
    value = data.get(key)
    if value is not None and not isinstance(value, bool):
        raise BadJson(f"filter field '{key}' must be a boolean")
    return value


@dataclass(frozen=True)
class RoomFilter:
    rooms: tuple[str, ...] | None = None
    not_rooms: tuple[str, ...] = ()
    include_leave: bool = False
    timeline: RoomEventFilter = RoomEventFilter()
    state: RoomEventFilter = RoomEventFilter()
    ephemeral: RoomEventFilter = RoomEventFilter()
    account_data: RoomEventFilter = RoomEventFilter()

    def includes_room(self, room_id: str) -> bool:
        return (self.rooms is None or room_id in self.rooms) and room_id not in self.not_rooms


@dataclass(frozen=True)
class SyncFilter:
    """The filter of a /sync request (spec: "Filtering", the Filter object)."""

    room: RoomFilter = RoomFilter()
    account_data: RoomEventFilter = RoomEventFilter()
    presence: RoomEventFilter = RoomEventFilter()
    event_format: str = "client"
    event_fields: tuple[str, ...] | None = None

    @classmethod
    def from_json(cls, data: Any) -> SyncFilter:
        if data is None:
            return cls()
        if not isinstance(data, Mapping):
            raise BadJson("A filter must be a JSON object")
        room = data.get("room")
        if room is not None and not isinstance(room, Mapping):
            raise BadJson("filter field 'room' must be an object")
        room = room or {}
        event_format = data.get("event_format", "client")
        if event_format not in ("client", "federation"):
            raise BadJson("event_format must be 'client' or 'federation'")
        return cls(
            room=RoomFilter(
                rooms=_string_list(room, "rooms"),
                not_rooms=_string_list(room, "not_rooms") or (),
                include_leave=_bool(room, "include_leave") or False,
                timeline=RoomEventFilter.from_json(room.get("timeline")),
                state=RoomEventFilter.from_json(room.get("state")),
                ephemeral=RoomEventFilter.from_json(room.get("ephemeral")),
                account_data=RoomEventFilter.from_json(room.get("account_data")),
            ),
            account_data=RoomEventFilter.from_json(data.get("account_data")),
            presence=RoomEventFilter.from_json(data.get("presence")),
            event_format=event_format,
            event_fields=_string_list(data, "event_fields"),
        )
