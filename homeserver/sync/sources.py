"""What /sync reads besides rooms and account data: the ephemeral streams. Each is a
service of its own module (typing, receipts, presence, to_device, device_lists); the sync
handler sees them only through these shapes."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, Protocol

from homeserver.ids import DeviceID, RoomID, UserID
from homeserver.push.unread import UnreadCounts


class TypingSource(Protocol):
    @property
    def position(self) -> int: ...

    def for_sync(self, room_ids: Collection[RoomID], since: int) -> dict[RoomID, list[UserID]]: ...


class ReceiptSource(Protocol):
    async def for_sync(
        self, user_id: UserID, room_ids: list[RoomID], since: int, until: int
    ) -> dict[RoomID, dict[str, Any]]: ...


class PresenceSource(Protocol):
    async def user_active(self, user_id: UserID, set_presence: str) -> None: ...

    def sync_started(self, user_id: UserID, set_presence: str) -> bool: ...

    def sync_ended(self, user_id: UserID) -> None: ...

    async def for_sync(self, user_id: UserID, since: int, until: int) -> list[dict[str, Any]]: ...


class ToDeviceSource(Protocol):
    async def for_sync(
        self, user_id: UserID, device_id: str, since: int, until: int, limit: int = 100
    ) -> tuple[list[dict[str, Any]], int]: ...


class DeviceListSource(Protocol):
    async def for_sync(
        self,
        user_id: UserID,
        since_device_lists: int,
        until_device_lists: int,
        since_rooms: int,
        until_rooms: int,
    ) -> tuple[list[str], list[str]]: ...


class PushRuleSource(Protocol):
    def default_content(self, user_id: UserID) -> dict[str, Any]: ...


class KeyCountSource(Protocol):
    async def counts(self, user_id: UserID, device_id: DeviceID) -> tuple[dict[str, int], list[str]]: ...


@dataclass(frozen=True)
class SyncSources:
    typing: TypingSource
    receipts: ReceiptSource
    presence: PresenceSource
    to_device: ToDeviceSource
    device_lists: DeviceListSource
    push_rules: PushRuleSource
    key_counts: KeyCountSource
    unread: UnreadCounts
