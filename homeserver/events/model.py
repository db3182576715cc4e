"""The event model shared by the whole core.

An `Event` wraps the PDU as a plain dict (federation format, exactly as signed) with its
event ID and room version. The dict must be treated as read-only: it is the signed form.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from homeserver.ids import EventID, RoomID, UserID
from homeserver.room_versions import EventFormat, RoomVersion

StateKey = tuple[str, str]  # (type, state_key)


@dataclass(frozen=True, slots=True)
class Event:
    event_id: EventID
    room_version: RoomVersion
    pdu: dict[str, Any] = field(compare=False)
    # Set when the event failed the auth rules (kept for the DAG, never served as state).
    rejected_reason: str | None = field(default=None, compare=False)
    # For a state event of this server's room state: the event it replaced in the room's
    # state (same type and state key), whose content clients get as `prev_content`.
    replaces_state: EventID | None = field(default=None, compare=False)

    @property
    def type(self) -> str:
        return str(self.pdu["type"])

    @property
    def state_key(self) -> str | None:
        sk = self.pdu.get("state_key")
        return sk if isinstance(sk, str) else None

    @property
    def is_state(self) -> bool:
        return "state_key" in self.pdu

    @property
    def key(self) -> StateKey:
        """(type, state_key) of a state event."""
        return (self.type, self.pdu["state_key"])

    @property
    def sender(self) -> UserID:
        return UserID(self.pdu["sender"])

    @property
    def room_id(self) -> RoomID:
        room_id = self.pdu.get("room_id")
        if room_id is None and self.room_version.room_id_is_create_event_hash:
            return RoomID("!" + self.event_id[1:])  # a v12 create event names its room by its ID
        return RoomID(str(room_id))

    @property
    def content(self) -> dict[str, Any]:
        content = self.pdu.get("content")
        return content if isinstance(content, dict) else {}

    @property
    def depth(self) -> int:
        return int(self.pdu.get("depth", 0))

    @property
    def origin_server_ts(self) -> int:
        return int(self.pdu.get("origin_server_ts", 0))

    @property
    def prev_event_ids(self) -> list[EventID]:
        return _ids(self.room_version, self.pdu.get("prev_events", []))

    @property
    def auth_event_ids(self) -> list[EventID]:
        return _ids(self.room_version, self.pdu.get("auth_events", []))

    @property
    def redacts(self) -> EventID | None:
        """The redacted event's ID (top level before v11, in content from v11)."""
        if self.room_version.updated_redaction_rules:
            target = self.content.get("redacts")
        else:
            target = self.pdu.get("redacts")
        return EventID(target) if isinstance(target, str) else None

    @property
    def membership(self) -> str | None:
        m = self.content.get("membership")
        return m if isinstance(m, str) else None


def _ids(version: RoomVersion, refs: list[Any]) -> list[EventID]:
    if version.event_format is EventFormat.V1:
        return [EventID(ref[0]) for ref in refs]
    return [EventID(ref) for ref in refs]
