"""One room as the space hierarchy sees it: its valid m.space.child links in the spec's order,
whether a user may see it, and its SpaceHierarchyRoomsChunk (Client-Server API, "Spaces")."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from homeserver.ids import RoomID, is_valid_room_id
from homeserver.room_list import plain_topic
from homeserver.room_versions import KNOWN_ROOM_VERSIONS
from homeserver.storage.hierarchy import SPACE_CHILD, ChildEvent, RoomSnapshot

SPACE_TYPE = "m.space"
MAX_ORDER_LENGTH = 50  # a longer `order` is invalid (spec: m.space.child)
MAX_VIA = 100  # servers kept per child link
# Children listed and walked per space: a bound on the response and the walk that a space's
# admins control (Synapse has none locally; real spaces stay far below it).
MAX_CHILDREN = 1000


def child_via(child: ChildEvent) -> list[str]:
    """The link's `via` servers; an empty list means the link is not valid (removed child)."""
    via = child.content.get("via")
    if not isinstance(via, list) or not via or not all(isinstance(s, str) and s for s in via):
        return []
    return via[:MAX_VIA]


def space_children(snapshot: RoomSnapshot, suggested_only: bool) -> list[ChildEvent]:
    """The space's valid child links in the spec's order (none if the room is not a space)."""
    if _text(snapshot.state, "m.room.create", "type") != SPACE_TYPE:
        return []
    valid = [
        c
        for c in snapshot.children
        if is_valid_room_id(c.state_key)
        and child_via(c)
        and (not suggested_only or c.content.get("suggested") is True)
    ]
    return sorted(valid, key=_order_key)[:MAX_CHILDREN]


def _order_key(child: ChildEvent) -> tuple[int, str, int, str]:
    """Valid `order` values first (by code point), then by timestamp, then by room ID."""
    order = child.content.get("order")
    valid = (
        isinstance(order, str)
        and len(order) <= MAX_ORDER_LENGTH
        and all("\x20" <= ch <= "\x7e" for ch in order)
    )
    if valid:
        assert isinstance(order, str)
        return (0, order, child.origin_server_ts, child.state_key)
    return (1, "", child.origin_server_ts, child.state_key)


def allowed_room_ids(snapshot: RoomSnapshot) -> list[RoomID]:
    """The rooms named by a restricted join rule's m.room_membership conditions."""
    allow = snapshot.state.get("m.room.join_rules", {}).get("allow")
    if not isinstance(allow, list):
        return []
    out: list[RoomID] = []
    for condition in allow:
        if isinstance(condition, dict) and condition.get("type") == "m.room_membership":
            room_id = condition.get("room_id")
            if isinstance(room_id, str) and is_valid_room_id(room_id) and room_id not in out:
                out.append(RoomID(room_id))
    return out


def is_accessible(snapshot: RoomSnapshot, membership: str | None, joined: Collection[str]) -> bool:
    """Whether the user may see the room in the hierarchy (spec: GET /hierarchy `rooms`):
    joined or invited, or the room is world-readable, public, knockable, or restricted with the
    user joined to one of the allowed rooms. `joined` is the set of rooms the user is joined to
    (only the allowed rooms need be in it). A banned user is refused (the spec's 403 case)."""
    if membership == "ban":
        return False
    if membership in ("join", "invite"):
        return True
    if _text(snapshot.state, "m.room.history_visibility", "history_visibility") == "world_readable":
        return True
    rule = _text(snapshot.state, "m.room.join_rules", "join_rule")
    version = KNOWN_ROOM_VERSIONS.get(snapshot.room_version)
    if rule == "public":
        return True
    if version is None:
        return False
    if (rule == "knock" and version.knock_join_rule) or (
        rule == "knock_restricted" and version.knock_restricted_join_rule
    ):
        return True
    if rule == "restricted" and version.restricted_join_rule:
        return any(room_id in joined for room_id in allowed_room_ids(snapshot))
    return False


def room_chunk(snapshot: RoomSnapshot, children: list[ChildEvent]) -> dict[str, Any]:
    """The room's SpaceHierarchyRoomsChunk: its summary and its children as stripped state."""
    state = snapshot.state
    entry: dict[str, Any] = {
        "room_id": snapshot.room_id,
        "num_joined_members": snapshot.joined_members,
        "world_readable": _text(state, "m.room.history_visibility", "history_visibility") == "world_readable",
        "guest_can_join": _text(state, "m.room.guest_access", "guest_access") == "can_join",
        "room_version": snapshot.room_version,
        "children_state": [_stripped(child) for child in children],
    }
    join_rule = _text(state, "m.room.join_rules", "join_rule")
    optional: dict[str, Any] = {
        "name": _text(state, "m.room.name", "name"),
        "topic": plain_topic(state.get("m.room.topic", {})),
        "canonical_alias": _text(state, "m.room.canonical_alias", "alias"),
        "avatar_url": _text(state, "m.room.avatar", "url"),
        "join_rule": join_rule,
        "room_type": _text(state, "m.room.create", "type"),
        "encryption": _text(state, "m.room.encryption", "algorithm"),
    }
    if join_rule in ("restricted", "knock_restricted"):
        optional["allowed_room_ids"] = allowed_room_ids(snapshot) or None
    entry.update({key: value for key, value in optional.items() if value is not None})
    return entry


def _stripped(child: ChildEvent) -> dict[str, Any]:
    return {
        "type": SPACE_CHILD,
        "state_key": child.state_key,
        "content": dict(child.content),
        "sender": child.sender,
        "origin_server_ts": child.origin_server_ts,
    }


def _text(state: Mapping[str, Mapping[str, Any]], event_type: str, key: str) -> str | None:
    value = state.get(event_type, {}).get(key)
    return value if isinstance(value, str) and value else None
