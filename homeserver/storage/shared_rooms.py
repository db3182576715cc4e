""" "Do these users share a joined room?" as SQL, for the streams whose events go to everyone
who shares a room with their subject (presence, device-list changes)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import BindParameter, ColumnElement, Exists, exists

from homeserver.storage.tables import room_memberships

JOIN = "join"
_MINE, _THEIRS = room_memberships.alias("shared_mine"), room_memberships.alias("shared_theirs")


def shares_joined_room(user_id: str | BindParameter[str], other: ColumnElement[Any]) -> Exists:
    """EXISTS: `other` (a column of the outer query) is joined to a room `user_id` is joined
    to. Correlated per outer row, it reads the index of the other user's rooms and one primary
    key per room, never a whole room's member list."""
    mine, theirs = _MINE, _THEIRS  # built once: per call they would leave cyclic garbage
    return exists().where(
        theirs.c.user_id == other,
        theirs.c.membership == JOIN,
        mine.c.room_id == theirs.c.room_id,
        mine.c.user_id == user_id,
        mine.c.membership == JOIN,
    )
