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
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, ExitStack, asynccontextmanager
from dataclasses import dataclass, replace
from typing import Any

from homeserver.auth.errors import AuthError
from homeserver.auth.power_levels import (
    CREATE_KEY,
    POWER_LEVELS_KEY,
    named_level,
    power_level_in_state,
    power_levels_content_error,
)
from homeserver.auth.rules import auth_types_for_event, check_auth_rules
from homeserver.clock import now_ms
from homeserver.crypto.event_signing import hash_sign_and_id
from homeserver.crypto.keys import SigningKey
from homeserver.errors import (
    BadJson,
    Forbidden,
    InvalidRoomState,
    NotFound,
    TooLarge,
    UnsupportedRoomVersion,
)
from homeserver.events.client_format import client_event
from homeserver.events.model import Event, StateKey
from homeserver.events.redaction import redact, with_redacted_because
from homeserver.events.validation import EventFormatError, EventTooLarge, validate_pdu
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


InitialEvent = tuple[str, str, Mapping[str, Any]]  # (type, state_key, content) of a new room's state


@dataclass(frozen=True)
class NewRoomOptions:
    alias: str | None = None  # a local alias created with the room
    is_public: bool = False  # listed in the room directory


@dataclass
class RoomHead:
    """The room's write position, owned by whoever holds the room's lock."""

    version: RoomVersion
    extremities: list[EventID]
    depth: int
    state_group: int | None
    chain_length: int


class _KeyedLocks:
    """One asyncio.Lock per key, dropped once nobody holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[Any, asyncio.Lock] = {}
        self._users: dict[Any, int] = {}

    @asynccontextmanager
    async def hold(self, key: Any) -> AsyncIterator[None]:
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._users[key] = self._users.get(key, 0) + 1
        try:
            async with lock:
                yield
        finally:
            self._users[key] -= 1
            if self._users[key] == 0:  # nobody waits: drop it, so idle keys cost nothing
                del self._users[key]
                del self._locks[key]


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
        self._locks = _KeyedLocks()  # one writer per room
        self._txns = _KeyedLocks()  # one attempt at a time per client transaction
        self._heads: OrderedDict[RoomID, RoomHead] = OrderedDict()

    # Locks and heads

    def _room_lock(self, room_id: RoomID) -> AbstractAsyncContextManager[None]:
        return self._locks.hold(room_id)

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

    async def create_room(
        self,
        creator: UserID,
        version: RoomVersion,
        content: Mapping[str, Any],
        initial: Sequence[InitialEvent] = (),
        *,
        new_room: NewRoomOptions | None = None,
    ) -> list[Event]:
        """Create a room: its m.room.create event (which gives the room ID), then `initial`
        (state events and memberships, all sent by the creator), built and authorised in
        memory and persisted in one transaction, so a refused event leaves no half-made room
        (M_INVALID_ROOM_STATE). Returns the events, create event first."""
        if version.identifier not in CREATABLE_VERSIONS:
            raise UnsupportedRoomVersion(f"Room version {version.identifier} is not supported for new rooms")
        options = new_room or NewRoomOptions()
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
        create = self._finish(pdu, version)
        self._check_initial(create, {})
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
            event = self._finish(pdu, version)
            self._check_initial(event, state)
            state[event.key] = event
            built.append(event)
        # A snapshot for the create event, then one delta per state event (and a snapshot
        # again whenever the chain of deltas gets long).
        items: list[EventToPersist] = []
        group: int | None = None
        chain = 0
        before: dict[StateKey, EventID] = {}
        for event in built:
            replaced = before.get(event.key)
            before[event.key] = event.event_id
            previous, group = group, self._groups.next()
            if previous is None or chain >= MAX_STATE_CHAIN:
                new_group, chain = NewStateGroup(group, None, 0, dict(before)), 0
            else:
                chain += 1
                new_group = NewStateGroup(group, previous, chain, {event.key: event.event_id})
            items.append(
                EventToPersist(
                    event=event,
                    stream_ordering=0,
                    state_group=group,
                    new_state_group=new_group,
                    replaces_state=replaced,
                    new_room=(
                        NewRoom(
                            room_id,
                            version.identifier,
                            creator,
                            event.origin_server_ts,
                            alias=options.alias,
                            is_public=options.is_public,
                        )
                        if event is create
                        else None
                    ),
                )
            )
        async with self._room_lock(room_id):
            with ExitStack() as positions:
                allocate = self.streams.allocate
                items = [replace(i, stream_ordering=positions.enter_context(allocate())) for i in items]
                await self._store.persist_many(items)
            last = built[-1]
            self._heads[room_id] = RoomHead(version, [last.event_id], last.depth, group, chain)
        for item in items:
            self._notify(item.event, item.stream_ordering)
        return built

    @staticmethod
    def _check_initial(event: Event, state: Mapping[StateKey, Event]) -> None:
        try:
            check_auth_rules(event, state)
        except AuthError as e:
            raise InvalidRoomState(f"{event.type} event not allowed: {e.reason}") from None

    def _notify(self, event: Event, position: int) -> None:
        self._notifier.on_new_event(event, position, persisted_up_to=self.streams.current)

    # Sending

    async def send(self, draft: Draft, *, prune: Event | None = None) -> Event:
        """Build, authorise, sign and persist one event; returns it once it is durable. A
        repeated transaction ID returns the event it first produced. `prune`: the target of a
        redaction, whose content is removed from storage in the same transaction."""
        if draft.txn is None:
            return await self._send(draft, prune)
        async with self._txns.hold(draft.txn):  # a retry waits for the first attempt to finish
            if (existing := await self._event_for_txn(draft.txn)) is not None:
                return existing
            return await self._send(draft, prune)

    async def _send(self, draft: Draft, prune: Event | None) -> Event:
        async with self._room_lock(draft.room_id):
            head = await self._head(draft.room_id)
            event, auth_state, replaced = await self._build(draft, head)
            self._check(event, auth_state)
            await check_new_relation(event, self._store, self._relations)
            item, group, chain = await self._plan(event, head, replaced, draft.txn)
            if prune is not None:
                because = client_event(event, unsigned=None)
                del because["unsigned"]  # its age would freeze; clients get the redaction itself
                pruned = with_redacted_because(redact(prune.pdu, prune.room_version), because)
                item = replace(item, prune=(prune.event_id, pruned))
            with self.streams.allocate() as position:
                await self._store.persist(replace(item, stream_ordering=position))
            head.extremities = [event.event_id]
            head.depth = event.depth
            head.state_group, head.chain_length = group, chain
        self._notify(event, position)
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
        if pdu["type"] == POWER_LEVELS_KEY[0] and pdu.get("state_key") == "":
            problem = power_levels_content_error(pdu["content"], version)
            if problem is not None:
                raise BadJson(f"Invalid power levels: {problem}")
        try:
            event_id, signed = hash_sign_and_id(pdu, version, self._server_name, self._key)
            validate_pdu(signed, version)
        except EventTooLarge as e:
            raise TooLarge(str(e)) from None
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
