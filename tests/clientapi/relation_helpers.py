"""Helpers for the relations, threads, edits and reactions tests."""

from __future__ import annotations

import itertools
from typing import Any

from sqlalchemy import select

from homeserver.appkeys import DATABASE
from homeserver.storage.tables import event_relations, event_threads
from tests.helpers import HomeserverUnderTest, MatrixClient

V1 = "/_matrix/client/v1"
_txn = itertools.count()


async def public_room(owner: MatrixClient, *members: MatrixClient, **body: Any) -> str:
    room_id: str = (await owner.post("/createRoom", {"preset": "public_chat", **body}))["room_id"]
    for member in members:
        await member.post(f"/join/{room_id}")
    return room_id


async def send(
    client: MatrixClient,
    room_id: str,
    content: dict[str, Any],
    event_type: str = "m.room.message",
    *,
    expect: int = 200,
) -> Any:
    """Send an event; its ID, or the error body when `expect` is not 200."""
    result = await client.put(f"/rooms/{room_id}/send/{event_type}/r{next(_txn)}", content, expect=expect)
    return result["event_id"] if expect == 200 else result


async def text(client: MatrixClient, room_id: str, body: str) -> str:
    return str(await send(client, room_id, {"msgtype": "m.text", "body": body}))


def relates(rel_type: str, parent: str, **extra: Any) -> dict[str, Any]:
    return {"m.relates_to": {"rel_type": rel_type, "event_id": parent, **extra}}


async def edit(client: MatrixClient, room_id: str, original: str, body: str, **kw: Any) -> Any:
    content = {
        "msgtype": "m.text",
        "body": f"* {body}",
        "m.new_content": {"msgtype": "m.text", "body": body},
        **relates("m.replace", original),
    }
    return await send(client, room_id, content, **kw)


async def react(client: MatrixClient, room_id: str, target: str, key: str, **kw: Any) -> Any:
    return await send(client, room_id, relates("m.annotation", target, key=key), "m.reaction", **kw)


async def reply_in_thread(client: MatrixClient, room_id: str, root: str, body: str, **kw: Any) -> Any:
    content = {"msgtype": "m.text", "body": body, **relates("m.thread", root)}
    return await send(client, room_id, content, **kw)


async def redact(client: MatrixClient, room_id: str, event_id: str) -> None:
    await client.put(f"/rooms/{room_id}/redact/{event_id}/x{next(_txn)}", {})


async def get_event(client: MatrixClient, room_id: str, event_id: str) -> dict[str, Any]:
    event: dict[str, Any] = await client.get(f"/rooms/{room_id}/event/{event_id}")
    return event


async def bundle(client: MatrixClient, room_id: str, event_id: str) -> dict[str, Any]:
    """`unsigned.m.relations` of the event as /event serves it ({} without one)."""
    relations: dict[str, Any] = (await get_event(client, room_id, event_id))["unsigned"].get(
        "m.relations", {}
    )
    return relations


async def relations(
    client: MatrixClient, room_id: str, parent: str, *path: str, expect: int = 200, **params: Any
) -> Any:
    suffix = "".join(f"/{p}" for p in path)
    query = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in params.items()}
    return await client.get(f"{V1}/rooms/{room_id}/relations/{parent}{suffix}", params=query, expect=expect)


async def threads(client: MatrixClient, room_id: str, *, expect: int = 200, **params: Any) -> Any:
    query = {k: str(v) for k, v in params.items()}
    return await client.get(f"{V1}/rooms/{room_id}/threads", params=query, expect=expect)


def ids(chunk: list[dict[str, Any]]) -> list[str]:
    return [e["event_id"] for e in chunk]


async def relation_rows(hs: HomeserverUnderTest, parent: str) -> list[str]:
    """Event IDs of the index rows of the parent's children, straight from the database."""
    rows = await hs.app[DATABASE].fetch_all(
        select(event_relations.c.event_id).where(event_relations.c.relates_to_id == parent)
    )
    return sorted(r.event_id for r in rows)


async def thread_row(hs: HomeserverUnderTest, root: str) -> tuple[int, str] | None:
    """(reply count, latest reply) of the thread index row, if any."""
    row = await hs.app[DATABASE].fetch_one(
        select(event_threads.c.reply_count, event_threads.c.latest_event_id).where(
            event_threads.c.thread_id == root
        )
    )
    return (row.reply_count, row.latest_event_id) if row is not None else None
