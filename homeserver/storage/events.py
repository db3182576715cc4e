"""Events, their state deltas and the room's current state, written in one transaction
(the rows: homeserver/storage/event_writes.py) and read back through caches.

`persist_many` is the only writer of events (called by the pipeline in homeserver/rooms/send.py).
Reads of events go through a bounded in-memory cache: events are immutable except for
redaction, which evicts them."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import orjson
from sqlalchemy import Select, and_, bindparam, func, or_, select, tuple_
from sqlalchemy.exc import IntegrityError

from homeserver.events.model import Event, StateKey
from homeserver.ids import EventID, RoomID
from homeserver.room_versions import KNOWN_ROOM_VERSIONS
from homeserver.storage.database import Database
from homeserver.storage.event_writes import (
    EventToPersist,
    NewRoom,
    NewStateGroup,
    RepeatedTxns,
    TxnKey,
    write_events,
)
from homeserver.storage.rooms import AliasInUse
from homeserver.storage.tables import (
    current_state,
    event_txn_ids,
    events,
    room_forward_extremities,
    rooms,
    state_group_entries,
    state_groups,
)

# The write side's types, imported from here by the rest of the code.
__all__ = [
    "EventMeta",
    "EventStore",
    "EventToPersist",
    "NewRoom",
    "NewStateGroup",
    "RepeatedTxns",
    "TopologicalPosition",
    "TxnKey",
]

EVENT_CACHE_SIZE = 50_000
GROUP_CACHE_SIZE = 20_000  # (state group, a few keys) -> their events
FULL_STATE_CACHE_ENTRIES = 200_000  # state entries held by whole-state lookups, all groups together
SMALL_STATE_LOOKUP = 8
BATCH = 500  # IDs per IN (...) clause


def _chains_statement() -> Select[tuple[int, int | None]]:
    """Groups `:ids` and all their ancestors, (id, prev_group) each: a recursive query built
    once (building one per call is most of its cost, and leaves reference cycles behind)."""
    parent = state_groups.alias("parent")
    chain = (
        select(state_groups.c.id, state_groups.c.prev_group)
        .where(state_groups.c.id.in_(bindparam("ids", expanding=True)))
        .cte("chain", recursive=True)
    )
    up = select(parent.c.id, parent.c.prev_group).join(chain, parent.c.id == chain.c.prev_group)
    chain = chain.union(up)
    return select(chain.c.id, chain.c.prev_group)


_CHAINS = _chains_statement()


@dataclass(frozen=True)
class EventMeta:
    """Where an event sits: enough to paginate and to serve it without parsing it."""

    event_id: EventID
    room_id: RoomID
    stream_ordering: int
    depth: int
    state_group: int | None
    replaces_state: EventID | None
    redacted_by: EventID | None


class EventStore:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._cache: OrderedDict[EventID, Event] = OrderedDict()
        self._group_cache: OrderedDict[tuple[int, tuple[StateKey, ...]], dict[StateKey, EventID]] = (
            OrderedDict()
        )
        self._full_cache: OrderedDict[int, dict[StateKey, EventID]] = OrderedDict()
        self._full_cache_entries = 0
        # Bumped whenever a stored event changes (redaction): a read that started before a
        # change may have the old row and must not put it into the cache.
        self._changes = 0

    # Writing

    async def persist(self, item: EventToPersist) -> None:
        await self.persist_many([item])

    async def persist_many(self, items: Sequence[EventToPersist]) -> None:
        """Several events (a new room's first ones, or a batch of sends to one room, each
        following the previous one) in one transaction: all or nothing. A client transaction
        ID stored before (by an earlier batch, maybe before a restart) refuses the whole
        batch with RepeatedTxns, which names the events those transactions made."""
        try:
            await self._db.run_transaction(lambda conn: write_events(conn, self._db.dialect, items))
        except IntegrityError:
            if any(i.new_room is not None and i.new_room.alias is not None for i in items):
                raise AliasInUse("Room alias already taken") from None
            done = await self.events_for_txns([i.txn for i in items if i.txn is not None])
            if done:
                raise RepeatedTxns(done) from None
            raise
        for item in items:
            self._remember(replace(item.event, replaces_state=item.replaces_state))
            if item.prune is not None:
                self._forget(item.prune[0])

    # Reading events

    async def get_events(self, event_ids: Collection[EventID]) -> dict[EventID, Event]:
        """Events by ID (rejected included, unknown left out), from the cache or in batches."""
        found: dict[EventID, Event] = {}
        missing: list[EventID] = []
        for eid in event_ids:
            cached = self._cache.get(eid)
            if cached is not None:
                found[eid] = cached
            else:
                missing.append(eid)
        changes = self._changes
        for i in range(0, len(missing), BATCH):
            rows = await self._db.fetch_all(
                select(
                    events.c.event_id,
                    events.c.json,
                    events.c.rejected_reason,
                    events.c.replaces_state,
                    rooms.c.room_version,
                )
                .join(rooms, rooms.c.room_id == events.c.room_id)
                .where(events.c.event_id.in_(missing[i : i + BATCH]))
            )
            for row in rows:
                event = Event(
                    EventID(row.event_id),
                    KNOWN_ROOM_VERSIONS[row.room_version],
                    orjson.loads(row.json),
                    rejected_reason=row.rejected_reason,
                    replaces_state=row.replaces_state,
                )
                found[event.event_id] = event
                if changes == self._changes:
                    self._remember(event)
        return found

    async def get_event(self, event_id: EventID) -> Event | None:
        return (await self.get_events([event_id])).get(event_id)

    async def get_auth_chain_ids(self, event_ids: Collection[EventID]) -> set[EventID]:
        from homeserver.state.source import walk_auth_chain

        return await walk_auth_chain(self, event_ids)

    def _forget(self, event_id: EventID) -> None:
        self._changes += 1
        self._cache.pop(event_id, None)

    def _remember(self, event: Event) -> None:
        self._cache[event.event_id] = event
        self._cache.move_to_end(event.event_id)
        if len(self._cache) > EVENT_CACHE_SIZE:
            self._cache.popitem(last=False)

    async def get_meta(self, event_ids: Collection[EventID]) -> dict[EventID, EventMeta]:
        out: dict[EventID, EventMeta] = {}
        ids = list(event_ids)
        for i in range(0, len(ids), BATCH):
            rows = await self._db.fetch_all(
                select(
                    events.c.event_id,
                    events.c.room_id,
                    events.c.stream_ordering,
                    events.c.depth,
                    events.c.state_group,
                    events.c.replaces_state,
                    events.c.redacted_by,
                ).where(events.c.event_id.in_(ids[i : i + BATCH]))
            )
            for r in rows:
                out[EventID(r.event_id)] = EventMeta(
                    EventID(r.event_id),
                    RoomID(r.room_id),
                    r.stream_ordering,
                    r.depth,
                    r.state_group,
                    r.replaces_state,
                    r.redacted_by,
                )
        return out

    async def max_stream_ordering(self) -> int:
        return int(await self._db.fetch_value(select(func.max(events.c.stream_ordering))) or 0)

    async def max_state_group(self) -> int:
        return int(await self._db.fetch_value(select(func.max(state_groups.c.id))) or 0)

    async def forward_extremities(self, room_id: RoomID) -> list[EventID]:
        rows = await self._db.fetch_all(
            select(room_forward_extremities.c.event_id).where(room_forward_extremities.c.room_id == room_id)
        )
        return sorted(EventID(r.event_id) for r in rows)

    async def event_for_txn(self, txn: TxnKey) -> EventID | None:
        value = await self._db.fetch_value(
            select(event_txn_ids.c.event_id).where(
                event_txn_ids.c.user_id == txn.user_id,
                event_txn_ids.c.device_id == txn.device_id,
                event_txn_ids.c.txn_key == txn.txn_key,
            )
        )
        return EventID(value) if value is not None else None

    async def events_for_txns(self, txns: Collection[TxnKey]) -> dict[TxnKey, EventID]:
        """The events these client transactions produced, for those that did."""
        c = event_txn_ids.c
        by_key = {(t.user_id, t.device_id, t.txn_key): t for t in txns}
        found: dict[TxnKey, EventID] = {}
        keys = list(by_key)
        for i in range(0, len(keys), BATCH):
            rows = await self._db.fetch_all(
                select(c.user_id, c.device_id, c.txn_key, c.event_id).where(
                    tuple_(c.user_id, c.device_id, c.txn_key).in_(keys[i : i + BATCH])
                )
            )
            for r in rows:
                found[by_key[(r.user_id, r.device_id, r.txn_key)]] = EventID(r.event_id)
        return found

    # Pagination

    async def paginate(
        self, room_id: RoomID, start: TopologicalPosition | None, backwards: bool, limit: int
    ) -> list[tuple[EventID, TopologicalPosition]]:
        """Up to `limit` accepted events of the room strictly after (or, backwards, before)
        `start` in DAG order; from the end (or the beginning) without `start`."""
        c = events.c
        stmt = select(c.event_id, c.depth, c.stream_ordering).where(
            c.room_id == room_id, c.outlier.is_(False), c.rejected_reason.is_(None)
        )
        if start is not None:
            if backwards:
                stmt = stmt.where(_before(start))
            else:
                stmt = stmt.where(
                    or_(c.depth > start.depth, and_(c.depth == start.depth, c.stream_ordering > start.stream))
                )
        if backwards:
            stmt = stmt.order_by(c.depth.desc(), c.stream_ordering.desc())
        else:
            stmt = stmt.order_by(c.depth, c.stream_ordering)
        rows = await self._db.fetch_all(stmt.limit(limit))
        return [(EventID(r.event_id), TopologicalPosition(r.depth, r.stream_ordering)) for r in rows]

    async def position_of(self, event_id: EventID) -> TopologicalPosition | None:
        meta = (await self.get_meta([event_id])).get(event_id)
        return TopologicalPosition(meta.depth, meta.stream_ordering) if meta else None

    async def position_at_stream(self, room_id: RoomID, stream: int) -> TopologicalPosition:
        """The DAG position matching a stream position: just after the last event of the room at
        or before it (for /messages from a /sync token)."""
        row = await self._db.fetch_one(
            select(events.c.depth, events.c.stream_ordering)
            .where(events.c.room_id == room_id, events.c.stream_ordering <= stream)
            .order_by(events.c.stream_ordering.desc())
            .limit(1)
        )
        if row is None:
            return TopologicalPosition(0, 0)
        return TopologicalPosition(row.depth, row.stream_ordering + 1)

    async def state_group_at(self, room_id: RoomID, position: TopologicalPosition) -> int | None:
        """The room's state group at a position: that of the last event strictly before it,
        where backwards pagination from the same position would continue."""
        c = events.c
        return await self._db.fetch_value(  # type: ignore[no-any-return]
            select(c.state_group)
            .where(
                c.room_id == room_id,
                c.outlier.is_(False),
                c.rejected_reason.is_(None),
                c.state_group.is_not(None),
                _before(position),
            )
            .order_by(c.depth.desc(), c.stream_ordering.desc())
            .limit(1)
        )

    # State

    async def current_state_events(
        self, room_id: RoomID, keys: Collection[StateKey]
    ) -> dict[StateKey, Event]:
        """The events of the room's current state at `keys` (keys without one left out)."""
        ids = await self.current_state_ids(room_id, keys)
        found = await self.get_events(set(ids.values()))
        return {key: found[eid] for key, eid in ids.items() if eid in found}

    async def current_state_ids(
        self, room_id: RoomID, keys: Collection[StateKey] | None = None
    ) -> dict[StateKey, EventID]:
        stmt = select(current_state.c.type, current_state.c.state_key, current_state.c.event_id).where(
            current_state.c.room_id == room_id
        )
        if keys is not None:
            if not keys:
                return {}
            stmt = stmt.where(tuple_(current_state.c.type, current_state.c.state_key).in_(list(keys)))
        rows = await self._db.fetch_all(stmt)
        return {(r.type, r.state_key): EventID(r.event_id) for r in rows}

    async def state_ids_at_group(
        self, group_id: int, keys: Collection[StateKey] | None = None
    ) -> dict[StateKey, EventID]:
        """The state of a group (only `keys`, if given): its chain of deltas applied oldest
        first."""
        if keys is None:
            return (await self.state_ids_at_groups([group_id]))[group_id]
        return (await self.state_keys_at_groups({group_id: keys}))[group_id]

    async def state_keys_at_groups(
        self, wanted: Mapping[int, Collection[StateKey]]
    ) -> dict[int, dict[StateKey, EventID]]:
        """Some keys of the state of each group (visibility asks for two per group of a page):
        small lookups from a bounded cache (a group never changes once written), the others
        with one query for the chains and one for the entries (per BATCH)."""
        out: dict[int, dict[StateKey, EventID]] = {}
        missing: dict[int, tuple[StateKey, ...]] = {}
        for group_id, keys in wanted.items():
            if not keys:
                out[group_id] = {}
                continue
            cache_key = (group_id, tuple(sorted(set(keys))))
            hit = self._group_cache.get(cache_key)
            if hit is None:
                missing[group_id] = cache_key[1]
            else:
                self._group_cache.move_to_end(cache_key)
                out[group_id] = dict(hit)
        if not missing:
            return out
        every_key = {k for keys in missing.values() for k in keys}
        folded = await self._fold_chains(list(missing), every_key)
        for group_id, keys in missing.items():
            state = folded[group_id]
            found = {k: v for k in keys if (v := state.get(k)) is not None}
            if len(keys) <= SMALL_STATE_LOOKUP:
                self._group_cache[(group_id, keys)] = found
                if len(self._group_cache) > GROUP_CACHE_SIZE:
                    self._group_cache.popitem(last=False)
            out[group_id] = dict(found)
        return out

    async def state_ids_at_groups(self, group_ids: Collection[int]) -> dict[int, dict[StateKey, EventID]]:
        """The whole state of each group (an initial sync asks for one per room): the cached
        ones (a cache bounded by the entries it holds), and one query for the chains and one
        for the entries of all the others."""
        out: dict[int, dict[StateKey, EventID]] = {}
        missing: list[int] = []
        for group_id in group_ids:
            hit = self._full_cache.get(group_id)
            if hit is None:
                missing.append(group_id)
            else:
                self._full_cache.move_to_end(group_id)
                out[group_id] = dict(hit)
        if not missing:
            return out
        for group_id, full in (await self._fold_chains(missing, None)).items():
            self._cache_full(group_id, full)
            out[group_id] = dict(full)
        return out

    def _cache_full(self, group_id: int, state: dict[StateKey, EventID]) -> None:
        if len(state) <= FULL_STATE_CACHE_ENTRIES // 10:
            self._full_cache[group_id] = state
            self._full_cache_entries += len(state)
            while self._full_cache_entries > FULL_STATE_CACHE_ENTRIES:
                _, evicted = self._full_cache.popitem(last=False)
                self._full_cache_entries -= len(evicted)

    async def _fold_chains(
        self, group_ids: Sequence[int], keys: Collection[StateKey] | None
    ) -> dict[int, dict[StateKey, EventID]]:
        """The state of each group (only `keys`, if given), each chain's deltas applied
        oldest first: one query for the chains, one for the entries of all their links."""
        chains = await self._group_chains(group_ids)
        links = sorted({g for chain in chains.values() for g in chain})
        c = state_group_entries.c
        pairs = sorted(keys) if keys is not None and len(keys) <= BATCH else None
        entries: dict[int, list[tuple[StateKey, str | None]]] = {}
        for i in range(0, len(links), BATCH):
            stmt = select(c.group_id, c.type, c.state_key, c.event_id).where(
                c.group_id.in_(links[i : i + BATCH])
            )
            if pairs is not None:
                stmt = stmt.where(tuple_(c.type, c.state_key).in_(pairs))
            for r in await self._db.fetch_all(stmt):
                entries.setdefault(r.group_id, []).append(((r.type, r.state_key), r.event_id))
        out: dict[int, dict[StateKey, EventID]] = {}
        for group_id in group_ids:
            state: dict[StateKey, str | None] = {}
            for link in reversed(chains[group_id]):  # oldest first: newer deltas win
                state.update(entries.get(link, ()))
            out[group_id] = {
                k: EventID(v) for k, v in state.items() if v is not None and (keys is None or k in keys)
            }
        return out

    async def _group_chains(self, group_ids: Sequence[int]) -> dict[int, list[int]]:
        """Each group and its ancestors, newest first, in one recursive query (per BATCH)."""
        by_id: dict[int, int | None] = {}
        for i in range(0, len(group_ids), BATCH):
            rows = await self._db.fetch_all(_CHAINS, {"ids": list(group_ids[i : i + BATCH])})
            by_id.update((r.id, r.prev_group) for r in rows)
        out: dict[int, list[int]] = {}
        for group_id in group_ids:
            chain = out[group_id] = []
            current: int | None = group_id
            while current is not None and current in by_id:
                chain.append(current)
                current = by_id[current]
        return out

    async def state_group_info(self, group_id: int) -> tuple[int | None, int] | None:
        row = await self._db.fetch_one(
            select(state_groups.c.prev_group, state_groups.c.chain_length).where(
                state_groups.c.id == group_id
            )
        )
        return (row.prev_group, row.chain_length) if row else None

    async def extremity_positions(
        self, event_ids: Sequence[EventID]
    ) -> dict[EventID, tuple[int, int | None]]:
        """depth and state_group of each of these events."""
        rows = await self._db.fetch_all(
            select(events.c.event_id, events.c.depth, events.c.state_group).where(
                events.c.event_id.in_(list(event_ids))
            )
        )
        return {EventID(r.event_id): (r.depth, r.state_group) for r in rows}

    async def room_events_after(self, room_id: RoomID, after_stream: int, limit: int) -> list[EventID]:
        rows = await self._db.fetch_all(
            select(events.c.event_id)
            .where(and_(events.c.room_id == room_id, events.c.stream_ordering > after_stream))
            .order_by(events.c.stream_ordering)
            .limit(limit)
        )
        return [EventID(r.event_id) for r in rows]


@dataclass(frozen=True)
class TopologicalPosition:
    """A point in a room's DAG order: (depth, stream_ordering), compared as a pair."""

    depth: int
    stream: int


def _before(position: TopologicalPosition) -> Any:
    c = events.c
    return or_(c.depth < position.depth, and_(c.depth == position.depth, c.stream_ordering < position.stream))
