"""POST /rooms/{roomId}/upgrade (spec: "Room Upgrades", server behaviour), in Synapse's order:

1. check that the upgrader may send m.room.tombstone in the old room (nothing is made if not),
2. create the replacement room in one go (EventPipeline.create_room): its create event with
   `predecessor`, the upgrader's join, power levels, the transferred state, the canonical alias
   (this server's aliases) and the old room's bans,
3. send the tombstone into the old room,
4. move this server's aliases and the room directory entry to the replacement, and take the
   moved aliases out of the old room's canonical alias,
5. copy the local members' tags, m.direct entries and push rules for the room,
6. raise the old room's levels to send events and invite to max(50, users_default + 1).

Repeats, as Synapse: an upgrade runs once per (room, upgrader); the same user asking again
while it runs, or within five minutes of its success, gets the same replacement room (for any
`new_version`), and anyone else asking meanwhile gets 400 M_UNKNOWN. After that, a tombstoned
room can be upgraded again (a new replacement and tombstone). This memory is per process."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from homeserver.auth.power_levels import CREATE_KEY, POWER_LEVELS_KEY, may_send_state_in
from homeserver.errors import BadJson, Forbidden, MatrixError, NotFound, Unknown
from homeserver.events.model import Event, StateKey
from homeserver.ids import EventID, RoomID, UserID, is_valid_user_id
from homeserver.room_versions import RoomVersion
from homeserver.rooms import upgrade_state as carry
from homeserver.rooms.create import creatable_version
from homeserver.rooms.membership import Memberships
from homeserver.rooms.send import Draft, EventPipeline, InitialEvent
from homeserver.rooms.upgrade_members import MemberSettings
from homeserver.storage.events import EventStore
from homeserver.storage.room_upgrades import RoomUpgradeStore
from homeserver.storage.rooms import RoomStore

log = logging.getLogger(__name__)

TOMBSTONE = "m.room.tombstone"
CANONICAL_ALIAS_KEY: StateKey = ("m.room.canonical_alias", "")
TOMBSTONE_BODY = "This room has been replaced"
REMEMBER_S = 300.0  # as Synapse's response cache for upgrades
MAX_ADDITIONAL_CREATORS = 100
OLD_ROOM_STATE = {
    CREATE_KEY,
    POWER_LEVELS_KEY,
    CANONICAL_ALIAS_KEY,
    *((event_type, "") for event_type in carry.TRANSFERRED_TYPES),
}


@dataclass
class _Upgrade:
    user_id: UserID
    task: asyncio.Task[RoomID]
    finished_at: float | None = None


class RecentUpgrades:
    """The upgrade of each room under way or lately done, and by whom."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._rooms: dict[RoomID, _Upgrade] = {}

    def check_free(self, room_id: RoomID, user_id: UserID) -> None:
        """400 M_UNKNOWN while someone else's upgrade of the room is remembered."""
        self._forget_old()
        upgrade = self._rooms.get(room_id)
        if upgrade is not None and upgrade.user_id != user_id:
            raise Unknown("An upgrade for this room is currently in progress")

    async def run(self, room_id: RoomID, user_id: UserID, work: Callable[[], Awaitable[RoomID]]) -> RoomID:
        """`work`'s result, or the one its remembered run for this room and user gave. The
        work runs to its end even if every caller goes away (a half-done upgrade would leave
        a replacement without a tombstone)."""
        self.check_free(room_id, user_id)
        upgrade = self._rooms.get(room_id)
        if upgrade is None:
            upgrade = self._start(room_id, user_id, work)
        return await asyncio.shield(upgrade.task)

    def _start(self, room_id: RoomID, user_id: UserID, work: Callable[[], Awaitable[RoomID]]) -> _Upgrade:
        async def run_work() -> RoomID:
            return await work()

        upgrade = _Upgrade(user_id, asyncio.create_task(run_work()))
        self._rooms[room_id] = upgrade
        upgrade.task.add_done_callback(lambda _: self._finished(room_id, upgrade))
        return upgrade

    def _finished(self, room_id: RoomID, upgrade: _Upgrade) -> None:
        if not upgrade.task.cancelled() and upgrade.task.exception() is None:
            upgrade.finished_at = self._clock()
        elif self._rooms.get(room_id) is upgrade:
            del self._rooms[room_id]  # a failure is not remembered: the next request tries again

    def _forget_old(self) -> None:
        expired = self._clock() - REMEMBER_S
        for room_id, upgrade in list(self._rooms.items()):
            if upgrade.finished_at is not None and upgrade.finished_at < expired:
                del self._rooms[room_id]


@dataclass(frozen=True)
class _OldRoom:
    room_id: RoomID
    create: Event
    state: dict[StateKey, Event]  # the state an upgrade reads (not members)
    bans: list[Event]
    last_event: EventID | None

    @property
    def power_levels(self) -> Event | None:
        return self.state.get(POWER_LEVELS_KEY)


class RoomUpgrader:
    def __init__(
        self,
        pipeline: EventPipeline,
        events: EventStore,
        rooms: RoomStore,
        memberships: Memberships,
        store: RoomUpgradeStore,
        settings: MemberSettings,
        server_name: str,
        recent: RecentUpgrades | None = None,
    ) -> None:
        self._pipeline = pipeline
        self._events = events
        self._rooms = rooms
        self._memberships = memberships
        self._store = store
        self._settings = settings
        self._server_name = server_name
        self._recent = recent or RecentUpgrades()

    async def upgrade(
        self, user_id: UserID, room_id: RoomID, new_version: str, additional_creators: object = None
    ) -> RoomID:
        """Replace the room with a new one of `new_version`; returns the new room's ID.
        `additional_creators`: the request's, checked here, used only by versions with them."""
        version = creatable_version(new_version)
        creators = _additional_creators(additional_creators, version, user_id)
        self._recent.check_free(room_id, user_id)
        if not await self._rooms.exists(room_id):
            raise NotFound("Unknown room")
        await self._check_may_upgrade(room_id, user_id)
        return await self._recent.run(
            room_id, user_id, lambda: self._upgrade(room_id, user_id, version, creators)
        )

    async def _check_may_upgrade(self, room_id: RoomID, user_id: UserID) -> None:
        """The upgrader must be joined and able to send m.room.tombstone (spec: step 1)."""
        member_key = ("m.room.member", user_id)
        state = await self._events.current_state_events(room_id, {CREATE_KEY, POWER_LEVELS_KEY, member_key})
        member = state.get(member_key)
        if member is None or member.membership != "join" or CREATE_KEY not in state:
            raise Forbidden("You are not in this room")
        if not may_send_state_in(state, user_id, TOMBSTONE):
            raise Forbidden("You cannot upgrade this room: you may not send m.room.tombstone")

    async def _upgrade(
        self, room_id: RoomID, user_id: UserID, version: RoomVersion, additional_creators: list[UserID]
    ) -> RoomID:
        old = await self._old_room(room_id)
        new_room_id = await self._create_replacement(old, user_id, version, additional_creators)
        log.info("%s upgraded %s to %s (room version %s)", user_id, room_id, new_room_id, version.identifier)
        tombstone = {"body": TOMBSTONE_BODY, "replacement_room": new_room_id}
        await self._pipeline.send(Draft(room_id, user_id, TOMBSTONE, tombstone, ""))
        await self._store.move_to_replacement(room_id, new_room_id)
        await self._settings.transfer(room_id, new_room_id)
        await self._update_old_room(old, user_id)
        return new_room_id

    async def _create_replacement(
        self, old: _OldRoom, user_id: UserID, version: RoomVersion, additional_creators: list[UserID]
    ) -> RoomID:
        creation = carry.creation_content(old.create, version, user_id, old.last_event, additional_creators)
        new_creators = {user_id, *additional_creators} if version.creator_has_infinite_power else set()
        final_levels = carry.replacement_power_levels(
            old.power_levels, old.create, user_id, version, new_creators
        )
        first_levels, last_levels = carry.power_levels_events(final_levels, user_id, version)
        profile = await self._memberships.profile_content(user_id)
        initial: list[InitialEvent] = [
            ("m.room.member", user_id, {"membership": "join", **profile}),
            first_levels,
            *carry.copied_state(old.create, old.state),
        ]
        canonical = old.state.get(CANONICAL_ALIAS_KEY)
        if canonical is not None:
            moved, _ = carry.split_canonical_alias(canonical.content, self._is_local)
            if moved:
                initial.append((*CANONICAL_ALIAS_KEY, moved))
        initial.extend(carry.ban_events(old.bans, skip={user_id, *new_creators}))
        if last_levels is not None:
            initial.append(last_levels)
        created = await self._pipeline.create_room(user_id, version, creation, initial)
        return created[0].room_id

    async def _update_old_room(self, old: _OldRoom, user_id: UserID) -> None:
        """Take the moved aliases out of the old room's canonical alias, and quieten it. Like
        Synapse, a refusal here is logged: the replacement exists and is returned anyway."""
        canonical = old.state.get(CANONICAL_ALIAS_KEY)
        if canonical is not None:
            _, kept = carry.split_canonical_alias(canonical.content, self._is_local)
            if kept != canonical.content:
                await self._send_quietly(Draft(old.room_id, user_id, CANONICAL_ALIAS_KEY[0], kept, ""))
        if old.power_levels is not None:
            current = carry.normalised_power_levels(old.power_levels.content, old.create.room_version)
            restricted = carry.restricted_power_levels(current)
            if restricted is not None:
                await self._send_quietly(Draft(old.room_id, user_id, POWER_LEVELS_KEY[0], restricted, ""))

    async def _send_quietly(self, draft: Draft) -> None:
        try:
            await self._pipeline.send(draft)
        except MatrixError as e:
            log.warning("room upgrade: %s not updated in %s: %s", draft.type, draft.room_id, e.message)

    async def _old_room(self, room_id: RoomID) -> _OldRoom:
        """What the upgrade reads of the old room: its create event, the state to carry over
        (and a space's m.space.* links, whatever their state keys), its bans, its last event."""
        state = await self._events.current_state_events(room_id, OLD_ROOM_STATE)
        create = state.get(CREATE_KEY)
        if create is None:
            raise NotFound("Unknown room")
        if carry.is_space(create):
            all_ids = await self._events.current_state_ids(room_id)
            links = {key for key in all_ids if key[0] in carry.SPACE_TYPES}
            state.update(await self._events.current_state_events(room_id, links))
        bans = await self._rooms.members(room_id, ["ban"])
        ban_events = await self._events.get_events({m.event_id for m in bans})
        return _OldRoom(room_id, create, state, list(ban_events.values()), await self._last_event(room_id))

    async def _last_event(self, room_id: RoomID) -> EventID | None:
        """The deepest of the room's forward extremities: its last event before the upgrade."""
        positions = await self._events.extremity_positions(await self._events.forward_extremities(room_id))
        return max(positions, key=lambda e: (positions[e][0], e), default=None)

    def _is_local(self, alias: str) -> bool:
        return alias.partition(":")[2] == self._server_name


def _additional_creators(value: object, version: RoomVersion, upgrader: UserID) -> list[UserID]:
    """The request's `additional_creators` (spec: ignored by versions without them), without
    the upgrader, who is the creator anyway; M_BAD_JSON unless a list of user IDs."""
    if not version.creator_has_infinite_power or value is None:
        return []
    if (
        not isinstance(value, list)
        or len(value) > MAX_ADDITIONAL_CREATORS
        or not all(isinstance(u, str) and is_valid_user_id(u, historical=True) for u in value)
    ):
        raise BadJson(f"additional_creators must be a list of at most {MAX_ADDITIONAL_CREATORS} user IDs")
    return [UserID(u) for u in dict.fromkeys(value) if u != upgrader]
