"""Rooms: create, send, state, redact, read events, paginate, members (spec: "Rooms",
"Room events", "Redactions")."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from clientapi.middleware import requester
from clientapi.request import bool_field, field, read_json
from clientapi.responses import json_response
from clientapi.routes.common import (
    MAX_EVENT_TYPE,
    MAX_TXN_ID,
    event_id_param,
    path_param,
    room_id_param,
    short_param,
    user_id_value,
)
from clientapi.routes.relations import bundled_events_json
from homeserver.appkeys import EVENTS, PIPELINE, ROOM_CREATOR, ROOMS, TIMELINE
from homeserver.errors import BadJson, Forbidden, InvalidParam, NotFound
from homeserver.events.client_format import client_event
from homeserver.events.model import Event
from homeserver.filters import RoomEventFilter
from homeserver.ids import RoomID, UserID
from homeserver.rooms.create import CreateRoomRequest
from homeserver.rooms.send import Draft, txn_key
from homeserver.storage.events import TxnKey

routes = web.RouteTableDef()
ROOM = "/_matrix/client/v3/rooms/{room_id}"


def events_json(events: list[Event], **kw: Any) -> list[dict[str, Any]]:
    return [client_event(e, **kw) for e in events]


@routes.post("/_matrix/client/v3/createRoom")
async def create_room(request: web.Request) -> web.Response:
    who = requester(request)
    body = await read_json(request)
    visibility = field(body, "visibility", str) or "private"
    if visibility not in ("public", "private"):
        raise InvalidParam("visibility must be 'public' or 'private'")
    invite = field(body, "invite", list) or []
    initial_state = field(body, "initial_state", list) or []
    req = CreateRoomRequest(
        creator=who.user_id,
        preset=field(body, "preset", str),
        visibility=visibility,
        room_alias_name=field(body, "room_alias_name", str),
        name=field(body, "name", str),
        topic=field(body, "topic", str),
        invite=[user_id_value(u, "invite") for u in invite],
        is_direct=bool_field(body, "is_direct", False),
        initial_state=initial_state,
        power_level_content_override=field(body, "power_level_content_override", dict),
        creation_content=field(body, "creation_content", dict) or {},
        room_version=field(body, "room_version", str),
    )
    room_id = await request.app[ROOM_CREATOR].create(req)
    return json_response({"room_id": room_id})


def _txn(request: web.Request, endpoint: str) -> TxnKey:
    who = requester(request)
    txn_id = short_param(request, "txn_id", MAX_TXN_ID)
    return TxnKey(who.user_id, who.device_id, txn_key(endpoint, txn_id))


@routes.put(ROOM + "/send/{event_type}/{txn_id}")
async def send_event(request: web.Request) -> web.Response:
    who = requester(request)
    room_id = room_id_param(request)
    event_type = short_param(request, "event_type", MAX_EVENT_TYPE)
    content = await read_json(request)
    txn = _txn(request, f"send/{room_id}/{event_type}")
    event = await request.app[PIPELINE].send(Draft(room_id, who.user_id, event_type, content, txn=txn))
    return json_response({"event_id": event.event_id})


@routes.put(ROOM + "/state/{event_type}")
@routes.put(ROOM + "/state/{event_type}/{state_key:.*}")
async def put_state(request: web.Request) -> web.Response:
    who = requester(request)
    room_id = room_id_param(request)
    event_type = short_param(request, "event_type", MAX_EVENT_TYPE)
    state_key = path_param(request, "state_key", "")
    if len(state_key.encode()) > 255:
        raise InvalidParam("state_key is too long")
    content = await read_json(request)
    if event_type == "m.room.canonical_alias":
        await _check_canonical_alias(request, room_id, content)
    event = await request.app[PIPELINE].send(Draft(room_id, who.user_id, event_type, content, state_key))
    return json_response({"event_id": event.event_id})


async def _check_canonical_alias(request: web.Request, room_id: RoomID, content: dict[str, Any]) -> None:
    """m.room.canonical_alias may only name aliases that point to this room (spec: 400
    M_BAD_ALIAS otherwise)."""
    aliases = [content.get("alias")] if content.get("alias") is not None else []
    alt = content.get("alt_aliases", [])
    if not isinstance(alt, list):
        raise BadJson("alt_aliases must be a list")
    for alias in [*aliases, *alt]:
        if not isinstance(alias, str) or await request.app[ROOMS].resolve_alias(alias) != room_id:
            raise BadAlias("An alias does not point to this room")


class BadAlias(InvalidParam):
    errcode = "M_BAD_ALIAS"


@routes.put(ROOM + "/redact/{event_id}/{txn_id}")
async def redact(request: web.Request) -> web.Response:
    who = requester(request)
    room_id = room_id_param(request)
    target_id = event_id_param(request)
    body = await read_json(request)
    reason = field(body, "reason", str)
    target = await request.app[EVENTS].get_event(target_id)
    if target is None or target.room_id != room_id:
        raise NotFound("Event not found")
    content: dict[str, Any] = {"reason": reason} if reason is not None else {}
    pipeline = request.app[PIPELINE]
    draft = Draft(
        room_id,
        who.user_id,
        "m.room.redaction",
        content,
        txn=_txn(request, f"redact/{room_id}"),
        redacts=target_id,
    )
    if target.type == "m.room.create" or not await pipeline.may_redact(draft, target):
        raise Forbidden("You cannot redact this event")
    event = await pipeline.send(draft, prune=target)
    return json_response({"event_id": event.event_id})


@routes.get(ROOM + "/event/{event_id}")
async def get_event(request: web.Request) -> web.Response:
    who = requester(request)
    event = await request.app[TIMELINE].event(who.user_id, room_id_param(request), event_id_param(request))
    return json_response((await bundled_events_json(request, who.user_id, [event]))[0])


@routes.get(ROOM + "/state")
async def get_state(request: web.Request) -> web.Response:
    who = requester(request)
    state = await request.app[TIMELINE].state(who.user_id, room_id_param(request))
    return json_response(events_json(state))


@routes.get(ROOM + "/state/{event_type}")
@routes.get(ROOM + "/state/{event_type}/{state_key:.*}")
async def get_state_event(request: web.Request) -> web.Response:
    who = requester(request)
    room_id = room_id_param(request)
    event = await request.app[TIMELINE].state_event(
        who.user_id, room_id, path_param(request, "event_type"), path_param(request, "state_key", "")
    )
    if request.query.get("format") == "event":
        return json_response(client_event(event))
    return json_response(event.content)


@routes.get(ROOM + "/messages")
async def messages(request: web.Request) -> web.Response:
    who = requester(request)
    room_id = room_id_param(request)
    q = request.query
    direction = q.get("dir", "b")
    if direction not in ("b", "f"):
        raise InvalidParam("dir must be 'b' or 'f'")
    try:
        limit = int(q.get("limit", "10"))
    except ValueError:
        raise InvalidParam("limit must be an integer") from None
    if limit < 0:
        raise InvalidParam("limit must not be negative")
    page = await request.app[TIMELINE].messages(
        who.user_id,
        room_id,
        from_token=q.get("from"),
        to_token=q.get("to"),
        backwards=direction == "b",
        limit=limit,
        event_filter=_filter_param(q.get("filter")),
    )
    chunk = await bundled_events_json(request, who.user_id, page.chunk)
    out: dict[str, Any] = {"chunk": chunk, "start": page.start}
    if page.end is not None:
        out["end"] = page.end
    if page.state:
        out["state"] = events_json(page.state)
    return json_response(out)


def _filter_param(raw: str | None) -> RoomEventFilter:
    if raw is None:
        return RoomEventFilter()
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise BadJson("filter is not valid JSON") from None
    return RoomEventFilter.from_json(data)


@routes.get(ROOM + "/members")
async def members(request: web.Request) -> web.Response:
    who = requester(request)
    room_id = room_id_param(request)
    state = await request.app[TIMELINE].state(who.user_id, room_id)
    wanted = request.query.get("membership")
    unwanted = request.query.get("not_membership")
    chunk = [
        e
        for e in state
        if e.type == "m.room.member"
        and (wanted is None or e.membership == wanted)
        and (unwanted is None or e.membership != unwanted)
    ]
    return json_response({"chunk": events_json(chunk)})


@routes.get(ROOM + "/joined_members")
async def joined_members(request: web.Request) -> web.Response:
    who = requester(request)
    room_id = room_id_param(request)
    membership = await request.app[ROOMS].membership(room_id, who.user_id)
    if membership is None or membership.membership != "join":
        raise Forbidden("You are not in this room")
    state = await request.app[TIMELINE].state(who.user_id, room_id)
    joined = {
        e.state_key: {"display_name": e.content.get("displayname"), "avatar_url": e.content.get("avatar_url")}
        for e in state
        if e.type == "m.room.member" and e.membership == "join"
    }
    return json_response({"joined": joined})


@routes.get("/_matrix/client/v3/joined_rooms")
async def joined_rooms(request: web.Request) -> web.Response:
    who = requester(request)
    rooms = await request.app[ROOMS].rooms_for_user(UserID(who.user_id))
    return json_response({"joined_rooms": sorted(m.room_id for m in rooms)})
