"""A parsed /sync request (from HTTP or the WebSocket)."""

from __future__ import annotations

from dataclasses import dataclass

from homeserver.filters import SyncFilter
from homeserver.ids import UserID
from homeserver.sync.tokens import SyncToken


@dataclass(frozen=True)
class SyncRequest:
    user_id: UserID
    device_id: str
    since: SyncToken | None
    filter: SyncFilter
    full_state: bool
    timeout_ms: int
    set_presence: str = "online"
