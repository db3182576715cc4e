"""Helpers shared by the directory, public rooms, profile and user directory tests."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from tests.helpers import HomeserverUnderTest, MatrixClient


def alias_path(alias: str) -> str:
    return f"/directory/room/{quote(alias, safe='')}"


def local_alias(hs: HomeserverUnderTest, name: str) -> str:
    return f"#{name}:{hs.config.server_name}"


async def new_room(client: MatrixClient, **body: Any) -> str:
    room_id = (await client.post("/createRoom", body))["room_id"]
    assert isinstance(room_id, str)
    return room_id


async def lookup(client: MatrixClient, alias: str) -> str | None:
    """The room ID an alias names, or None if the server answers 404."""
    async with client.http.get(client.url(alias_path(alias))) as resp:
        body = await resp.json()
        if resp.status == 404:
            assert body["errcode"] == "M_NOT_FOUND"
            return None
        assert resp.status == 200, body
        room_id = body["room_id"]
        assert isinstance(room_id, str)
        return room_id


async def member_content(client: MatrixClient, room_id: str, user_id: str | None) -> Any:
    return await client.get(f"/rooms/{room_id}/state/m.room.member/{user_id}")


async def make_world_readable(client: MatrixClient, room_id: str) -> None:
    content = {"history_visibility": "world_readable"}
    await client.put(f"/rooms/{room_id}/state/m.room.history_visibility", content)
