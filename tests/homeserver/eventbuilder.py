"""Build `Event` objects for tests with made-up event IDs (no hashing, no signatures).

`Room` keeps a state map and hands out events that cite the right prev_events and
auth_events; `Room.send` runs the auth rules and applies the event, so a test's set-up is
itself checked. `standard_room` is the usual opening: create, creator join, power levels,
join rules.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import pytest

from homeserver.auth.rules import AuthError, auth_types_for_event, check_auth_rules
from homeserver.events.model import Event, StateKey
from homeserver.ids import EventID
from homeserver.room_versions import KNOWN_ROOM_VERSIONS, EventFormat, RoomVersion

ALICE = "@alice:a.test"  # the creator of every test room
BOB = "@bob:b.test"
CAROL = "@carol:a.test"
DAVE = "@dave:c.test"

ALL_VERSIONS = list(KNOWN_ROOM_VERSIONS.values())


def versions(predicate: Callable[[RoomVersion], bool] | None = None) -> list[RoomVersion]:
    """Room versions for pytest.mark.parametrize, optionally filtered by a predicate."""
    return [v for v in ALL_VERSIONS if predicate is None or predicate(v)]


def version_id(version: RoomVersion) -> str:
    return f"v{version.identifier}"


def with_flag(flag: str, value: bool = True) -> pytest.MarkDecorator:
    """Parametrize `version` over the room versions whose `flag` is `value`."""
    return pytest.mark.parametrize("version", versions(lambda v: getattr(v, flag) is value), ids=version_id)


ALL = pytest.mark.parametrize("version", ALL_VERSIONS, ids=version_id)


def auth_failure(event: Event, state: Mapping[StateKey, Event]) -> str:
    """The reason `check_auth_rules` rejects `event` with (fails the test if it is allowed)."""
    with pytest.raises(AuthError) as info:
        check_auth_rules(event, state)
    return info.value.reason


def domain(identifier: str) -> str:
    return identifier.partition(":")[2]


def make_event(
    version: RoomVersion,
    *,
    event_id: str,
    type: str,
    sender: str,
    content: Mapping[str, Any] | None = None,
    room_id: str | None,
    state_key: str | None = None,
    prev_events: Iterable[str] = (),
    auth_events: Iterable[str] = (),
    redacts: str | None = None,
    rejected_reason: str | None = None,
    depth: int = 1,
) -> Event:
    """One event in the room version's PDU format. `room_id=None` leaves room_id out."""
    body = dict(content or {})
    pdu: dict[str, Any] = {
        "type": type,
        "sender": sender,
        "content": body,
        "origin_server_ts": 1_700_000_000_000 + depth,
        "depth": depth,
        "prev_events": _refs(version, prev_events),
        "auth_events": _refs(version, auth_events),
        "hashes": {"sha256": "made-up"},
        "signatures": {},
    }
    if room_id is not None:
        pdu["room_id"] = room_id
    if state_key is not None:
        pdu["state_key"] = state_key
    if redacts is not None:
        if version.updated_redaction_rules:
            body["redacts"] = redacts
        else:
            pdu["redacts"] = redacts
    if version.event_format is EventFormat.V1:
        pdu["event_id"] = event_id
    return Event(EventID(event_id), version, pdu, rejected_reason=rejected_reason)


def _refs(version: RoomVersion, ids: Iterable[str]) -> list[Any]:
    if version.event_format is EventFormat.V1:
        return [[event_id, {"sha256": "made-up"}] for event_id in ids]
    return list(ids)


class Room:
    """A room under construction: its create event, state and forward extremity."""

    def __init__(
        self, version: RoomVersion, creator: str = ALICE, create_content: Mapping[str, Any] | None = None
    ) -> None:
        self.version = version
        self.state: dict[StateKey, Event] = {}
        self.latest: list[str] = []
        self._count = 0
        content: dict[str, Any] = {"room_version": version.identifier}
        if not version.implicit_room_creator:
            content["creator"] = creator
        content.update(create_content or {})
        create_id = self.new_event_id(creator)
        if version.room_id_is_create_event_hash:
            self.room_id = "!" + create_id[1:]
        else:
            self.room_id = f"!room:{domain(creator)}"
        self.create = self.event("m.room.create", creator, content, state_key="", event_id=create_id, prev=[])
        self.send_event(self.create)

    def new_event_id(self, sender: str) -> str:
        self._count += 1
        if self.version.event_format is EventFormat.V1:
            return f"${self._count}:{domain(sender)}"
        return f"$event{self._count}AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"

    def event(
        self,
        type: str,
        sender: str,
        content: Mapping[str, Any] | None = None,
        *,
        state_key: str | None = None,
        prev: Iterable[str] | None = None,
        auth: Iterable[str] | None = None,
        event_id: str | None = None,
        redacts: str | None = None,
        rejected_reason: str | None = None,
    ) -> Event:
        """A new event on top of the room (not applied). Its auth_events are chosen from the
        current state by the auth events selection unless `auth` is given."""
        content = dict(content or {})
        if auth is None:
            keys = auth_types_for_event(type, sender, state_key, content, self.version)
            auth = [self.state[key].event_id for key in sorted(keys) if key in self.state]
        is_create = type == "m.room.create"
        return make_event(
            self.version,
            event_id=event_id or self.new_event_id(sender),
            type=type,
            sender=sender,
            content=content,
            room_id=None if is_create and self.version.room_id_is_create_event_hash else self.room_id,
            state_key=state_key,
            prev_events=self.latest if prev is None else prev,
            auth_events=auth,
            redacts=redacts,
            rejected_reason=rejected_reason,
            depth=self._count,
        )

    def send_event(self, event: Event) -> Event:
        """Check `event` against the current state, then apply it."""
        check_auth_rules(event, self.state)
        if event.is_state:
            self.state[event.key] = event
        self.latest = [event.event_id]
        return event

    def send(self, type: str, sender: str, content: Mapping[str, Any] | None = None, **kwargs: Any) -> Event:
        return self.send_event(self.event(type, sender, content, **kwargs))

    def member(self, sender: str, membership: str, target: str | None = None, **content: Any) -> Event:
        """An m.room.member event (not applied); target defaults to the sender."""
        return self.event(
            "m.room.member", sender, {"membership": membership, **content}, state_key=target or sender
        )

    def set_member(self, sender: str, membership: str, target: str | None = None, **content: Any) -> Event:
        return self.send_event(self.member(sender, membership, target, **content))

    def force_member(self, user: str, membership: str) -> Event:
        """Put a membership in the state without running the auth rules (set-up shortcut)."""
        event = self.member(user, membership)
        self.state[event.key] = event
        return event


def standard_room(
    version: RoomVersion,
    join_rule: str = "public",
    users: Mapping[str, int] | None = None,
    **power_levels: Any,
) -> Room:
    """create, creator join, power levels (creator 100 before v12, infinite from v12 and not
    listed), join rules."""
    room = Room(version)
    room.set_member(ALICE, "join")
    listed = dict(users or {})
    if not version.creator_has_infinite_power:
        listed.setdefault(ALICE, 100)
    room.send("m.room.power_levels", ALICE, {"users": listed, **power_levels}, state_key="")
    room.send("m.room.join_rules", ALICE, {"join_rule": join_rule}, state_key="")
    return room
