"""The one pipeline every new local event goes through (DESIGN.md, "Shape"):

1. take the room's lock (one writer per room; rooms run in parallel),
2. build prev_events, auth_events and depth from the room's head,
3. hash, sign and compute the event ID, check the format and the room version's auth rules,
4. persist the event, its state delta and its stream position in one transaction,
5. after commit, update the in-memory head and wake the notifier.

A failure at any step before the commit leaves nothing behind; the head is only advanced
once the transaction has committed."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from collections import OrderedDict
from collections.abc import Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from homeserver.auth.errors import AuthError
from homeserver.auth.power_levels import CREATE_KEY, POWER_LEVELS_KEY, named_level, power_level_in_state
from homeserver.auth.rules import auth_types_for_event, check_auth_rules
from homeserver.clock import now_ms
from homeserver.crypto.event_signing import hash_sign_and_id
from homeserver.crypto.keys import SigningKey
from homeserver.errors import BadJson, Forbidden, NotFound, UnsupportedRoomVersion
from homeserver.events.model import Event, StateKey
from homeserver.events.redaction import redact
from homeserver.events.validation import EventFormatError, validate_pdu
from homeserver.ids import EventID, RoomID, UserID
from homeserver.notifier import Notifier
from homeserver.room_versions import KNOWN_ROOM_VERSIONS, RoomVersion
from homeserver.rooms.relations import check_new_relation
from homeserver.storage.events import EventStore, EventToPersist, NewRoom, NewStateGroup, TxnKey
from homeserver.storage.relations import RelationStore
from homeserver.storage.rooms import RoomStore
from homeserver.storage.streams import Counter, StreamIdGenerator

MAX_PREV_EVENTS = 10
MAX_STATE_CHAIN = 100  # deltas before a state group is stored as a full snapshot
HEAD_CACHE_SIZE = 10_000
MAX_DEPTH = 2**53 - 1


@dataclass(frozen=True)
class Draft:
    """What a local user wants to send; the pipeline fills in the rest."""

    room_id: RoomID
    sender: UserID
    type: str
    content: Mapping[str, Any]
    state_key: str | None = None
    txn: TxnKey | None = None
    redacts: EventID | None = None


@dataclass
class RoomHead:
    """The room's write position, owned by whoever holds the room's lock."""

    version: RoomVersion
    extremities: list[EventID]
    depth: int
    state_group: int | None
    chain_length: int


@dataclass
class _Locks:
    locks: dict[RoomID, asyncio.Lock] = field(default_factory=dict)
    users: dict[RoomID, int] = field(default_factory=dict)


def txn_key(endpoint: str, txn_id: str) -> str:
    """Transaction IDs are scoped to the endpoint (path without the txn ID) and the device."""
    return hashlib.sha256(f"{endpoint}\x00{txn_id}".encode()).hexdigest()


class EventPipeline:
    def __init__(
        self,
        store: EventStore,
        rooms: RoomStore,
        notifier: Notifier,
        server_name: str,
        signing_key: SigningKey,
        streams: StreamIdGenerator,
        state_groups: Counter,
        relations: RelationStore,
    ) -> None:
        self._store = store
        self._relations = relations
        self._rooms = rooms
        self._notifier = notifier
        self._server_name = server_name
        self._key = signing_key
        self.streams = streams
        self._groups = state_groups
        self._locks = _Locks()
        self._heads: OrderedDict[RoomID, RoomHead] = OrderedDict()

    # Locks and heads

    @asynccontextmanager
    async def _room_lock(self, room_id: RoomID) -> Any:
        locks = self._locks
        lock = locks.locks.setdefault(room_id, asyncio.Lock())
        locks.users[room_id] = locks.users.get(room_id, 0) + 1
        try:
            async with lock:
                yield
        finally:
            locks.users[room_id] -= 1
            if locks.users[room_id] == 0:  # nobody waits: drop it, so idle rooms cost nothing
                del locks.users[room_id]
                del locks.locks[room_id]

    async def _head(self, room_id: RoomID) -> RoomHead:
        head = self._heads.get(room_id)
        if head is not None:
            self._heads.move_to_end(room_id)
            return head
        version_id = await self._rooms.room_version(room_id)
        if version_id is None:
            raise NotFound("Unknown room")
        extremities = await self._store.forward_extremities(room_id)
        positions = await self._store.extremity_positions(extremities)
        depth = max((d for d, _ in positions.values()), default=0)
        groups = {g for _, g in positions.values()}
        group = groups.pop() if len(groups) == 1 else None  # several: snapshot on next state event
        info = await self._store.state_group_info(group) if group is not None else None
        chain = info[1] if info is not None else 0
        head = RoomHead(KNOWN_ROOM_VERSIONS[version_id], extremities, depth, group, chain)
        self._heads[room_id] = head
        if len(self._heads) > HEAD_CACHE_SIZE:
            self._heads.popitem(last=False)
        return head

    # Creating a room

    async def create_room(self, creator: UserID, version: RoomVersion, content: Mapping[str, Any]) -> Event:
        """Send the m.room.create event of a new room; the room ID comes with it."""
        if version.identifier not in CREATABLE_VERSIONS:
            raise UnsupportedRoomVersion(f"Room version {version.identifier} is not supported for new rooms")
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
            pdu["room_id"] = f"!{secrets.token_urlsafe(18)}:{self._server_name}"
        event = self._finish(pdu, version)
        self._check(event, {})
        room_id = event.room_id
        group = self._groups.next()
        async with self._room_lock(room_id):
            with self.streams.allocate() as position:
                await self._store.persist(
                    EventToPersist(
                        event=event,
                        stream_ordering=position,
                        state_group=group,
                        new_state_group=NewStateGroup(group, None, 0, {event.key: event.event_id}),
                        new_room=NewRoom(room_id, version.identifier, creator, event.origin_server_ts),
                    )
                )
            self._heads[room_id] = RoomHead(version, [event.event_id], 1, group, 0)
        self._notifier.on_new_event(event, position)
        return event

    # Sending

    async def send(self, draft: Draft, *, prune: Event | None = None) -> Event:
        """Build, authorise, sign and persist one event; returns it once it is durable. A
        repeated transaction ID returns the event it first produced. `prune`: the target of a
        redaction, whose content is removed from storage in the same transaction."""
        if draft.txn is not None and (existing := await self._event_for_txn(draft.txn)) is not None:
            return existing
        async with self._room_lock(draft.room_id):
            if draft.txn is not None and (existing := await self._event_for_txn(draft.txn)) is not None:
                return existing
            head = await self._head(draft.room_id)
            event, auth_state, replaced = await self._build(draft, head)
            self._check(event, auth_state)
            await check_new_relation(event, self._store, self._relations)
            item, group, chain = await self._plan(event, head, replaced, draft.txn)
            if prune is not None:
                item = replace(item, prune=(prune.event_id, redact(prune.pdu, prune.room_version)))
            with self.streams.allocate() as position:
                await self._store.persist(replace(item, stream_ordering=position))
            head.extremities = [event.event_id]
            head.depth = event.depth
            head.state_group, head.chain_length = group, chain
        self._notifier.on_new_event(event, position)
        return event

    async def _event_for_txn(self, txn: TxnKey) -> Event | None:
        event_id = await self._store.event_for_txn(txn)
        return await self._store.get_event(event_id) if event_id is not None else None

    async def _build(
        self, draft: Draft, head: RoomHead
    ) -> tuple[Event, dict[StateKey, Event], EventID | None]:
        version = head.version
        content = dict(draft.content)
        selection = auth_types_for_event(draft.type, draft.sender, draft.state_key, content, version)
        wanted = set(selection) | {CREATE_KEY, POWER_LEVELS_KEY}
        own_key = (draft.type, draft.state_key) if draft.state_key is not None else None
        if own_key is not None:
            wanted.add(own_key)
        state_ids = await self._store.current_state_ids(draft.room_id, wanted)
        state_events = await self._store.get_events(set(state_ids.values()))
        auth_state = {key: state_events[eid] for key, eid in state_ids.items() if eid in state_events}
        pdu: dict[str, Any] = {
            "room_id": draft.room_id,
            "type": draft.type,
            "sender": draft.sender,
            "content": content,
            "origin_server_ts": now_ms(),
            "depth": min(head.depth + 1, MAX_DEPTH),
            "prev_events": head.extremities[:MAX_PREV_EVENTS],
            "auth_events": sorted(state_ids[key] for key in selection if key in state_ids),
        }
        if draft.state_key is not None:
            pdu["state_key"] = draft.state_key
        if draft.redacts is not None:
            if version.updated_redaction_rules:
                content["redacts"] = draft.redacts
            else:
                pdu["redacts"] = draft.redacts
        replaced = state_ids.get(own_key) if own_key is not None else None
        return self._finish(pdu, version), auth_state, replaced

    def _finish(self, pdu: dict[str, Any], version: RoomVersion) -> Event:
        try:
            event_id, signed = hash_sign_and_id(pdu, version, self._server_name, self._key)
            validate_pdu(signed, version)
        except (EventFormatError, ValueError) as e:
            raise BadJson(f"Invalid event: {e}") from None
        return Event(event_id, version, signed)

    @staticmethod
    def _check(event: Event, auth_state: Mapping[StateKey, Event]) -> None:
        try:
            check_auth_rules(event, auth_state)
        except AuthError as e:
            raise Forbidden(f"Event not allowed: {e.reason}") from None

    async def _plan(
        self, event: Event, head: RoomHead, replaced: EventID | None, txn: TxnKey | None
    ) -> tuple[EventToPersist, int | None, int]:
        """How to store the event: its state group (a new delta for a state event), and any
        redaction to apply with it."""
        group, chain = head.state_group, head.chain_length
        new_group = None
        if event.is_state:
            group = self._groups.next()
            if head.state_group is None or head.chain_length >= MAX_STATE_CHAIN:
                full: dict[StateKey, EventID | None] = dict(
                    await self._store.current_state_ids(event.room_id)
                )
                full[event.key] = event.event_id
                new_group, chain = NewStateGroup(group, None, 0, full), 0
            else:
                chain = head.chain_length + 1
                new_group = NewStateGroup(group, head.state_group, chain, {event.key: event.event_id})
        item = EventToPersist(
            event=event,
            stream_ordering=0,
            state_group=group,
            new_state_group=new_group,
            replaces_state=replaced,
            txn=txn,
        )
        return item, group, chain

    # Redactions

    async def may_redact(self, redaction: Draft, target: Event) -> bool:
        """Whether `redaction.sender` may redact `target`: its own event, or with the redact
        power level (spec: "Redactions", the checks beyond the auth rules)."""
        if target.room_id != redaction.room_id:
            return False
        if target.sender == redaction.sender:
            return True
        keys = {CREATE_KEY, POWER_LEVELS_KEY, ("m.room.member", redaction.sender)}
        ids = await self._store.current_state_ids(redaction.room_id, keys)
        state = await self._store.get_events(set(ids.values()))
        by_key = {key: state[eid] for key, eid in ids.items() if eid in state}
        version = target.room_version
        level = power_level_in_state(by_key, redaction.sender, version)
        return level >= named_level(by_key.get(POWER_LEVELS_KEY), "redact", version)


CREATABLE_VERSIONS = frozenset(str(v) for v in range(6, 13))
