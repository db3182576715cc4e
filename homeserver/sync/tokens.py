"""The /sync `next_batch` token: one position per notifier stream, opaque to clients."""

from __future__ import annotations

from typing import NamedTuple

from homeserver.errors import InvalidParam
from homeserver.notifier import Stream


class SyncToken(NamedTuple):
    """A tuple: made and compared for every /sync, where a frozen dataclass's per-field
    `object.__setattr__` showed up in profiles."""

    rooms: int
    account_data: int
    receipts: int = 0
    typing: int = 0
    presence: int = 0
    to_device: int = 0
    device_lists: int = 0

    def encode(self) -> str:
        return (
            f"s{self.rooms}_{self.account_data}_{self.receipts}_{self.typing}"
            f"_{self.presence}_{self.to_device}_{self.device_lists}"
        )

    def get(self, stream: Stream) -> int:
        value: int = getattr(self, stream.value)
        return value

    @classmethod
    def of(cls, positions: dict[Stream, int]) -> SyncToken:
        p = positions
        return cls(
            p[Stream.ROOMS],
            p[Stream.ACCOUNT_DATA],
            p[Stream.RECEIPTS],
            p[Stream.TYPING],
            p[Stream.PRESENCE],
            p[Stream.TO_DEVICE],
            p[Stream.DEVICE_LISTS],
        )

    @classmethod
    def parse(cls, token: str) -> SyncToken:
        """Tokens of older releases carry fewer positions; the missing ones start at 0."""
        try:
            if not token.startswith("s") or len(token) > 200:
                raise ValueError
            raw = token[1:].split("_")
            if not 2 <= len(raw) <= POSITIONS or not all(p.isascii() and p.isdigit() for p in raw):
                raise ValueError
            parts = [int(p) for p in raw]
        except ValueError:
            raise InvalidParam("Invalid sync token") from None
        return cls(*parts)

    def with_to_device(self, position: int) -> SyncToken:
        """This token with another to-device position (what a response delivered up to)."""
        return SyncToken(
            self.rooms,
            self.account_data,
            self.receipts,
            self.typing,
            self.presence,
            position,
            self.device_lists,
        )


POSITIONS = 7  # the fields of SyncToken
