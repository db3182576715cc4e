"""The newest events of each active room, in stream order, fed by the notifier after each
commit: what an incremental sync needs to answer "what is new in this room" without a query.

A room's log is complete above `covers_after`: every event of the room with a higher stream
position is in it (events of one room commit in stream order, under the room lock). A reader
asking about an older position, or a room without a log, goes to the database.

An event's relations (reactions, edits, thread replies) can only arrive after it, so the log
also notes which of its events have become relation targets: the others need no aggregation
query. (Events that arrive out of order over federation must not be fed to this log.)"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass, field

from homeserver.events.model import Event
from homeserver.ids import EventID, RoomID
from homeserver.storage.events import TxnKey

PER_ROOM = 64
MAX_ROOMS = 20_000


@dataclass(frozen=True, slots=True)
class RecentEvent:
    stream: int
    event_id: EventID
    txn: TxnKey | None


@dataclass(slots=True)
class _RoomLog:
    covers_after: int
    entries: deque[RecentEvent] = field(default_factory=deque)
    targets: set[EventID] = field(default_factory=set)


class RecentEvents:
    def __init__(self, per_room: int = PER_ROOM, max_rooms: int = MAX_ROOMS) -> None:
        self._per_room = per_room
        self._max_rooms = max_rooms
        self._rooms: OrderedDict[RoomID, _RoomLog] = OrderedDict()

    def on_event(self, event: Event, position: int, txn: TxnKey | None) -> None:
        """Notifier listener: `event` committed at `position`."""
        room_id = event.room_id
        log = self._rooms.get(room_id)
        if log is None or (log.entries and log.entries[-1].stream >= position):
            # A fresh log knows nothing at or below the newest position seen for the room.
            known = log.entries[-1].stream if log is not None and log.entries else 0
            log = self._rooms[room_id] = _RoomLog(covers_after=max(position - 1, known))
            if len(self._rooms) > self._max_rooms:
                self._rooms.popitem(last=False)
        else:
            self._rooms.move_to_end(room_id)
        log.entries.append(RecentEvent(position, event.event_id, txn))
        if len(log.entries) > self._per_room:
            log.covers_after = log.entries.popleft().stream
        parent = _relation_target(event)
        if parent is not None:
            log.targets.add(parent)
            if len(log.targets) > 4 * self._per_room:
                del self._rooms[room_id]  # rare: start the room afresh rather than grow

    def between(self, room_id: RoomID, since: int, until: int) -> list[RecentEvent] | None:
        """The room's events with since < stream <= until, or None if the log cannot tell."""
        log = self._rooms.get(room_id)
        if log is None or since < log.covers_after:
            return None
        out: list[RecentEvent] = []
        for entry in reversed(log.entries):
            if entry.stream <= since:
                break
            if entry.stream <= until:
                out.append(entry)
        out.reverse()
        return out

    def related(self, room_id: RoomID, event_ids: list[EventID]) -> list[EventID]:
        """Which of `event_ids` (all from `between`) may have relations."""
        log = self._rooms.get(room_id)
        if log is None:
            return event_ids
        return [eid for eid in event_ids if eid in log.targets]


def _relation_target(event: Event) -> EventID | None:
    relates = event.content.get("m.relates_to")
    if isinstance(relates, dict):
        target = relates.get("event_id")
        if isinstance(target, str):
            return EventID(target)
    return None
