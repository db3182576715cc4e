"""`m.relates_to` (Client-Server API, "Forming relationships between events"): which events
are children of which, and how.

A relation needs `rel_type` and `event_id` strings in the cleartext `content.m.relates_to`;
anything else (a reply's bare `m.in_reply_to`, a malformed object) is no relation at all."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from homeserver.events.model import Event
from homeserver.ids import EventID

THREAD = "m.thread"
REPLACE = "m.replace"
ANNOTATION = "m.annotation"
REFERENCE = "m.reference"
ENCRYPTED = "m.room.encrypted"

MAX_ID_BYTES = 255  # event IDs and rel_types are indexed; longer values are not relations
MAX_KEY_CHARS = 500  # annotation keys (Synapse's limit for local sends)


@dataclass(frozen=True, slots=True)
class Relation:
    rel_type: str
    parent_id: EventID
    key: str | None  # the annotation key, for m.annotation


def relation_of(event: Event) -> Relation | None:
    """The event's relation to its parent, if it has a valid one."""
    return relation_in(event.content)


def relation_in(content: dict[str, Any]) -> Relation | None:
    relates_to = content.get("m.relates_to")
    if not isinstance(relates_to, dict):
        return None
    rel_type = relates_to.get("rel_type")
    parent = relates_to.get("event_id")
    if not isinstance(rel_type, str) or not rel_type or len(rel_type.encode()) > MAX_ID_BYTES:
        return None
    if not isinstance(parent, str) or not parent.startswith("$") or len(parent.encode()) > MAX_ID_BYTES:
        return None
    key = relates_to.get("key") if rel_type == ANNOTATION else None
    return Relation(rel_type, EventID(parent), key if isinstance(key, str) else None)


def is_valid_replacement(original: Event, replacement: Event) -> bool:
    """The spec's validity rules for an `m.replace` event ("Validity of replacement events").
    An encrypted replacement carries `m.new_content` in its ciphertext, which the server
    cannot check: that one rule is left to clients."""
    relation = relation_of(original)
    return (
        original.room_id == replacement.room_id
        and original.sender == replacement.sender
        and original.type == replacement.type
        and not original.is_state
        and not replacement.is_state
        and (relation is None or relation.rel_type != REPLACE)
        and (replacement.type == ENCRYPTED or isinstance(replacement.content.get("m.new_content"), dict))
    )
