"""Room summaries for /sync (spec: "Syncing", `summary`): member counts and heroes per room,
read once and kept until the room's membership changes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from homeserver.events.model import Event
from homeserver.ids import RoomID, UserID
from homeserver.lru import Lru
from homeserver.notifier import ChangeMemory, Notifier, Stream
from homeserver.storage.events import TxnKey
from homeserver.storage.sync import SyncStore

MAX_HEROES = 5
MAX_CACHED_SUMMARIES = 50_000

# A room's member counts, hero candidates, and the room position they were read at.
_SummaryEntry = tuple[dict[str, int], list[tuple[UserID, str]], int]


class RoomSummaries:
    def __init__(self, store: SyncStore, notifier: Notifier) -> None:
        self._store = store
        self._notifier = notifier
        self._member_changes = ChangeMemory(notifier.positions[Stream.ROOMS])
        self._summary_cache: Lru[RoomID, _SummaryEntry] = Lru(MAX_CACHED_SUMMARIES)
        notifier.add_listener(self.on_event)

    def on_event(self, event: Event, position: int, txn: TxnKey | None) -> None:
        """Notifier listener: a member event changes its room's counts and heroes."""
        if event.type == "m.room.member":
            self._member_changes.record(event.room_id, position)

    def members_changed_among(self, room_ids: Sequence[RoomID], position: int) -> list[RoomID]:
        """Those of the rooms whose membership may have changed after `position`."""
        return self._member_changes.changed_among(room_ids, position)

    async def for_rooms(self, room_ids: Sequence[RoomID], user_id: UserID) -> dict[RoomID, dict[str, Any]]:
        """The rooms' summaries for this user; member counts and hero candidates are cached
        per room until its membership changes."""
        entries: dict[RoomID, _SummaryEntry] = {}
        stale: list[RoomID] = []
        for r in room_ids:
            hit = self._summary_cache.get(r)
            if hit is None or self._member_changes.changed_since(r, hit[2]):
                stale.append(r)
            else:
                entries[r] = hit
        if stale:
            position = self._notifier.positions[Stream.ROOMS]
            counts = await self._store.member_counts(stale)
            samples = await self._store.member_samples(stale)
            for room_id in stale:
                entry = (counts.get(room_id, {}), samples[room_id], position)
                self._summary_cache.put(room_id, entry)
                entries[room_id] = entry
        return {r: _summary(entries[r][0], entries[r][1], user_id) for r in room_ids}

    async def for_room(self, room_id: RoomID, user_id: UserID) -> dict[str, Any]:
        return (await self.for_rooms([room_id], user_id))[room_id]


def _summary(counts: dict[str, int], sample: list[tuple[UserID, str]], user_id: UserID) -> dict[str, Any]:
    others = [(u, m) for u, m in sample if u != user_id]
    active = [u for u, m in others if m in ("join", "invite")]
    gone = [u for u, m in others if m not in ("join", "invite")]
    return {
        "m.heroes": (active or gone)[:MAX_HEROES],
        "m.joined_member_count": counts.get("join", 0),
        "m.invited_member_count": counts.get("invite", 0),
    }
