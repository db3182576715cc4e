"""The first events of a new room, built and authorised in memory so that the pipeline can
persist them in one transaction (homeserver/rooms/send.py, `EventPipeline.create_room`)."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from homeserver.auth.errors import AuthError
from homeserver.auth.rules import auth_types_for_event, check_auth_rules
from homeserver.clock import now_ms
from homeserver.errors import InvalidRoomState
from homeserver.events.model import Event, StateKey
from homeserver.ids import EventID, UserID
from homeserver.room_versions import RoomVersion
from homeserver.rooms.heads import RoomHead
from homeserver.storage.events import EventToPersist, NewRoom, NewStateGroup
from homeserver.storage.streams import Counter

InitialEvent = tuple[str, str, Mapping[str, Any]]  # (type, state_key, content) of a new room's state
Finish = Callable[[dict[str, Any], RoomVersion], Event]  # hash, sign, give an ID, validate


@dataclass(frozen=True)
class NewRoomOptions:
    alias: str | None = None  # a local alias created with the room
    is_public: bool = False  # listed in the room directory


@dataclass(frozen=True)
class NewRoomEvents:
    events: list[Event]  # the create event first
    items: list[EventToPersist]  # what to persist, stream orderings still to be given
    head: RoomHead  # the room's head once they are persisted


def build_new_room(
    finish: Finish,
    groups: Counter,
    server_name: str,
    creator: UserID,
    version: RoomVersion,
    content: Mapping[str, Any],
    initial: Sequence[InitialEvent],
    options: NewRoomOptions,
    max_chain: int,
) -> NewRoomEvents:
    """The create event (which gives the room ID), then `initial` (all sent by the creator),
    each checked against the state the previous ones made: M_INVALID_ROOM_STATE if the auth
    rules refuse one. State groups: a snapshot for the create event, then one delta per event,
    and a snapshot again whenever the chain of deltas reaches `max_chain`."""
    pdu: dict[str, Any] = {
        "type": "m.room.create",
        "state_key": "",
        "sender": creator,
        "content": dict(content),
        "origin_server_ts": now_ms(),
        "depth": 1,
        "prev_events": [],
        "auth_events": [],
    }
    if not version.room_id_is_create_event_hash:
        pdu["room_id"] = f"!{secrets.token_urlsafe(18)}:{server_name}"
    create = finish(pdu, version)
    _check(create, {})
    room_id = create.room_id
    state: dict[StateKey, Event] = {create.key: create}
    built = [create]
    for event_type, state_key, event_content in initial:
        event_content = dict(event_content)
        selection = auth_types_for_event(event_type, creator, state_key, event_content, version)
        pdu = {
            "room_id": room_id,
            "type": event_type,
            "state_key": state_key,
            "sender": creator,
            "content": event_content,
            "origin_server_ts": now_ms(),
            "depth": built[-1].depth + 1,
            "prev_events": [built[-1].event_id],
            "auth_events": sorted(state[key].event_id for key in selection if key in state),
        }
        event = finish(pdu, version)
        _check(event, state)
        state[event.key] = event
        built.append(event)

    items: list[EventToPersist] = []
    group: int | None = None
    chain = 0
    current: dict[StateKey, EventID] = {}
    for event in built:
        replaced = current.get(event.key)
        current[event.key] = event.event_id
        previous, group = group, groups.next()
        if previous is None or chain >= max_chain:
            new_group, chain = NewStateGroup(group, None, 0, dict(current)), 0
        else:
            chain += 1
            new_group = NewStateGroup(group, previous, chain, {event.key: event.event_id})
        room = None
        if event is create:
            room = NewRoom(
                room_id,
                version.identifier,
                creator,
                event.origin_server_ts,
                alias=options.alias,
                is_public=options.is_public,
            )
        items.append(
            EventToPersist(
                event=event,
                stream_ordering=0,
                state_group=group,
                new_state_group=new_group,
                replaces_state=replaced,
                new_room=room,
            )
        )
    last = built[-1]
    head = RoomHead(version, [last.event_id], last.depth, group, chain)
    head.learn((key, event_id) for key, event_id in current.items())
    return NewRoomEvents(built, items, head)


def _check(event: Event, state: Mapping[StateKey, Event]) -> None:
    try:
        check_auth_rules(event, state)
    except AuthError as e:
        raise InvalidRoomState(f"{event.type} event not allowed: {e.reason}") from None
