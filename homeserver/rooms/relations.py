"""Relations between events as users see them: the rules a new local relation must follow,
and the server-side aggregation ("bundled aggregations") served in `unsigned.m.relations`.

Aggregated (spec v1.19, "Aggregations of child events"):
- m.thread: `latest_event` (topologically latest reply, itself with its bundle), `count`,
  `current_user_participated`;
- m.reference: `chunk` of `{event_id}` in topological order;
- m.replace: the most recent valid replacement (origin_server_ts, then event ID), served as
  an event; the original's content is left as it is, and a redacted original gets none.
m.annotation is not aggregated. State events and edits/annotations get no bundle.

Served children are filtered by what the user may see: the latest edit they may see is
bundled, and a thread whose latest reply they may not see is not summarised for them.

A page of events costs a fixed number of queries whatever its size: two when nothing relates
to it (the thread index, the edits and references); otherwise also the ignored users, the
latest thread replies' own edits and references, and one visibility check for everything
served."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any, Protocol

from homeserver.errors import DuplicateAnnotation, Unknown
from homeserver.events.client_format import client_event
from homeserver.events.model import Event
from homeserver.events.relations import (
    ANNOTATION,
    MAX_KEY_CHARS,
    REFERENCE,
    REPLACE,
    THREAD,
    is_valid_replacement,
    relation_of,
)
from homeserver.ids import EventID, RoomID, UserID
from homeserver.rooms.visibility import Visibility
from homeserver.storage.events import EventStore
from homeserver.storage.relations import ChildRelation, RelationStore

Bundle = dict[str, Any]  # the additions to one event's `unsigned`


async def check_new_relation(event: Event, events: EventStore, relations: RelationStore) -> None:
    """Refuse a local event whose relation breaks the rules a server enforces on sends; run
    under the room's lock, so two identical annotations cannot both pass. Like Synapse: the
    parent must be in the same room and known (or already have children); an annotation
    needs a key of at most 500 characters and must not repeat the sender's own; a thread
    cannot start from an event that has a relation. Beyond Synapse, following the spec's
    "implementations should ignore" rules: no annotation of an annotation, of an edit or of
    a redaction."""
    relation = relation_of(event)
    if relation is None:
        return
    parent = await events.get_event(relation.parent_id)
    if parent is not None and parent.room_id != event.room_id:
        raise Unknown("Relations must be in the same room")
    if parent is None and not await relations.is_parent(relation.parent_id):
        raise Unknown("Can't send relation to unknown event")
    parent_relation = relation_of(parent) if parent is not None else None
    if relation.rel_type == ANNOTATION:
        if relation.key is None:
            raise Unknown("Missing aggregation key")
        if len(relation.key) > MAX_KEY_CHARS:
            raise Unknown("Aggregation key is too long")
        if parent is not None and (
            parent.type == "m.room.redaction"
            or (parent_relation is not None and parent_relation.rel_type in (ANNOTATION, REPLACE))
        ):
            raise Unknown("Annotations must refer to the original event")
        if await relations.has_annotation(relation.parent_id, event.sender, event.type, relation.key):
            raise DuplicateAnnotation("Can't send same reaction twice")
    elif relation.rel_type == THREAD and parent_relation is not None:
        raise Unknown("Cannot start threads from an event with a relation")


class IgnoredUsers(Protocol):
    async def ignored_users(self, user_id: UserID) -> frozenset[UserID]: ...


class Aggregator:
    def __init__(
        self, relations: RelationStore, events: EventStore, visibility: Visibility, ignored: IgnoredUsers
    ) -> None:
        self._relations = relations
        self._events = events
        self._visibility = visibility
        self._ignored = ignored

    async def bundles(self, user_id: UserID, events: Sequence[Event]) -> dict[EventID, Bundle]:
        """What the server adds to each event's `unsigned`, by event ID; events with nothing
        added are left out: `m.relations` for an event with aggregated children, and for a
        state event that replaced another, `replaces_state`, `prev_content` and `prev_sender`
        (clients tell a display-name change from a join by them)."""
        out = await self._relation_bundles(user_id, events)
        for event_id, previous in (await self._previous_state(events)).items():
            out[event_id] = {**out.get(event_id, {}), **previous}
        return out

    async def _previous_state(self, events: Sequence[Event]) -> dict[EventID, Bundle]:
        """Read at serving time, not stored with the event: a redacted previous event gives
        its redacted content (Synapse does the same)."""
        replaced = {
            e.event_id: e.replaces_state for e in events if e.replaces_state is not None and e.is_state
        }
        if not replaced:
            return {}
        found = await self._events.get_events(set(replaced.values()))
        return {
            event_id: {"replaces_state": prev_id, "prev_content": prev.content, "prev_sender": prev.sender}
            for event_id, prev_id in replaced.items()
            if (prev := found.get(prev_id)) is not None
        }

    async def _relation_bundles(self, user_id: UserID, events: Sequence[Event]) -> dict[EventID, Bundle]:
        """`{"m.relations": ...}` for each of these events that has aggregated children."""
        parents = {e.event_id: e for e in events if _may_have_bundle(e)}
        if not parents:
            return {}
        summaries = await self._relations.thread_summaries(list(parents))
        children = list(await self._relations.edits_and_references(list(parents)))
        if not summaries and not children:
            return {}
        ignored = await self._ignored.ignored_users(user_id)
        if ignored and summaries:  # the index counts everyone's replies: count afresh
            summaries = await self._relations.thread_summaries_without(
                [s.thread_id for s in summaries], ignored
            )
        threads = {s.thread_id: s for s in summaries if s.room_id == parents[s.thread_id].room_id}
        loaded = await self._events.get_events({s.latest_event_id for s in threads.values()})
        replies = {
            tid: loaded[s.latest_event_id] for tid, s in threads.items() if s.latest_event_id in loaded
        }
        # A latest reply is served with its own bundle: its edits and references (a thread
        # reply is never a thread root), read here so that one visibility check serves both.
        reply_parents = {e.event_id: e for e in replies.values() if _may_have_bundle(e)}
        if reply_parents:
            children += await self._relations.edits_and_references(list(reply_parents))
        parents |= reply_parents
        references, edits = _split(children, ignored)
        loaded |= await self._events.get_events({e for c in edits.values() for _, e in c})
        valid_edits = _valid_edits(parents, edits, loaded)
        served = [*replies.values(), *(e for c in valid_edits.values() for e in c)]
        visible = await self._visible(user_id, served)
        replies = {tid: e for tid, e in replies.items() if e.event_id in visible}
        latest_edits = {
            pid: edit
            for pid, candidates in valid_edits.items()
            if (edit := next((e for e in candidates if e.event_id in visible), None)) is not None
        }
        participated = await self._participated(user_id, parents, replies)

        def bundle(event_id: EventID) -> Bundle | None:
            aggregated: dict[str, Any] = {}
            reply = replies.get(event_id)
            if reply is not None:
                aggregated[THREAD] = {
                    "latest_event": client_event(reply, unsigned=bundle(reply.event_id)),
                    "count": threads[event_id].count,
                    "current_user_participated": event_id in participated,
                }
            if event_id in references:
                aggregated[REFERENCE] = {"chunk": [{"event_id": e} for e in references[event_id]]}
            if event_id in latest_edits:
                aggregated[REPLACE] = client_event(latest_edits[event_id])
            return {"m.relations": aggregated} if aggregated else None

        return {e.event_id: b for e in events if (b := bundle(e.event_id)) is not None}

    async def _participated(
        self, user_id: UserID, parents: dict[EventID, Event], threads: dict[EventID, Event]
    ) -> set[EventID]:
        """Roots of these threads that the user sent or replied to."""
        own = {tid for tid in threads if parents[tid].sender == user_id}
        others = [tid for tid in threads if tid not in own]
        return own | (await self._relations.participated(others, user_id) if others else set())

    async def _visible(self, user_id: UserID, events: Sequence[Event]) -> set[EventID]:
        by_room: dict[RoomID, list[Event]] = defaultdict(list)
        for event in events:
            by_room[event.room_id].append(event)
        visible: set[EventID] = set()
        for room_id, room_events in by_room.items():
            visible.update(e.event_id for e in await self._visibility.filter(user_id, room_id, room_events))
        return visible


def _may_have_bundle(event: Event) -> bool:
    """State events get no bundle, nor do edits and annotations (nothing may relate to them)."""
    if event.is_state or event.rejected_reason is not None:
        return False
    relation = relation_of(event)
    return relation is None or relation.rel_type not in (ANNOTATION, REPLACE)


def _split(
    children: Sequence[ChildRelation], ignored: frozenset[UserID]
) -> tuple[dict[EventID, list[EventID]], dict[EventID, list[tuple[int, EventID]]]]:
    """References (in order) and edit candidates (origin_server_ts, event ID) by parent,
    leaving out ignored senders and the edits of redacted originals."""
    references: dict[EventID, list[EventID]] = defaultdict(list)
    edits: dict[EventID, list[tuple[int, EventID]]] = defaultdict(list)
    for child in children:
        if child.sender in ignored:
            continue
        if child.rel_type == REFERENCE:
            references[child.parent_id].append(child.event_id)
        elif not child.parent_redacted:
            edits[child.parent_id].append((child.origin_server_ts, child.event_id))
    return references, edits


def _valid_edits(
    parents: dict[EventID, Event],
    candidates: dict[EventID, list[tuple[int, EventID]]],
    loaded: dict[EventID, Event],
) -> dict[EventID, list[Event]]:
    """The valid replacements of each parent, most recent first: greatest origin_server_ts,
    then the lexicographically greatest event ID."""
    valid: dict[EventID, list[Event]] = {}
    for parent_id, edits in candidates.items():
        found = [
            edit
            for _, edit_id in sorted(edits, reverse=True)
            if (edit := loaded.get(edit_id)) is not None and is_valid_replacement(parents[parent_id], edit)
        ]
        if found:
            valid[parent_id] = found
    return valid
