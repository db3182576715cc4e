"""Content reports (spec: "Reporting Content"), kept for the server admins."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from homeserver.ids import EventID, RoomID, UserID
from homeserver.storage.database import Database
from homeserver.storage.tables import reports


@dataclass(frozen=True)
class NewReport:
    reporter: UserID
    received_ts: int
    reason: str | None
    room_id: RoomID | None = None
    event_id: EventID | None = None
    target_user_id: UserID | None = None
    score: int | None = None


@dataclass(frozen=True)
class Report(NewReport):
    id: int = 0


class ReportStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, report: NewReport) -> None:
        await self._db.execute(
            reports.insert().values(
                reporter=report.reporter,
                received_ts=report.received_ts,
                reason=report.reason,
                room_id=report.room_id,
                event_id=report.event_id,
                target_user_id=report.target_user_id,
                score=report.score,
            )
        )

    async def newest(self, limit: int = 100, before_id: int | None = None) -> list[Report]:
        """Reports newest first, `limit` at a time (for an admin API)."""
        stmt = select(reports)
        if before_id is not None:
            stmt = stmt.where(reports.c.id < before_id)
        rows = await self._db.fetch_all(stmt.order_by(reports.c.id.desc()).limit(limit))
        return [
            Report(
                reporter=UserID(r.reporter),
                received_ts=r.received_ts,
                reason=r.reason,
                room_id=RoomID(r.room_id) if r.room_id is not None else None,
                event_id=EventID(r.event_id) if r.event_id is not None else None,
                target_user_id=UserID(r.target_user_id) if r.target_user_id is not None else None,
                score=r.score,
                id=r.id,
            )
            for r in rows
        ]
