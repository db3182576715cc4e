"""Device-list tracking for end-to-end encryption (spec: "Tracking the device list for a
user"): a user's devices changed (created, deleted, renamed; key uploads later), and /sync's
`device_lists` section, `changed` and `left`.

`changed` names the users, sharing a joined room with the syncing user, whose devices
changed, plus those who started sharing a room with them (the spec allows naming a user who
already shared another room). `left` names those who no longer share any joined room."""

from __future__ import annotations

from homeserver.ids import UserID
from homeserver.notifier import Notifier, Stream
from homeserver.storage.device_lists import DeviceListStore
from homeserver.storage.rooms import RoomStore
from homeserver.storage.streams import StreamIdGenerator


class DeviceLists:
    def __init__(
        self, store: DeviceListStore, rooms: RoomStore, notifier: Notifier, streams: StreamIdGenerator
    ) -> None:
        self._store = store
        self._rooms = rooms
        self._notifier = notifier
        self._streams = streams

    @property
    def position(self) -> int:
        """The device-list stream position below which every change is committed."""
        return self._streams.current

    async def changed(self, user_id: UserID) -> None:
        """The user's devices (or their keys) changed: tell the user's other devices and
        everyone who shares a room with them."""
        with self._streams.allocate() as stream_id:
            await self._store.add(user_id, stream_id)
        rooms = [m.room_id for m in await self._rooms.rooms_for_user(user_id)]
        self._notifier.notify(
            Stream.DEVICE_LISTS, stream_id, visible=self._streams.current, users=(user_id,), rooms=rooms
        )

    async def for_sync(
        self,
        user_id: UserID,
        since_device_lists: int,
        until_device_lists: int,
        since_rooms: int,
        until_rooms: int,
    ) -> tuple[list[str], list[str]]:
        """(changed, left) for an incremental sync from the device-list and room-stream
        ranges; both sorted, disjoint, and `left` never holds `user_id`."""
        changed: set[str] = set()
        if until_device_lists > since_device_lists:
            changed.update(await self._store.changed_devices(user_id, since_device_lists, until_device_lists))
        left: list[UserID] = []
        if until_rooms > since_rooms:
            joins = await self._store.new_joins(user_id, since_rooms, until_rooms)
            changed.update(j.user_id for j in joins if j.user_id != user_id)
            rooms_i_joined = sorted({j.room_id for j in joins if j.user_id == user_id})
            if rooms_i_joined:
                members = await self._store.joined_members(rooms_i_joined)
                changed.update(m for m in members if m != user_id)
            left = await self._store.no_longer_sharing(user_id, since_rooms, until_rooms)
        return sorted(changed), sorted(set(left) - changed)
