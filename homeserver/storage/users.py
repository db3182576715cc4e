"""User accounts and their profiles."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, func, select, update
from sqlalchemy.exc import IntegrityError

from homeserver.errors import Forbidden, UserInUse
from homeserver.ids import DeviceID, UserID
from homeserver.storage.database import Database
from homeserver.storage.devices import NewSession, delete_devices_in, insert_session
from homeserver.storage.registration_tokens import consume_registration_token
from homeserver.storage.tables import devices, profiles, users


@dataclass(frozen=True)
class User:
    user_id: UserID
    password_hash: str | None
    created_ts: int
    is_admin: bool
    is_guest: bool
    deactivated: bool


@dataclass(frozen=True)
class NewUser:
    user_id: UserID
    password_hash: str | None
    created_ts: int
    displayname: str | None
    is_admin: bool = False
    is_guest: bool = False


class UserStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, user_id: str) -> User | None:
        row = await self._db.fetch_one(select(users).where(users.c.user_id == user_id))
        return _user(row) if row else None

    async def exists(self, user_id: str) -> bool:
        return (
            await self._db.fetch_value(select(users.c.user_id).where(users.c.user_id == user_id)) is not None
        )

    async def count(self) -> int:
        return int(await self._db.fetch_value(select(func.count()).select_from(users)) or 0)

    async def create(
        self,
        user: NewUser,
        session: NewSession | None = None,
        registration_token: str | None = None,
    ) -> None:
        """Create the account, its profile and (unless login is inhibited) its first device
        and tokens in one transaction; a registration token, if any, is used up in it too."""
        try:
            async with self._db.transaction() as conn:
                if registration_token is not None and not await consume_registration_token(
                    conn, registration_token, user.created_ts
                ):
                    raise Forbidden("Registration token is no longer valid")
                await conn.execute(
                    users.insert().values(
                        user_id=user.user_id,
                        password_hash=user.password_hash,
                        created_ts=user.created_ts,
                        is_admin=user.is_admin,
                        is_guest=user.is_guest,
                        deactivated=False,
                    )
                )
                await conn.execute(
                    profiles.insert().values(user_id=user.user_id, displayname=user.displayname)
                )
                if session is not None:
                    await insert_session(conn, self._db.dialect, session)
        except IntegrityError:
            raise UserInUse("User ID already taken") from None

    async def set_password_hash(
        self, user_id: UserID, password_hash: str, *, logout_except: DeviceID | None, logout: bool
    ) -> list[DeviceID]:
        """Change the password; with `logout`, delete every other device (and its tokens).
        Returns the deleted devices."""
        async with self._db.transaction() as conn:
            await conn.execute(
                update(users).where(users.c.user_id == user_id).values(password_hash=password_hash)
            )
            if not logout:
                return []
            rows = (await conn.execute(select(devices.c.device_id).where(devices.c.user_id == user_id))).all()
            others = [r.device_id for r in rows if r.device_id != logout_except]
            return await delete_devices_in(conn, user_id, others)

    async def deactivate(self, user_id: UserID) -> list[DeviceID]:
        """Mark the account deactivated, forget its password, delete its devices and tokens."""
        async with self._db.transaction() as conn:
            await conn.execute(
                update(users).where(users.c.user_id == user_id).values(deactivated=True, password_hash=None)
            )
            await conn.execute(
                update(profiles)
                .where(profiles.c.user_id == user_id)
                .values(displayname=None, avatar_url=None)
            )
            return await delete_devices_in(conn, user_id, None)

    async def set_admin(self, user_id: UserID, is_admin: bool) -> None:
        await self._db.execute(update(users).where(users.c.user_id == user_id).values(is_admin=is_admin))


def _user(row: Row[Any]) -> User:
    return User(
        user_id=UserID(row.user_id),
        password_hash=row.password_hash,
        created_ts=row.created_ts,
        is_admin=bool(row.is_admin),
        is_guest=bool(row.is_guest),
        deactivated=bool(row.deactivated),
    )


@dataclass(frozen=True)
class Profile:
    displayname: str | None
    avatar_url: str | None


class ProfileStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, user_id: str) -> Profile | None:
        row = await self._db.fetch_one(
            select(profiles.c.displayname, profiles.c.avatar_url).where(profiles.c.user_id == user_id)
        )
        return Profile(row.displayname, row.avatar_url) if row else None

    async def set_displayname(self, user_id: str, displayname: str | None) -> bool:
        """Change the display name (None: unset); False if the user has no profile."""
        return await self._set(user_id, displayname=displayname)

    async def set_avatar_url(self, user_id: str, avatar_url: str | None) -> bool:
        """Change the avatar URL (None: unset); False if the user has no profile."""
        return await self._set(user_id, avatar_url=avatar_url)

    async def _set(self, user_id: str, **values: str | None) -> bool:
        changed = await self._db.execute(
            update(profiles).where(profiles.c.user_id == user_id).values(**values)
        )
        return changed > 0
