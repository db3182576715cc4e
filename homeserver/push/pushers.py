"""Pushers (spec: "Push Notifications", POST /pushers/set, GET /pushers): where a user's
notifications are delivered. Only `http` pushers; a pusher goes with the device (access
token) that made it, and when its gateway rejects its pushkey."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Any, Final
from urllib.parse import urlsplit

import orjson

from homeserver.clock import now_ms
from homeserver.errors import InvalidParam, MissingParam
from homeserver.ids import UserID
from homeserver.storage.pushers import Pusher, PusherStore

NOTIFY_PATH: Final = "/_matrix/push/v1/notify"
MAX_PUSHKEY_BYTES: Final = 512
MAX_APP_ID_CHARS: Final = 64
MAX_TEXT_CHARS: Final = 1024  # display names, profile tag, lang
MAX_DATA_BYTES: Final = 4096
MAX_PUSHERS_PER_USER: Final = 50


def _string(body: dict[str, Any], key: str, limit: int, *, required: bool = True) -> str | None:
    value = body.get(key)
    if value is None:
        if required:
            raise MissingParam(f"Missing parameter '{key}'")
        return None
    if not isinstance(value, str):
        raise InvalidParam(f"'{key}' must be a string")
    if "\x00" in value or len(value) > limit:
        raise InvalidParam(f"'{key}' is too long or holds a NUL character")
    return value


def check_gateway_url(url: Any, *, allow_local: bool) -> str:
    """An `https` URL with the path /_matrix/push/v1/notify (spec: PusherData.url), whose host
    is not a private or loopback address (unless `allow_local`, which also allows `http`)."""
    if not isinstance(url, str) or len(url) > MAX_TEXT_CHARS or "\x00" in url:
        raise InvalidParam("data.url must be a URL string")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError on a bad port)
    except ValueError:
        raise InvalidParam("data.url is not a valid URL") from None
    schemes = ("https", "http") if allow_local else ("https",)
    if parts.scheme not in schemes or not parts.hostname or parts.username or parts.password:
        raise InvalidParam("data.url must be an https URL")
    if parts.path != NOTIFY_PATH:
        raise InvalidParam(f"data.url must have the path {NOTIFY_PATH}")
    if not allow_local and is_local_host(parts.hostname):
        raise InvalidParam("data.url must not point at a private or loopback address")
    return url


def is_local_host(host: str) -> bool:
    """A host name or IP literal that is not on the public internet."""
    if host.lower() in ("localhost", "localhost.") or host.lower().endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return not address.is_global


def parse_pusher(
    user_id: UserID, device_id: str | None, body: dict[str, Any], *, allow_local: bool
) -> Pusher:
    app_id = _string(body, "app_id", MAX_APP_ID_CHARS)
    pushkey = _string(body, "pushkey", MAX_PUSHKEY_BYTES)
    assert app_id is not None and pushkey is not None
    if not app_id or not pushkey or len(pushkey.encode()) > MAX_PUSHKEY_BYTES:
        raise InvalidParam("app_id and pushkey must be non-empty, pushkey at most 512 bytes")
    kind = _string(body, "kind", MAX_APP_ID_CHARS)
    if kind != "http":
        raise InvalidParam("Only 'http' pushers are supported")
    data = body.get("data")
    if data is None:
        raise MissingParam("Missing parameter 'data'")
    if not isinstance(data, dict):
        raise InvalidParam("'data' must be an object")
    if len(orjson.dumps(data)) > MAX_DATA_BYTES:
        raise InvalidParam(f"'data' must not exceed {MAX_DATA_BYTES} bytes")
    check_gateway_url(data.get("url"), allow_local=allow_local)
    if "format" in data and data["format"] != "event_id_only":
        raise InvalidParam("data.format must be 'event_id_only' when given")
    return Pusher(
        user_id=user_id,
        app_id=app_id,
        pushkey=pushkey,
        kind=kind,
        app_display_name=_string(body, "app_display_name", MAX_TEXT_CHARS) or "",
        device_display_name=_string(body, "device_display_name", MAX_TEXT_CHARS) or "",
        profile_tag=_string(body, "profile_tag", MAX_TEXT_CHARS, required=False),
        lang=_string(body, "lang", MAX_TEXT_CHARS) or "",
        data=data,
        device_id=device_id,
        pushkey_ts=now_ms(),
    )


class Pushers:
    def __init__(self, store: PusherStore, *, allow_local: bool) -> None:
        self._store = store
        self.allow_local = allow_local
        self._listeners: list[Callable[[UserID], None]] = []

    def on_change(self, listener: Callable[[UserID], None]) -> None:
        """`listener(user_id)` after a user's pushers changed (the delivery worker)."""
        self._listeners.append(listener)

    async def list(self, user_id: UserID) -> list[dict[str, Any]]:
        return [p.json() for p in await self._store.for_user(user_id)]

    async def set(self, user_id: UserID, device_id: str | None, body: dict[str, Any]) -> None:
        """POST /pushers/set: create, replace or (kind null) delete one pusher."""
        kind = body.get("kind", ...)
        if kind is ...:
            raise MissingParam("Missing parameter 'kind'")
        if kind is None:
            app_id = _string(body, "app_id", MAX_APP_ID_CHARS)
            pushkey = _string(body, "pushkey", MAX_PUSHKEY_BYTES)
            assert app_id is not None and pushkey is not None
            await self._store.delete(user_id, app_id, pushkey)
            self._changed(user_id)
            return
        append = body.get("append", False)
        if not isinstance(append, bool):
            raise InvalidParam("'append' must be a boolean")
        pusher = parse_pusher(user_id, device_id, body, allow_local=self.allow_local)
        existing = await self._store.for_user(user_id)
        mine = any(p.app_id == pusher.app_id and p.pushkey == pusher.pushkey for p in existing)
        if not mine and len(existing) >= MAX_PUSHERS_PER_USER:
            raise InvalidParam(f"A user may have at most {MAX_PUSHERS_PER_USER} pushers")
        await self._store.set(pusher, append=append)
        self._changed(user_id)

    async def on_devices_changed(self, user_id: UserID) -> None:
        """Accounts listener: pushers whose device (access token) is gone go too (spec)."""
        if await self._store.delete_without_device(user_id):
            self._changed(user_id)

    def _changed(self, user_id: UserID) -> None:
        for listener in self._listeners:
            listener(user_id)
