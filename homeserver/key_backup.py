"""Server-side key backups (spec: "Server-side key backups"): /room_keys/version and
/room_keys/keys. The server stores what clients encrypted; it only checks shapes and sizes,
and decides which of two copies of a session key to keep by the spec's rule."""

from __future__ import annotations

from typing import Any

import orjson

from homeserver.errors import InvalidParam, MissingParam, NotFound, TooLarge, WrongRoomKeysVersion
from homeserver.ids import UserID
from homeserver.storage.key_backup import (
    BackupFull,
    BackupVersion,
    KeyBackupStore,
    NotCurrentVersion,
    RoomKey,
    Written,
)

MAX_AUTH_DATA_BYTES = 16 * 1024
MAX_SESSION_DATA_BYTES = 16 * 1024
MAX_KEYS_PER_REQUEST = 10_000  # Element uploads a few hundred at a time
MAX_KEYS_PER_BACKUP = 1_000_000
MAX_ID_BYTES = 255
MAX_VERSION_DIGITS = 18  # fits a BIGINT
MAX_INDEX = 2**53 - 1  # canonical JSON's integer range


def replaces(stored: RoomKey, offered: RoomKey) -> bool:
    """The spec's rule: a verified key wins; then the lower first_message_index; then the lower
    forwarded_count. A tie keeps the stored key."""
    if stored.is_verified != offered.is_verified:
        return offered.is_verified
    if stored.first_message_index != offered.first_message_index:
        return offered.first_message_index < stored.first_message_index
    return offered.forwarded_count < stored.forwarded_count


def parse_version(raw: str | None) -> int:
    """A version as given in a path or query: unknown when it is not one of ours."""
    if raw is None:
        raise MissingParam("Missing parameter 'version'")
    if not raw.isascii() or not raw.isdigit() or len(raw) > MAX_VERSION_DIGITS:
        raise NotFound("Unknown backup version")
    return int(raw)


class KeyBackups:
    def __init__(self, store: KeyBackupStore) -> None:
        self._store = store

    async def create(self, user_id: UserID, body: dict[str, Any]) -> dict[str, Any]:
        algorithm, auth_data = _algorithm(body), _auth_data(body)
        return {"version": str(await self._store.create(user_id, algorithm, auth_data))}

    async def get(self, user_id: UserID, version: str | None) -> dict[str, Any]:
        """The current version (None) or the given one, as GET /room_keys/version answers."""
        number = None if version is None else parse_version(version)
        found = await self._store.get(user_id, number)
        if found is None:
            raise NotFound("No current backup version" if version is None else "Unknown backup version")
        return _version_json(found)

    async def update(self, user_id: UserID, version: str, body: dict[str, Any]) -> None:
        """Only auth_data can change; the algorithm and the version must be the stored ones."""
        number = parse_version(version)
        algorithm, auth_data = _algorithm(body), _auth_data(body)
        given = body.get("version")
        if given is not None and given != version:
            raise InvalidParam("'version' does not match the version in the path")
        found = await self._store.get(user_id, number)
        if found is None:
            raise NotFound("Unknown backup version")
        if algorithm != found.algorithm:
            raise InvalidParam("Algorithm does not match")
        await self._store.update_auth_data(user_id, number, auth_data)

    async def delete(self, user_id: UserID, version: str) -> None:
        """Deleting a version deleted before succeeds; one never created is not found."""
        number = parse_version(version)
        if not await self._store.exists(user_id, number):
            raise NotFound("Unknown backup version")
        await self._store.delete_version(user_id, number)

    async def put_keys(self, user_id: UserID, version: str | None, keys: list[RoomKey]) -> dict[str, Any]:
        number = parse_version(version)
        try:
            written = await self._store.put_keys(user_id, number, keys, replaces, MAX_KEYS_PER_BACKUP)
        except NotCurrentVersion as wrong:
            if wrong.current is None:
                raise NotFound("Unknown backup version") from None
            raise WrongRoomKeysVersion("Wrong backup version.", current_version=str(wrong.current)) from None
        except BackupFull as full:
            raise TooLarge(str(full)) from None
        return _written_json(written)

    async def get_keys(
        self, user_id: UserID, version: str | None, room_id: str | None = None, session_id: str | None = None
    ) -> list[RoomKey]:
        number = await self._known(user_id, version)
        return await self._store.get_keys(user_id, number, room_id, session_id)

    async def delete_keys(
        self, user_id: UserID, version: str | None, room_id: str | None = None, session_id: str | None = None
    ) -> dict[str, Any]:
        number = await self._known(user_id, version)
        return _written_json(await self._store.delete_keys(user_id, number, room_id, session_id))

    async def _known(self, user_id: UserID, version: str | None) -> int:
        number = parse_version(version)
        if await self._store.get(user_id, number) is None:
            raise NotFound("Unknown backup version")
        return number


def session_json(key: RoomKey) -> dict[str, Any]:
    return {
        "first_message_index": key.first_message_index,
        "forwarded_count": key.forwarded_count,
        "is_verified": key.is_verified,
        "session_data": orjson.loads(key.session_data),
    }


def parse_session(room_id: str, session_id: str, raw: object) -> RoomKey:
    """One KeyBackupData object, checked."""
    _check_id(room_id, "room ID")
    _check_id(session_id, "session ID")
    if not isinstance(raw, dict):
        raise InvalidParam("Key data must be an object")
    first, forwarded = raw.get("first_message_index"), raw.get("forwarded_count")
    verified, data = raw.get("is_verified"), raw.get("session_data")
    for name, value in (("first_message_index", first), ("forwarded_count", forwarded)):
        if value is None:
            raise MissingParam(f"Missing parameter '{name}'")
        if type(value) is not int or not 0 <= value <= MAX_INDEX:
            raise InvalidParam(f"'{name}' must be a non-negative integer")
    if not isinstance(verified, bool):
        raise InvalidParam("'is_verified' must be a boolean")
    if not isinstance(data, dict):
        raise InvalidParam("'session_data' must be an object")
    encoded = orjson.dumps(data)
    if len(encoded) > MAX_SESSION_DATA_BYTES:
        raise TooLarge(f"'session_data' may be at most {MAX_SESSION_DATA_BYTES} bytes")
    assert type(first) is int and type(forwarded) is int
    return RoomKey(room_id, session_id, first, forwarded, verified, encoded.decode())


def parse_sessions(room_id: str, raw: object) -> list[RoomKey]:
    """A RoomKeyBackup object: {"sessions": {session_id: key data}}."""
    if not isinstance(raw, dict) or not isinstance(raw.get("sessions"), dict):
        raise InvalidParam("'sessions' must be an object of session IDs")
    sessions: dict[str, Any] = raw["sessions"]
    if len(sessions) > MAX_KEYS_PER_REQUEST:
        raise TooLarge(f"At most {MAX_KEYS_PER_REQUEST} keys may be stored at once")
    return [parse_session(room_id, session_id, data) for session_id, data in sessions.items()]


def parse_rooms(raw: object) -> list[RoomKey]:
    """{"rooms": {room_id: {"sessions": ...}}}."""
    if not isinstance(raw, dict) or not isinstance(raw.get("rooms"), dict):
        raise InvalidParam("'rooms' must be an object of room IDs")
    keys: list[RoomKey] = []
    for room_id, room in raw["rooms"].items():
        keys.extend(parse_sessions(room_id, room))
        if len(keys) > MAX_KEYS_PER_REQUEST:
            raise TooLarge(f"At most {MAX_KEYS_PER_REQUEST} keys may be stored at once")
    return keys


def _check_id(value: str, what: str) -> None:
    if not value or "\x00" in value or len(value.encode()) > MAX_ID_BYTES:
        raise InvalidParam(f"Invalid {what}")


def _algorithm(body: dict[str, Any]) -> str:
    algorithm = body.get("algorithm")
    if algorithm is None:
        raise MissingParam("Missing parameter 'algorithm'")
    if not isinstance(algorithm, str) or not algorithm or len(algorithm.encode()) > MAX_ID_BYTES:
        raise InvalidParam("'algorithm' must be a string")
    return algorithm


def _auth_data(body: dict[str, Any]) -> str:
    auth_data = body.get("auth_data")
    if auth_data is None:
        raise MissingParam("Missing parameter 'auth_data'")
    if not isinstance(auth_data, dict):
        raise InvalidParam("'auth_data' must be an object")
    encoded = orjson.dumps(auth_data)
    if len(encoded) > MAX_AUTH_DATA_BYTES:
        raise TooLarge(f"'auth_data' may be at most {MAX_AUTH_DATA_BYTES} bytes")
    return encoded.decode()


def _version_json(found: BackupVersion) -> dict[str, Any]:
    return {
        "algorithm": found.algorithm,
        "auth_data": orjson.loads(found.auth_data),
        "count": found.count,
        "etag": str(found.etag),
        "version": str(found.version),
    }


def _written_json(written: Written) -> dict[str, Any]:
    return {"etag": str(written.etag), "count": written.count}
