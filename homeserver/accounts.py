"""Accounts: registration, login, refresh, logout, devices, password changes, deactivation.

Knows nothing of HTTP: routes parse requests and call these methods."""

from __future__ import annotations

import secrets
import string
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass

from homeserver.auth.passwords import MAX_PASSWORD_BYTES, PasswordHasher
from homeserver.auth.tokens import (
    Requester,
    TokenIssuer,
    hash_refresh_token,
    new_refresh_token,
)
from homeserver.clock import now_ms
from homeserver.config import Config
from homeserver.errors import (
    Forbidden,
    InvalidParam,
    InvalidUsername,
    UnknownToken,
    UserDeactivated,
    UserInUse,
    WeakPassword,
)
from homeserver.ids import MAX_ID_BYTES, DeviceID, UserID, is_valid_localpart, user_id_localpart
from homeserver.storage.devices import DeviceStore, NewSession
from homeserver.storage.users import NewUser, UserStore

MAX_DEVICE_ID_LENGTH = 255
MAX_DISPLAY_NAME_LENGTH = 256

# Called with a user ID after devices of that user were created or deleted.
DeviceListener = Callable[[UserID], Awaitable[None]]


@dataclass(frozen=True)
class LoginResult:
    user_id: UserID
    device_id: DeviceID
    access_token: str
    refresh_token: str | None
    expires_in_ms: int | None


def _check_device(device_id: str, device_name: str | None) -> None:
    if len(device_id) > MAX_DEVICE_ID_LENGTH or "\x00" in device_id:
        raise InvalidParam("device_id is too long or contains a NUL character")
    if device_name is not None and "\x00" in device_name:
        raise InvalidParam("The device display name contains a NUL character")


def generate_device_id() -> DeviceID:
    return DeviceID("".join(secrets.choice(string.ascii_uppercase) for _ in range(10)))


class Accounts:
    def __init__(
        self,
        config: Config,
        users: UserStore,
        devices: DeviceStore,
        passwords: PasswordHasher,
        tokens: TokenIssuer,
    ) -> None:
        self._config = config
        self._users = users
        self._devices = devices
        self._passwords = passwords
        self._tokens = tokens
        self.server_name = config.server_name
        self._device_listeners: list[DeviceListener] = []

    def on_devices_changed(self, listener: DeviceListener) -> None:
        """Register `listener` (device-list tracking) for every device created or deleted."""
        self._device_listeners.append(listener)

    async def _devices_changed(self, user_id: UserID) -> None:
        for listener in self._device_listeners:
            await listener(user_id)

    # Registration

    def user_id_for(self, localpart: str) -> UserID:
        return UserID(f"@{localpart}:{self.server_name}")

    async def check_username(self, localpart: str) -> UserID:
        """The user ID for a requested username, or M_INVALID_USERNAME / M_USER_IN_USE."""
        if not is_valid_localpart(localpart):
            raise InvalidUsername("User ID may only contain a-z, 0-9, '.', '_', '=', '-', '/' and '+'")
        if localpart.startswith("_"):
            raise InvalidUsername("User IDs starting with '_' are reserved")
        user_id = self.user_id_for(localpart)
        if len(user_id.encode()) > MAX_ID_BYTES:
            raise InvalidUsername("User ID is too long")
        if await self._users.exists(user_id):
            raise UserInUse("User ID already taken")
        return user_id

    async def register(
        self,
        localpart: str | None,
        password: str | None,
        *,
        device_id: DeviceID | None = None,
        device_name: str | None = None,
        inhibit_login: bool = False,
        want_refresh: bool = False,
        registration_token: str | None = None,
        is_admin: bool = False,
    ) -> LoginResult | UserID:
        if localpart is None:
            user_id = await self._unused_user_id()
        else:
            user_id = await self.check_username(localpart)
        password_hash = await self._new_password_hash(password) if password is not None else None
        now = now_ms()
        new_user = NewUser(user_id, password_hash, now, user_id_localpart(user_id), is_admin=is_admin)
        if inhibit_login:
            await self._users.create(new_user, None, registration_token)
            return user_id
        session, result = self._new_session(user_id, device_id, device_name, want_refresh, now)
        await self._users.create(new_user, session, registration_token)
        await self._devices_changed(user_id)
        return result

    async def register_guest(self, device_name: str | None) -> LoginResult:
        """A guest account: no password, a numeric user ID, a token marked as a guest's."""
        user_id = await self._unused_user_id()
        now = now_ms()
        session, result = self._new_session(user_id, None, device_name, False, now, is_guest=True)
        await self._users.create(NewUser(user_id, None, now, None, is_guest=True), session)
        await self._devices_changed(user_id)
        return result

    async def _unused_user_id(self) -> UserID:
        while True:
            user_id = self.user_id_for(str(secrets.randbelow(10**10)).zfill(10))
            if not await self._users.exists(user_id):
                return user_id

    async def _new_password_hash(self, password: str) -> str:
        if len(password.encode("utf-8")) > MAX_PASSWORD_BYTES:
            raise InvalidParam(f"Password is longer than {MAX_PASSWORD_BYTES} bytes")
        if len(password) < self._passwords.min_length:
            raise WeakPassword(f"Password must be at least {self._passwords.min_length} characters")
        return await self._passwords.hash(password)

    # Login and sessions

    async def check_password(self, user_id: UserID, password: str) -> bool:
        user = await self._users.get(user_id)
        ok = await self._passwords.verify(user.password_hash if user else None, password)
        if ok and user is not None and user.deactivated:
            raise UserDeactivated("This account has been deactivated")
        return ok

    async def login(
        self, user_id: UserID, *, device_id: DeviceID | None, device_name: str | None, want_refresh: bool
    ) -> LoginResult:
        """Start a session for a user whose credentials were already checked."""
        new_device = True
        if device_id is not None:
            _check_device(device_id, device_name)
            if await self._devices.get(user_id, device_id) is not None:
                device_name = None  # the spec: the display name is for a new device only
                new_device = False
        session, result = self._new_session(user_id, device_id, device_name, want_refresh, now_ms())
        await self._devices.start_session(session)
        self._tokens.forget(user_id, [session.device_id])
        if new_device:
            await self._devices_changed(user_id)
        return result

    def _new_session(
        self,
        user_id: UserID,
        device_id: DeviceID | None,
        device_name: str | None,
        want_refresh: bool,
        now: int,
        *,
        is_guest: bool = False,
    ) -> tuple[NewSession, LoginResult]:
        device_id = device_id or generate_device_id()
        _check_device(device_id, device_name)
        lifetime = self._config.access_token_lifetime_ms if want_refresh else None
        access_token, record = self._tokens.issue(user_id, device_id, now, lifetime, is_guest=is_guest)
        refresh = new_refresh_token() if want_refresh else None
        session = NewSession(
            device_id=device_id,
            display_name=device_name[:MAX_DISPLAY_NAME_LENGTH] if device_name is not None else None,
            access=record,
            refresh_token_hash=hash_refresh_token(refresh) if refresh else None,
        )
        return session, LoginResult(user_id, device_id, access_token, refresh, lifetime)

    async def refresh(self, refresh_token: str) -> LoginResult:
        token_hash = hash_refresh_token(refresh_token)
        owner = await self._devices.refresh_token_owner(token_hash)
        if owner is None:
            raise UnknownToken("Unknown refresh token", soft_logout=True)
        user_id, device_id = owner
        session, result = self._new_session(user_id, device_id, None, True, now_ms())
        if not await self._devices.rotate_refresh_token(token_hash, session):
            raise UnknownToken("Refresh token has already been used", soft_logout=True)
        self._tokens.forget(user_id, [device_id])
        return result

    async def logout(self, requester: Requester) -> None:
        """Log out the requester's device: the device and its tokens go."""
        await self.delete_devices(requester.user_id, [requester.device_id])

    async def logout_all(self, user_id: UserID) -> None:
        deleted = await self._devices.delete(user_id, None)
        self._tokens.forget(user_id)
        if deleted:
            await self._devices_changed(user_id)

    async def delete_devices(self, user_id: UserID, device_ids: Collection[str]) -> list[DeviceID]:
        deleted = await self._devices.delete(user_id, device_ids)
        self._tokens.forget(user_id, set(device_ids))
        if deleted:
            await self._devices_changed(user_id)
        return deleted

    # Account management

    async def change_password(self, requester: Requester, new_password: str, *, logout_devices: bool) -> None:
        password_hash = await self._new_password_hash(new_password)
        deleted = await self._users.set_password_hash(
            requester.user_id, password_hash, logout_except=requester.device_id, logout=logout_devices
        )
        if logout_devices:
            self._tokens.forget(requester.user_id)
        if deleted:
            await self._devices_changed(requester.user_id)

    async def deactivate(self, user_id: UserID) -> None:
        user = await self._users.get(user_id)
        if user is None:
            raise Forbidden("No such user")
        deleted = await self._users.deactivate(user_id)
        self._tokens.forget(user_id)
        if deleted:
            await self._devices_changed(user_id)
