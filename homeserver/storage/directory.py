"""Reads behind the published room directory and the user directory.

Both are queries over the tables the event pipeline keeps (rooms, current_state, events,
room_memberships) and the profiles: nothing here is written, so nothing can drift. The few
state values a query filters on (join rule, history visibility, name, topic, alias, room type)
are read out of the stored events' JSON by the database (`dialect.json_text`); whole pages
are read in one query each, never one query per room or per user."""

from __future__ import annotations

import functools
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import (
    ColumnElement,
    FromClause,
    and_,
    case,
    exists,
    func,
    literal_column,
    or_,
    select,
    union,
)

from homeserver.ids import RoomID, UserID
from homeserver.storage.database import Database
from homeserver.storage.dialect import json_text, text_lower
from homeserver.storage.tables import (
    current_state,
    events,
    profiles,
    room_aliases,
    room_memberships,
    rooms,
    users,
)

# Rooms listed in the directory must be joinable or readable without an invite (as Synapse).
LISTED_JOIN_RULES = ("public", "knock", "knock_restricted")
WORLD_READABLE = "world_readable"
# Room-level state lives under the empty state key; inlined so the partial index applies.
EMPTY_STATE_KEY: ColumnElement[str] = literal_column("''")


@dataclass(frozen=True)
class RoomListPosition:
    """A place in the directory's order: more joined members first, then by room ID."""

    joined_members: int
    room_id: str


@dataclass(frozen=True)
class RoomListFilter:
    search_term: str | None = None  # lower-case; matched in name, topic and aliases
    room_types: tuple[str | None, ...] | None = None  # None in it: rooms without a type


@dataclass(frozen=True)
class PublishedRoom:
    room_id: RoomID
    joined_members: int


@dataclass(frozen=True)
class DirectoryUser:
    user_id: UserID
    displayname: str | None
    avatar_url: str | None


class DirectoryStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    # The published room directory

    async def published_rooms(
        self, room_filter: RoomListFilter, after: RoomListPosition | None, backwards: bool, limit: int
    ) -> list[PublishedRoom]:
        """Up to `limit` listed rooms in directory order, strictly after `after` (or, going
        backwards, strictly before it, nearest first)."""
        frm, conditions, joined = _listed_rooms(self._db.dialect, room_filter)
        room_id = rooms.c.room_id
        if after is not None:
            count, last = after.joined_members, after.room_id
            if backwards:
                conditions.append(or_(joined > count, and_(joined == count, room_id < last)))
            else:
                conditions.append(or_(joined < count, and_(joined == count, room_id > last)))
        order = (joined.asc(), room_id.desc()) if backwards else (joined.desc(), room_id.asc())
        stmt = (
            select(room_id, joined.label("joined"))
            .select_from(frm)
            .where(*conditions)
            .order_by(*order)
            .limit(limit)
        )
        rows = await self._db.fetch_all(stmt)
        return [PublishedRoom(RoomID(r.room_id), int(r.joined)) for r in rows]

    async def count_published_rooms(self, room_filter: RoomListFilter) -> int:
        frm, conditions, _ = _listed_rooms(self._db.dialect, room_filter)
        stmt = select(func.count()).select_from(frm).where(*conditions)
        return int(await self._db.fetch_value(stmt) or 0)

    async def room_state_contents(
        self, room_ids: Collection[str], event_types: Collection[str]
    ) -> dict[RoomID, dict[str, dict[str, Any]]]:
        """The content of each room's current `(type, "")` state events of these types, in one
        query: room -> type -> content."""
        out: dict[RoomID, dict[str, dict[str, Any]]] = {RoomID(r): {} for r in room_ids}
        if not room_ids or not event_types:
            return out
        cs = current_state.c
        rows = await self._db.fetch_all(
            select(cs.room_id, cs.type, events.c.json)
            .join(events, events.c.event_id == cs.event_id)
            .where(cs.room_id.in_(list(room_ids)), cs.type.in_(list(event_types)), cs.state_key == "")
        )
        for row in rows:
            content = orjson.loads(row.json).get("content")
            out[RoomID(row.room_id)][row.type] = content if isinstance(content, dict) else {}
        return out

    async def joined_servers(self, room_id: str) -> set[str]:
        """The servers of the room's joined members."""
        m = room_memberships.c
        rows = await self._db.fetch_all(select(m.user_id).where(m.room_id == room_id, m.membership == "join"))
        return {r.user_id.partition(":")[2] for r in rows}

    # The user directory

    async def search_users(self, searcher: str, words: Sequence[str], limit: int) -> list[DirectoryUser]:
        """Joined members of the rooms the searcher is joined to, or of rooms with a public join
        rule or world-readable history, whose user ID or display name contains every one of
        `words` (lower-case). Best matches first: a name or localpart starting with the first
        word, then users with a display name and an avatar."""
        if not words:
            return []
        member = room_memberships.alias("member")
        lower = functools.partial(text_lower, self._db.dialect)
        name, uid = lower(profiles.c.displayname), lower(member.c.user_id)
        matches = [
            or_(uid.like(pattern, escape="\\"), name.like(pattern, escape="\\"))
            for pattern in (like_pattern(w) for w in words)
        ]
        prefix = _escape_like(words[0]) + "%"
        rank = case((or_(name.like(prefix, escape="\\"), uid.like("@" + prefix, escape="\\")), 0), else_=1)
        stmt = (
            select(member.c.user_id, profiles.c.displayname, profiles.c.avatar_url)
            .select_from(
                member.outerjoin(profiles, profiles.c.user_id == member.c.user_id).outerjoin(
                    users, users.c.user_id == member.c.user_id
                )
            )
            .where(
                member.c.membership == "join",
                member.c.room_id.in_(self._visible_rooms(searcher)),
                or_(users.c.deactivated.is_(None), users.c.deactivated.is_(False)),
                *matches,
            )
            .group_by(member.c.user_id, profiles.c.displayname, profiles.c.avatar_url)
            .order_by(
                rank,
                profiles.c.displayname.is_(None),
                profiles.c.avatar_url.is_(None),
                lower(func.coalesce(profiles.c.displayname, member.c.user_id)),
                member.c.user_id,
            )
            .limit(limit)
        )
        rows = await self._db.fetch_all(stmt)
        return [DirectoryUser(UserID(r.user_id), r.displayname, r.avatar_url) for r in rows]

    def _visible_rooms(self, searcher: str) -> Any:
        """The searcher's joined rooms and every room with a public join rule or world-readable
        history (through the partial index on room-level current state)."""
        m = room_memberships.c
        own = select(m.room_id).where(m.user_id == searcher, m.membership == "join")
        cs = current_state.c
        content = events.c.json
        dialect = self._db.dialect
        open_rooms = (
            select(cs.room_id)
            .join(events, events.c.event_id == cs.event_id)
            .where(
                cs.state_key == EMPTY_STATE_KEY,
                or_(
                    and_(
                        cs.type == "m.room.join_rules",
                        json_text(dialect, content, ("content", "join_rule")) == "public",
                    ),
                    and_(
                        cs.type == "m.room.history_visibility",
                        json_text(dialect, content, ("content", "history_visibility")) == WORLD_READABLE,
                    ),
                ),
            )
        )
        return union(own, open_rooms)


def _listed_rooms(
    dialect: str, room_filter: RoomListFilter
) -> tuple[FromClause, list[ColumnElement[bool]], ColumnElement[Any]]:
    """FROM clause, conditions and joined-member count of the rooms the directory lists:
    published, with joined members, joinable or readable without an invite, matching the filter."""
    published = select(rooms.c.room_id).where(rooms.c.is_public.is_(True))
    m = room_memberships.c
    joined_counts = (
        select(m.room_id, func.count().label("joined"))
        .where(m.membership == "join", m.room_id.in_(published))
        .group_by(m.room_id)
        .subquery("joined_counts")
    )
    frm: FromClause = rooms.join(joined_counts, joined_counts.c.room_id == rooms.c.room_id)

    def state_value(event_type: str, key: str) -> ColumnElement[Any]:
        nonlocal frm
        cs, ev = current_state.alias(), events.alias()
        frm = frm.outerjoin(
            cs,
            and_(cs.c.room_id == rooms.c.room_id, cs.c.type == event_type, cs.c.state_key == EMPTY_STATE_KEY),
        ).outerjoin(ev, ev.c.event_id == cs.c.event_id)
        return json_text(dialect, ev.c.json, ("content", key))

    join_rule = state_value("m.room.join_rules", "join_rule")
    history = state_value("m.room.history_visibility", "history_visibility")
    conditions: list[ColumnElement[bool]] = [
        rooms.c.is_public.is_(True),
        or_(join_rule.in_(LISTED_JOIN_RULES), history == WORLD_READABLE),
    ]
    if room_filter.search_term:
        pattern = like_pattern(room_filter.search_term)
        texts = (
            state_value("m.room.name", "name"),
            state_value("m.room.topic", "topic"),
            state_value("m.room.canonical_alias", "alias"),
        )
        local_alias = exists(
            select(room_aliases.c.alias).where(
                room_aliases.c.room_id == rooms.c.room_id,
                text_lower(dialect, room_aliases.c.alias).like(pattern, escape="\\"),
            )
        )
        conditions.append(
            or_(*(text_lower(dialect, t).like(pattern, escape="\\") for t in texts), local_alias)
        )
    if room_filter.room_types:
        room_type = state_value("m.room.create", "type")
        named = [t for t in room_filter.room_types if t is not None]
        clauses = [room_type.in_(named)] if named else []
        if None in room_filter.room_types:
            clauses.append(room_type.is_(None))
        conditions.append(or_(*clauses))
    return frm, conditions, joined_counts.c.joined


def _escape_like(term: str) -> str:
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def like_pattern(term: str) -> str:
    """A LIKE pattern (with ESCAPE '\\') for text containing `term`."""
    return f"%{_escape_like(term)}%"
