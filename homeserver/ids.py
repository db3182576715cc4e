"""Typed Matrix identifiers and their grammar (spec appendices: "Identifier Grammar")."""

from __future__ import annotations

import re
from typing import NewType

UserID = NewType("UserID", str)
RoomID = NewType("RoomID", str)
EventID = NewType("EventID", str)
RoomAlias = NewType("RoomAlias", str)
DeviceID = NewType("DeviceID", str)
ServerName = NewType("ServerName", str)

MAX_ID_BYTES = 255

# server_name = hostname [ ":" port ]; hostname = IPv4 / "[" IPv6 "]" / dns-name
_SERVER_NAME = re.compile(
    r"(?:\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}"
    r"|\[[0-9A-Fa-f:.]{2,45}\]"
    r"|[A-Za-z0-9.-]{1,255})"
    r"(?::\d{1,5})?"
)
# Localparts we allocate: the strict grammar (lower-case only).
_STRICT_LOCALPART = re.compile(r"[a-z0-9._=/+-]+")
# Historical localparts we must still accept from events: anything but ':' and NUL.
_HISTORICAL_LOCALPART = re.compile(r"[^:\x00]*")


def is_valid_server_name(name: str) -> bool:
    if not _SERVER_NAME.fullmatch(name):
        return False
    port = name.rsplit(":", 1)[1] if ":" in name and not name.endswith("]") else None
    return port is None or 0 < int(port) <= 65535


def _split(identifier: str, sigil: str) -> tuple[str, str] | None:
    if not identifier.startswith(sigil) or ":" not in identifier:
        return None
    local, _, server = identifier[1:].partition(":")
    return local, server


def is_valid_localpart(localpart: str) -> bool:
    """The grammar for user IDs this server allocates."""
    return bool(_STRICT_LOCALPART.fullmatch(localpart))


def is_valid_user_id(user_id: str, *, historical: bool = False) -> bool:
    """A user ID of the strict grammar, or of the historical one when `historical` is set
    (events over federation may still carry those)."""
    if len(user_id.encode("utf-8")) > MAX_ID_BYTES:
        return False
    parts = _split(user_id, "@")
    if parts is None:
        return False
    local, server = parts
    pattern = _HISTORICAL_LOCALPART if historical else _STRICT_LOCALPART
    return bool(pattern.fullmatch(local)) and is_valid_server_name(server)


def is_valid_room_alias(alias: str) -> bool:
    if len(alias.encode("utf-8")) > MAX_ID_BYTES:
        return False
    parts = _split(alias, "#")
    return parts is not None and "\x00" not in parts[0] and is_valid_server_name(parts[1])


def is_valid_room_id(room_id: str) -> bool:
    """Room IDs: `!opaque:server` before v12, `!<hash>` (no server part) from v12."""
    if not room_id.startswith("!") or len(room_id.encode("utf-8")) > MAX_ID_BYTES:
        return False
    return len(room_id) > 1 and "\x00" not in room_id


def user_id_server(user_id: str) -> ServerName:
    return ServerName(user_id.partition(":")[2])


def user_id_localpart(user_id: str) -> str:
    return user_id[1:].partition(":")[0]
