"""Helpers shared by the room tests: create rooms, send messages, read state, and look at
what the database holds underneath the API."""

from __future__ import annotations

import itertools
from typing import Any

import orjson
from sqlalchemy import func, select

from homeserver.appkeys import DATABASE
from homeserver.storage.tables import current_state, events
from tests.helpers import HomeserverUnderTest, MatrixClient

_txn = itertools.count()


async def create_room(client: MatrixClient, **body: Any) -> str:
    room_id = (await client.post("/createRoom", body))["room_id"]
    assert isinstance(room_id, str) and room_id.startswith("!")
    return room_id


async def send_text(client: MatrixClient, room_id: str, body: str, *, expect: int = 200) -> Any:
    """Send an m.text message; returns its event ID (or the error body)."""
    result = await client.put(
        f"/rooms/{room_id}/send/m.room.message/t{next(_txn)}",
        {"msgtype": "m.text", "body": body},
        expect=expect,
    )
    return result["event_id"] if expect == 200 else result


async def state_content(
    client: MatrixClient, room_id: str, event_type: str, state_key: str | None = ""
) -> Any:
    """The content of a state event (state_key: a user ID, possibly typed Optional)."""
    assert state_key is not None
    return await client.get(f"/rooms/{room_id}/state/{event_type}/{state_key}")


async def state_map(client: MatrixClient, room_id: str) -> dict[tuple[str, str], dict[str, Any]]:
    """The room's state as the client sees it: (type, state_key) -> event."""
    return {(e["type"], e["state_key"]): e for e in await client.get(f"/rooms/{room_id}/state")}


async def messages(client: MatrixClient, room_id: str, **params: Any) -> Any:
    query = {k: (orjson.dumps(v).decode() if k == "filter" else str(v)) for k, v in params.items()}
    query.setdefault("dir", "b")
    return await client.get(f"/rooms/{room_id}/messages", params=query)


async def bodies(client: MatrixClient, room_id: str, **params: Any) -> list[str]:
    page = await messages(client, room_id, **params)
    return [e["content"]["body"] for e in page["chunk"] if e["type"] == "m.room.message"]


async def stored_event_json(hs: HomeserverUnderTest, event_id: str) -> dict[str, Any] | None:
    """The PDU as stored in the events table, bypassing every cache."""
    row = await hs.app[DATABASE].fetch_one(select(events.c.json).where(events.c.event_id == event_id))
    return orjson.loads(row.json) if row is not None else None


async def event_count(hs: HomeserverUnderTest, room_id: str | None = None) -> int:
    stmt = select(func.count()).select_from(events)
    if room_id is not None:
        stmt = stmt.where(events.c.room_id == room_id)
    return int(await hs.app[DATABASE].fetch_value(stmt))


async def current_state_rows(hs: HomeserverUnderTest, room_id: str) -> dict[tuple[str, str], str]:
    rows = await hs.app[DATABASE].fetch_all(
        select(current_state.c.type, current_state.c.state_key, current_state.c.event_id).where(
            current_state.c.room_id == room_id
        )
    )
    return {(r.type, r.state_key): r.event_id for r in rows}
