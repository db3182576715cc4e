"""The /sync `next_batch` token: one position per stream, opaque to clients."""

from __future__ import annotations

from dataclasses import dataclass

from homeserver.errors import InvalidParam


@dataclass(frozen=True)
class SyncToken:
    rooms: int
    account_data: int

    def encode(self) -> str:
        return f"s{self.rooms}_{self.account_data}"

    @classmethod
    def parse(cls, token: str) -> SyncToken:
        try:
            if not token.startswith("s") or len(token) > 100:
                raise ValueError
            rooms, account_data = token[1:].split("_")
            parsed = cls(int(rooms), int(account_data))
        except ValueError:
            raise InvalidParam("Invalid sync token") from None
        if parsed.rooms < 0 or parsed.account_data < 0:
            raise InvalidParam("Invalid sync token")
        return parsed
