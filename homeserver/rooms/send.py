"""The one pipeline every new local event goes through (DESIGN.md, "Shape"):

1. queue the draft for its room's writer (one writer per room; rooms run in parallel),
2. build prev_events, auth_events and depth from the room's head (or the batch so far),
3. hash, sign and compute the event ID, check the format and the room version's auth rules,
4. persist the event, its state delta and its stream position in one transaction, shared by
   the drafts queued meanwhile (group commit),
5. after commit, advance the in-memory head and wake the notifier.

A failure at any step before the commit leaves nothing behind; the head is only advanced
once the transaction has committed."""

from __future__ import annotations

import asyncio
import hashlib
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any, Protocol

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
from homeserver.errors import BadJson, Forbidden, NotFound, TooLarge, UnsupportedRoomVersion
from homeserver.events.client_format import client_event
from homeserver.events.model import Event, StateKey
from homeserver.events.redaction import redact, with_redacted_because
from homeserver.events.validation import EventFormatError, EventTooLarge, validate_pdu
from homeserver.ids import EventID, RoomID, UserID
from homeserver.notifier import Notifier
from homeserver.room_versions import CREATABLE_VERSIONS, KNOWN_ROOM_VERSIONS, RoomVersion
from homeserver.rooms.heads import Batch, Draft, KeyedLocks, Queued, RoomHead, take_batch
from homeserver.rooms.new_room import InitialEvent, NewRoomOptions, build_new_room
from homeserver.rooms.relations import check_new_relation
from homeserver.rooms.txns import RecentTxns
from homeserver.storage.events import EventStore, EventToPersist, NewStateGroup, RepeatedTxns, TxnKey
from homeserver.storage.relations import RelationStore
from homeserver.storage.rooms import RoomStore
from homeserver.storage.streams import Counter, StreamIdGenerator

__all__ = ["CREATABLE_VERSIONS", "Draft", "EventPipeline", "InitialEvent", "NewRoomOptions", "txn_key"]

MAX_PREV_EVENTS = 10
MAX_STATE_CHAIN = 100  # deltas before a state group is stored as a full snapshot
HEAD_CACHE_SIZE = 10_000
MAX_DEPTH = 2**53 - 1
SETTLE_CAP_S = 1.0  # the longest a commit waits for the listeners to act on the one before


class PushHook(Protocol):
    """Adds each event's push actions before the transaction; told of them after commit."""

    async def before_persist(self, items: Sequence[EventToPersist]) -> list[EventToPersist]: ...

    def after_commit(self, items: Sequence[EventToPersist]) -> None: ...


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
        self._locks = KeyedLocks()  # one writer per room
        self._heads: OrderedDict[RoomID, RoomHead] = OrderedDict()
        self._queues: dict[RoomID, deque[Queued]] = {}
        self._writers: dict[RoomID, asyncio.Task[None]] = {}
        self._txn_sends: dict[TxnKey, Queued] = {}
        self._recent_txns = RecentTxns()
        self.push: PushHook | None = None  # set once the push rules are wired (app.py)

    # Heads

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
        self._remember_head(room_id, head)
        return head

    def _remember_head(self, room_id: RoomID, head: RoomHead) -> None:
        self._heads[room_id] = head
        self._heads.move_to_end(room_id)
        if len(self._heads) > HEAD_CACHE_SIZE:
            self._heads.popitem(last=False)

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
        room = build_new_room(
            self._finish,
            self._groups,
            self._server_name,
            creator,
            version,
            content,
            initial,
            new_room or NewRoomOptions(),
            MAX_STATE_CHAIN,
        )
        room_id = room.events[0].room_id
        async with self._locks.hold(room_id):
            items = await self._persist(room.items)
            self._remember_head(room_id, room.head)
        for item in items:
            self._notify(item)
        return room.events

    async def _persist(self, items: Sequence[EventToPersist]) -> list[EventToPersist]:
        """Give the items stream positions, in order, and persist them in one transaction
        (with their push actions, when a push hook is set)."""
        if self.push is not None:
            items = await self.push.before_persist(items)
        with self.streams.allocate_many(len(items)) as positions:
            placed = [replace(i, stream_ordering=p) for i, p in zip(items, positions, strict=True)]
            await self._store.persist_many(placed)
        if self.push is not None:
            self.push.after_commit(placed)
        return placed

    def _notify(self, item: EventToPersist) -> None:
        self._notifier.on_new_event(
            item.event, item.stream_ordering, persisted_up_to=self.streams.current, txn=item.txn
        )

    # Sending

    async def send(self, draft: Draft, *, prune: Event | None = None) -> Event:
        """Build, authorise, sign and persist one event; returns it once it is durable. A
        repeated transaction ID returns the event it first produced, also while the first
        attempt is still under way. `prune`: the target of a redaction, whose content is
        removed from storage in the same transaction. Once queued, the event is written even
        if the caller goes away (so a retry of its transaction finds it)."""
        txn = draft.txn
        if txn is None:
            return await self._enqueue(Queued(draft, prune)).wait()
        running = self._txn_sends.get(txn)
        if running is None:  # the writer answers a repeat of a finished transaction
            running = self._enqueue(Queued(draft, prune, on_done=lambda: self._txn_sends.pop(txn, None)))
            self._txn_sends[txn] = running
        return await running.wait()

    def knows(self, txn: TxnKey) -> bool:
        """Whether a send of this transaction is under way or was completed lately (in this
        process): a repeat of it makes no new event."""
        return txn in self._txn_sends or self._recent_txns.get(txn) is not None

    def _enqueue(self, entry: Queued) -> Queued:
        """Queue the draft for its room's writer (started if none runs)."""
        room_id = entry.draft.room_id
        self._queues.setdefault(room_id, deque()).append(entry)
        if room_id not in self._writers:
            self._writers[room_id] = asyncio.create_task(self._write_room(room_id))
        return entry

    async def _write_room(self, room_id: RoomID) -> None:
        """The room's writer: commits what is queued, in batches (group commit: under load
        several sends share one transaction, and each returns once its event is durable)."""
        queue = self._queues[room_id]
        try:
            while queue:  # nothing is awaited between the last check and the clean-up below
                await self._notifier.settled(SETTLE_CAP_S)  # the last commit's fan-out is done
                batch = take_batch(queue)
                try:
                    async with self._locks.hold(room_id):
                        await self._write_batch(room_id, batch)
                except BaseException as e:
                    for queued in batch:
                        queued.fail(e)
                    if not isinstance(e, Exception):
                        raise
        finally:
            del self._writers[room_id]
            if queue:  # shutting down: nothing more will be written
                for queued in queue:
                    queued.fail(NotFound("The server is shutting down"))
            del self._queues[room_id]

    async def _write_batch(self, room_id: RoomID, queued: Sequence[Queued]) -> None:
        """Build each draft on top of the previous one; persist the ones that pass together.
        A draft refused by the checks fails alone; a failed transaction fails them all and
        leaves the head as it was. A transaction ID used before gets its first event: from
        memory if this process made it lately, else once storage has refused the batch for
        it, and the rest of the batch is built again without it."""
        head = await self._head(room_id)
        queued = await self._answer_repeats(queued, self._recent_txns.get)
        batch = Batch.on(head)
        ready: list[tuple[Queued, EventToPersist]] = []
        for entry in queued:
            try:
                item = await self._prepare(entry, head, batch)
            except Exception as e:
                entry.fail(e)
                continue
            ready.append((entry, item))
        if not ready:
            return
        try:
            items = await self._persist([item for _, item in ready])
        except RepeatedTxns as e:
            for txn, event_id in e.found.items():
                self._recent_txns.add(txn, event_id)
            rest = await self._answer_repeats([entry for entry, _ in ready], e.found.get)
            if len(rest) == len(ready):
                raise
            await self._write_batch(room_id, rest)
            return
        head.advance(batch)
        for (entry, _), item in zip(ready, items, strict=True):
            if item.txn is not None:
                self._recent_txns.add(item.txn, item.event.event_id)
            self._notify(item)
            entry.succeed(item.event)

    async def _prepare(self, entry: Queued, head: RoomHead, batch: Batch) -> EventToPersist:
        draft = entry.draft
        event, auth_state, replaced = await self._build(draft, head, batch)
        self._check(event, auth_state)
        await check_new_relation(event, self._store, self._relations)
        item = await self._plan(event, batch, replaced, draft.txn)
        if entry.prune is not None:
            because = client_event(event, unsigned=None)
            del because["unsigned"]  # its age would freeze; clients get the redaction itself
            pruned = with_redacted_because(redact(entry.prune.pdu, entry.prune.room_version), because)
            item = replace(item, prune=(entry.prune.event_id, pruned))
        return item

    async def _answer_repeats(
        self, queued: Sequence[Queued], made: Callable[[TxnKey], EventID | None]
    ) -> list[Queued]:
        """Drafts whose transaction ID already `made` an event get that event; the rest are
        returned."""
        done = {
            id(entry): event_id for entry in queued if entry.draft.txn and (event_id := made(entry.draft.txn))
        }
        if not done:
            return list(queued)
        found = await self._store.get_events(set(done.values()))
        rest = []
        for entry in queued:
            event_id = done.get(id(entry))
            if event_id is not None and event_id in found:
                entry.succeed(found[event_id])
            else:
                rest.append(entry)
        return rest

    async def _state(
        self, room_id: RoomID, keys: set[StateKey], head: RoomHead, batch: Batch
    ) -> dict[StateKey, Event]:
        """Current state entries: set by the batch, else known to the head, else read (once)."""
        found: dict[StateKey, Event] = {}
        wanted: dict[StateKey, EventID] = {}
        missing = []
        for key in keys:
            if key in batch.new_state:
                found[key] = batch.new_state[key]
            elif key in head.known_state:
                if (event_id := head.known_state[key]) is not None:
                    wanted[key] = event_id
            else:
                missing.append(key)
        if missing:
            read = await self._store.current_state_ids(room_id, missing)
            head.learn((key, read.get(key)) for key in missing)
            wanted.update(read)
        events = await self._store.get_events(set(wanted.values()))
        found.update((key, events[eid]) for key, eid in wanted.items() if eid in events)
        return found

    async def _build(
        self, draft: Draft, head: RoomHead, batch: Batch
    ) -> tuple[Event, dict[StateKey, Event], EventID | None]:
        version = head.version
        content = dict(draft.content)
        selection = auth_types_for_event(draft.type, draft.sender, draft.state_key, content, version)
        wanted = set(selection) | {CREATE_KEY, POWER_LEVELS_KEY}
        own_key = (draft.type, draft.state_key) if draft.state_key is not None else None
        if own_key is not None:
            wanted.add(own_key)
        auth_state = await self._state(draft.room_id, wanted, head, batch)
        pdu: dict[str, Any] = {
            "room_id": draft.room_id,
            "type": draft.type,
            "sender": draft.sender,
            "content": content,
            "origin_server_ts": now_ms(),
            "depth": min(batch.depth + 1, MAX_DEPTH),
            "prev_events": batch.extremities[:MAX_PREV_EVENTS],
            "auth_events": sorted(auth_state[key].event_id for key in selection if key in auth_state),
        }
        if draft.state_key is not None:
            pdu["state_key"] = draft.state_key
        if draft.redacts is not None:
            if version.updated_redaction_rules:
                content["redacts"] = draft.redacts
            else:
                pdu["redacts"] = draft.redacts
        previous = auth_state.get(own_key) if own_key is not None else None
        return self._finish(pdu, version), auth_state, previous.event_id if previous else None

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
        self, event: Event, batch: Batch, replaced: EventID | None, txn: TxnKey | None
    ) -> EventToPersist:
        """How to store the event: its state group (a new delta for a state event; a full
        snapshot now and then), and the batch moves on past it."""
        group, chain = batch.state_group, batch.chain_length
        new_group = None
        if event.is_state:
            group = self._groups.next()
            if batch.state_group is None or batch.chain_length >= MAX_STATE_CHAIN:
                full: dict[StateKey, EventID | None] = dict(
                    await self._store.current_state_ids(event.room_id)
                )
                full.update((key, e.event_id) for key, e in batch.new_state.items())
                full[event.key] = event.event_id
                new_group, chain = NewStateGroup(group, None, 0, full), 0
            else:
                chain = batch.chain_length + 1
                new_group = NewStateGroup(group, batch.state_group, chain, {event.key: event.event_id})
        batch.add(event, group, chain)
        return EventToPersist(
            event=event,
            stream_ordering=0,
            state_group=group,
            new_state_group=new_group,
            replaces_state=replaced,
            txn=txn,
        )

    # Redactions

    async def may_redact(self, redaction: Draft, target: Event) -> bool:
        """Whether `redaction.sender` may redact `target`: its own event, or with the redact
        power level (spec: "Redactions", the checks beyond the auth rules)."""
        if target.room_id != redaction.room_id:
            return False
        if target.sender == redaction.sender:
            return True
        keys = {CREATE_KEY, POWER_LEVELS_KEY, ("m.room.member", redaction.sender)}
        by_key = await self._store.current_state_events(redaction.room_id, keys)
        version = target.room_version
        level = power_level_in_state(by_key, redaction.sender, version)
        return level >= named_level(by_key.get(POWER_LEVELS_KEY), "redact", version)
