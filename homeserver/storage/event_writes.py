"""The write side of the event store: the rows of a batch of events (events, transaction IDs,
state groups, current state, memberships, extremities, relations, push actions, redaction
pruning, the search index), all in the caller's transaction. `EventStore.persist_many` is
the only caller; the pipeline in homeserver/rooms/send.py is the only writer."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import bindparam, delete, update
from sqlalchemy.engine import Connection, CursorResult

from homeserver.events.model import Event, StateKey
from homeserver.ids import EventID, RoomID, UserID
from homeserver.storage.dialect import upsert
from homeserver.storage.push import PushPlan, forget_redacted, write_push_plans
from homeserver.storage.search import update_search_index
from homeserver.storage.tables import (
    current_state,
    event_txn_ids,
    events,
    room_aliases,
    room_forward_extremities,
    room_memberships,
    rooms,
    state_group_entries,
    state_groups,
)


@dataclass(frozen=True)
class NewRoom:
    room_id: RoomID
    room_version: str
    creator: UserID
    created_ts: int
    alias: str | None = None  # created with the room; taken already -> AliasInUse, nothing stored
    is_public: bool = False


@dataclass(frozen=True)
class NewStateGroup:
    id: int
    prev_group: int | None
    chain_length: int
    delta: Mapping[StateKey, EventID | None]


@dataclass(frozen=True)
class TxnKey:
    user_id: UserID
    device_id: str
    txn_key: str
    txn_id: str | None = None  # as the client sent it, echoed in unsigned.transaction_id


@dataclass(frozen=True)
class EventToPersist:
    event: Event
    stream_ordering: int
    state_group: int | None
    new_state_group: NewStateGroup | None = None
    replaces_state: EventID | None = None
    txn: TxnKey | None = None
    new_room: NewRoom | None = None
    # For state events that change the room's current state (not rejected, not outliers).
    updates_current_state: bool = field(default=True)
    # A redacted event to prune in the same transaction: (event ID, its redacted PDU).
    prune: tuple[EventID, dict[str, Any]] | None = None
    # Whom the event notifies (push rules), written in the same transaction.
    push: PushPlan | None = None


class RepeatedTxns(Exception):
    """A batch refused because some of its client transaction IDs were used before."""

    def __init__(self, found: Mapping[TxnKey, EventID]) -> None:
        super().__init__(f"{len(found)} transaction IDs used before")
        self.found = found


def write_events(conn: Connection, dialect: str, items: Sequence[EventToPersist]) -> None:
    """The rows of all the items: one statement per table for the whole batch where
    possible, and none for a table with nothing to write (a batch of plain messages
    is four statements). Synchronous: the whole transaction runs at once (on SQLite on the
    event loop's thread; see Database.run_transaction)."""
    from homeserver.storage.relations import index_relation, unindex_relation  # imports this module

    txns = [_txn_row(item) for item in items if item.txn is not None]
    if txns:  # first: a repeated transaction ID stops the batch before any other work
        conn.execute(event_txn_ids.insert(), txns)
    for r in (i.new_room for i in items if i.new_room is not None):
        conn.execute(
            rooms.insert().values(
                room_id=r.room_id,
                room_version=r.room_version,
                creator=r.creator,
                created_ts=r.created_ts,
                is_public=r.is_public,
            )
        )
        if r.alias is not None:
            conn.execute(room_aliases.insert().values(alias=r.alias, room_id=r.room_id, creator=r.creator))
    conn.execute(events.insert(), [_event_row(item) for item in items])
    for item in items:
        index_relation(conn, item.event, item.stream_ordering)
        if item.new_state_group is not None:
            _insert_state_group(conn, item.event.room_id, item.new_state_group)
        event = item.event
        if event.is_state and event.rejected_reason is None and item.updates_current_state:
            _update_current_state(conn, dialect, event, item.stream_ordering)
    _update_extremities(conn, [item.event for item in items])
    write_push_plans(conn, [(i.event, i.stream_ordering, i.push) for i in items if i.push is not None])
    for item in items:
        if item.prune is not None:
            target, pruned = item.prune
            conn.execute(
                update(events)
                .where(events.c.event_id == target)
                .values(json=orjson.dumps(pruned).decode(), redacted_by=item.event.event_id)
            )
            unindex_relation(conn, target)
            forget_redacted(conn, target)
    update_search_index(conn, dialect, items)


def _insert_state_group(conn: Connection, room_id: RoomID, group: NewStateGroup) -> None:
    conn.execute(
        state_groups.insert().values(
            id=group.id, room_id=room_id, prev_group=group.prev_group, chain_length=group.chain_length
        )
    )
    if group.delta:
        conn.execute(
            state_group_entries.insert(),
            [
                {"group_id": group.id, "type": t, "state_key": sk, "event_id": eid}
                for (t, sk), eid in group.delta.items()
            ],
        )


def _update_current_state(conn: Connection, dialect: str, event: Event, stream_ordering: int) -> None:
    etype, state_key = event.key
    conn.execute(
        upsert(
            dialect,
            current_state,
            {"room_id": event.room_id, "type": etype, "state_key": state_key, "event_id": event.event_id},
            key=("room_id", "type", "state_key"),
            update=("event_id",),
        )
    )
    if etype == "m.room.member" and event.membership is not None:
        conn.execute(
            upsert(
                dialect,
                room_memberships,
                {
                    "room_id": event.room_id,
                    "user_id": state_key,
                    "membership": event.membership,
                    "event_id": event.event_id,
                    "stream_ordering": stream_ordering,
                    "forgotten": False,
                },
                key=("room_id", "user_id"),
                update=("membership", "event_id", "stream_ordering", "forgotten"),
            )
        )


def _update_extremities(conn: Connection, new: Sequence[Event]) -> None:
    """The new events replace the extremities they point to; of a chain of new events,
    only the last one becomes an extremity. The usual case, a chain on top of one
    extremity, is one UPDATE."""
    by_room: dict[RoomID, list[Event]] = {}
    for event in new:
        by_room.setdefault(event.room_id, []).append(event)
    for room_id, room_events in by_room.items():
        pointed_to = {prev for event in room_events for prev in event.prev_event_ids}
        heads = [e.event_id for e in room_events if e.event_id not in pointed_to]
        older = pointed_to.difference(e.event_id for e in room_events)  # the new ones are not stored
        if len(older) == 1 and len(heads) == 1:
            (old,) = older
            moved: CursorResult[Any] = conn.execute(
                _MOVE_EXTREMITY, {"room": room_id, "old": old, "new": heads[0]}
            )
            if moved.rowcount == 1:
                continue
        elif older:
            conn.execute(
                delete(room_forward_extremities).where(
                    room_forward_extremities.c.room_id == room_id,
                    room_forward_extremities.c.event_id.in_(sorted(older)),
                )
            )
        conn.execute(
            room_forward_extremities.insert(), [{"room_id": room_id, "event_id": eid} for eid in heads]
        )


_EXTREMITY = room_forward_extremities.c
_MOVE_EXTREMITY = (
    update(room_forward_extremities)
    .where(_EXTREMITY.room_id == bindparam("room"), _EXTREMITY.event_id == bindparam("old"))
    .values(event_id=bindparam("new"))
)


def _event_row(item: EventToPersist) -> dict[str, Any]:
    event = item.event
    return {
        "stream_ordering": item.stream_ordering,
        "event_id": event.event_id,
        "room_id": event.room_id,
        "type": event.type,
        "state_key": event.state_key,
        "sender": event.sender,
        "depth": event.depth,
        "origin_server_ts": event.origin_server_ts,
        "json": orjson.dumps(event.pdu).decode(),
        "rejected_reason": event.rejected_reason,
        "outlier": False,
        "redacted_by": None,
        "state_group": item.state_group,
        "replaces_state": item.replaces_state,
    }


def _txn_row(item: EventToPersist) -> dict[str, Any]:
    assert item.txn is not None
    return {
        "user_id": item.txn.user_id,
        "device_id": item.txn.device_id,
        "txn_key": item.txn.txn_key,
        "txn_id": item.txn.txn_id,
        "event_id": item.event.event_id,
        "created_ts": item.event.origin_server_ts,
    }
