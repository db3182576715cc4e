"""Events by time (for `/timestamp_to_event`): the room's events ordered by origin_server_ts,
read through the events_room_ts index."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, or_, select

from homeserver.ids import EventID, RoomID
from homeserver.storage.database import Database
from homeserver.storage.tables import events


@dataclass(frozen=True)
class TimedEvent:
    event_id: EventID
    origin_server_ts: int
    stream_ordering: int


class TimestampStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def near(
        self, room_id: RoomID, ts: int, backwards: bool, after: TimedEvent | None, limit: int
    ) -> list[TimedEvent]:
        """Up to `limit` accepted events of the room at or after `ts` (at or before it when
        `backwards`), nearest first; `after` continues from the last event of a previous batch."""
        c = events.c
        stmt = select(c.event_id, c.origin_server_ts, c.stream_ordering).where(
            c.room_id == room_id, c.outlier.is_(False), c.rejected_reason.is_(None)
        )
        if backwards:
            stmt = stmt.where(c.origin_server_ts <= ts)
            stmt = stmt.order_by(c.origin_server_ts.desc(), c.stream_ordering.desc())
            if after is not None:
                stmt = stmt.where(
                    or_(
                        c.origin_server_ts < after.origin_server_ts,
                        and_(
                            c.origin_server_ts == after.origin_server_ts,
                            c.stream_ordering < after.stream_ordering,
                        ),
                    )
                )
        else:
            stmt = stmt.where(c.origin_server_ts >= ts).order_by(c.origin_server_ts, c.stream_ordering)
            if after is not None:
                stmt = stmt.where(
                    or_(
                        c.origin_server_ts > after.origin_server_ts,
                        and_(
                            c.origin_server_ts == after.origin_server_ts,
                            c.stream_ordering > after.stream_ordering,
                        ),
                    )
                )
        rows = await self._db.fetch_all(stmt.limit(limit))
        return [TimedEvent(EventID(r.event_id), r.origin_server_ts, r.stream_ordering) for r in rows]
