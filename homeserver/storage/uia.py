"""User-Interactive Auth sessions, kept in the database so any worker can continue one."""

from __future__ import annotations

from dataclasses import dataclass

import orjson
from sqlalchemy import delete, select, update

from homeserver.storage.database import Database
from homeserver.storage.tables import uia_sessions


@dataclass(frozen=True)
class UiaSession:
    session_id: str
    created_ts: int
    method: str
    uri: str
    user_id: str | None
    completed: tuple[str, ...]
    registration_token: str | None


class UiaStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(self, session: UiaSession) -> None:
        await self._db.execute(
            uia_sessions.insert().values(
                session_id=session.session_id,
                created_ts=session.created_ts,
                method=session.method,
                uri=session.uri,
                user_id=session.user_id,
                completed=orjson.dumps(list(session.completed)).decode(),
                registration_token=session.registration_token,
            )
        )

    async def get(self, session_id: str) -> UiaSession | None:
        row = await self._db.fetch_one(select(uia_sessions).where(uia_sessions.c.session_id == session_id))
        if row is None:
            return None
        return UiaSession(
            session_id=row.session_id,
            created_ts=row.created_ts,
            method=row.method,
            uri=row.uri,
            user_id=row.user_id,
            completed=tuple(orjson.loads(row.completed)),
            registration_token=row.registration_token,
        )

    async def mark_completed(
        self, session_id: str, stage: str, registration_token: str | None = None
    ) -> None:
        session = await self.get(session_id)
        if session is None or stage in session.completed:
            return
        values: dict[str, object] = {"completed": orjson.dumps([*session.completed, stage]).decode()}
        if registration_token is not None:
            values["registration_token"] = registration_token
        await self._db.execute(
            update(uia_sessions).where(uia_sessions.c.session_id == session_id).values(**values)
        )

    async def delete(self, session_id: str) -> None:
        await self._db.execute(delete(uia_sessions).where(uia_sessions.c.session_id == session_id))

    async def delete_older_than(self, ts: int) -> int:
        return await self._db.execute(delete(uia_sessions).where(uia_sessions.c.created_ts < ts))
