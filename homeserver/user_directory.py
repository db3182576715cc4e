"""The user directory (spec: POST /user_directory/search): users who share a room with the
searcher or are joined to a room with a public join rule or world-readable history, found by
user ID or display name, case-insensitively, one query per search."""

from __future__ import annotations

from dataclasses import dataclass

from homeserver.errors import InvalidParam
from homeserver.ids import UserID
from homeserver.storage.directory import DirectoryStore, DirectoryUser

DEFAULT_LIMIT = 10
MAX_LIMIT = 100
MAX_WORDS = 8
MAX_TERM = 256


@dataclass(frozen=True)
class UserSearchResult:
    results: list[DirectoryUser]
    limited: bool


class UserDirectory:
    def __init__(self, store: DirectoryStore) -> None:
        self._store = store

    async def search(self, searcher: UserID, term: str, limit: int = DEFAULT_LIMIT) -> UserSearchResult:
        """Every word of the term must appear in the user ID or the display name."""
        if limit < 0:
            raise InvalidParam("limit must not be negative")
        if len(term) > MAX_TERM or "\x00" in term:
            raise InvalidParam(f"search_term must be at most {MAX_TERM} characters, without NUL")
        words = term.lower().split()[:MAX_WORDS]
        limit = min(limit, MAX_LIMIT)
        found = await self._store.search_users(searcher, words, limit + 1)
        return UserSearchResult(found[:limit], len(found) > limit)
