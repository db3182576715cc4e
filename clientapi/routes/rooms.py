"""Rooms: create, send, state, redact, read events, paginate, members (spec: "Rooms",
"Room events", "Redactions")."""

from __future__ import annotations

from typing import Any, TypeVar

from aiohttp import web

from clientapi.middleware import requester
from clientapi.request import field, read_json
from clientapi.responses import json_response
from clientapi.routes.common import (
    MAX_EVENT_TYPE,
    MAX_TXN_ID,
    event_id_param,
    int_query_param,
    limit_events,
    path_param,
    room_event_filter_param,
    room_id_param,
    short_param,
    user_id_value,
)
from clientapi.routes.relations import bundled_events_json
from homeserver.appkeys import EVENTS, PIPELINE, ROOM_CREATOR, ROOMS, TIMELINE
from homeserver.auth.tokens import Requester
from homeserver.errors import BadJson, Forbidden, InvalidParam, NotFound
from homeserver.events.client_format import client_event
from homeserver.events.model import Event
from homeserver.ids import RoomID, UserID, is_valid_room_alias
from homeserver.rooms.create import CreateRoomRequest
from homeserver.rooms.send import Draft, txn_key
from homeserver.storage.events import TxnKey

T = TypeVar("T")
routes = web.RouteTableDef()
ROOM = "/_matrix/client/v3/rooms/{room_id}"


def events_json(events: list[Event], **kw: Any) -> list[dict[str, Any]]:
    return [client_event(e, **kw) for e in events]


@routes.post("/_matrix/client/v3/createRoom")
async def create_room(request: web.Request) -> web.Response:
    """A malformed request is M_BAD_JSON (spec: createRoom's 400), wrong types included."""
    who = requester(request)
    body = await read_json(request)
    visibility = _create_field(body, "visibility", str) or "private"
    if visibility not in ("public", "private"):
        raise BadJson("visibility must be 'public' or 'private'")
    invite = _create_field(body, "invite", list) or []
    is_direct = _create_field(body, "is_direct", bool)
    req = CreateRoomRequest(
        creator=who.user_id,
        preset=_create_field(body, "preset", str),
        visibility=visibility,
        room_alias_name=_create_field(body, "room_alias_name", str),
        name=_create_field(body, "name", str),
        topic=_create_field(body, "topic", str),
        invite=[user_id_value(u, "invite") if isinstance(u, str) else _not_a_user(u) for u in invite],
        is_direct=bool(is_direct),
        initial_state=_create_field(body, "initial_state", list) or [],
        power_level_content_override=_create_field(body, "power_level_content_override", dict),
        creation_content=_create_field(body, "creation_content", dict) or {},
        room_version=_create_field(body, "room_version", str),
    )
    limit_events(request.app, who.user_id)
    room_id = await request.app[ROOM_CREATOR].create(req)
    return json_response({"room_id": room_id})


def _create_field(body: dict[str, Any], key: str, kind: type[T]) -> T | None:
    try:
        return field(body, key, kind)
    except InvalidParam as e:
        raise BadJson(e.message) from None


def _not_a_user(value: object) -> UserID:
    raise BadJson("invite must be a list of user ID strings")


def _txn(request: web.Request, endpoint: str) -> TxnKey:
    return txn_of(requester(request), endpoint, short_param(request, "txn_id", MAX_TXN_ID))


def txn_of(who: Requester, endpoint: str, txn_id: str) -> TxnKey:
    return TxnKey(who.user_id, who.device_id, txn_key(endpoint, txn_id), txn_id)


@routes.put(ROOM + "/send/{event_type}/{txn_id}")
async def send_event(request: web.Request) -> web.Response:
    who = requester(request)
    room_id = room_id_param(request)
    event_type = short_param(request, "event_type", MAX_EVENT_TYPE)
    content = await read_json(request)
    txn_id = short_param(request, "txn_id", MAX_TXN_ID)
    event = await send_message_event(request.app, who, room_id, event_type, txn_id, content)
    return json_response({"event_id": event.event_id})


async def send_message_event(
    app: web.Application,
    who: Requester,
    room_id: RoomID,
    event_type: str,
    txn_id: str,
    content: dict[str, Any],
) -> Event:
    """PUT /rooms/{room_id}/send/{event_type}/{txn_id}, also sent over the WebSocket: one
    transaction key for both, so a txn ID repeated over either gives the same event."""
    txn = txn_of(who, f"send/{room_id}/{event_type}", txn_id)
    limit_events(app, who.user_id, txn)
    return await app[PIPELINE].send(Draft(room_id, who.user_id, event_type, content, txn=txn))


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
    limit_events(request.app, who.user_id)
    event = await request.app[PIPELINE].send(Draft(room_id, who.user_id, event_type, content, state_key))
    return json_response({"event_id": event.event_id})


async def _check_canonical_alias(request: web.Request, room_id: RoomID, content: dict[str, Any]) -> None:
    """New aliases in m.room.canonical_alias must be valid (M_INVALID_PARAM) and point to this
    room (M_BAD_ALIAS). Aliases already in the current event are not checked again, so an
    alias that stopped resolving does not block every other change (spec: PUT state)."""
    alias = content.get("alias")
    alt = content.get("alt_aliases", [])
    if not isinstance(alt, list):
        raise InvalidParam("alt_aliases must be a list of room aliases")
    named = ([alias] if alias is not None else []) + alt
    for value in named:
        if not isinstance(value, str) or not is_valid_room_alias(value):
            raise InvalidParam("Invalid room alias in m.room.canonical_alias")
    key = ("m.room.canonical_alias", "")
    events = request.app[EVENTS]
    current_id = (await events.current_state_ids(room_id, [key])).get(key)
    current = await events.get_event(current_id) if current_id is not None else None
    known: set[object] = set()
    if current is not None:
        known.add(current.content.get("alias"))
        old_alt = current.content.get("alt_aliases")
        if isinstance(old_alt, list):
            known.update(a for a in old_alt if isinstance(a, str))
    for value in named:
        if value not in known and await request.app[ROOMS].resolve_alias(value) != room_id:
            raise BadAlias(f"The alias {value[:255]} does not point to this room")


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
    txn = _txn(request, f"redact/{room_id}")
    draft = Draft(room_id, who.user_id, "m.room.redaction", content, txn=txn, redacts=target_id)
    if target.type == "m.room.create" or not await pipeline.may_redact(draft, target):
        raise Forbidden("You cannot redact this event")
    limit_events(request.app, who.user_id, txn)
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
    limit = int_query_param(request, "limit", 10)
    if limit < 0:
        raise InvalidParam("limit must not be negative")
    page = await request.app[TIMELINE].messages(
        who.user_id,
        room_id,
        from_token=q.get("from"),
        to_token=q.get("to"),
        backwards=direction == "b",
        limit=limit,
        event_filter=room_event_filter_param(request),
    )
    chunk = await bundled_events_json(request, who.user_id, page.chunk)
    out: dict[str, Any] = {"chunk": chunk, "start": page.start}
    if page.end is not None:
        out["end"] = page.end
    if page.state:
        out["state"] = events_json(page.state)
    return json_response(out)


MEMBERSHIPS = ("join", "invite", "knock", "leave", "ban")


@routes.get(ROOM + "/members")
async def members(request: web.Request) -> web.Response:
    """`membership` and `not_membership` together are an 'or' (spec): members whose
    membership is `membership`, or is not `not_membership`."""
    who = requester(request)
    room_id = room_id_param(request)
    wanted = _membership_param(request, "membership")
    unwanted = _membership_param(request, "not_membership")
    found = await request.app[TIMELINE].members(who.user_id, room_id, request.query.get("at"))

    def keep(event: Event) -> bool:
        if wanted is not None and unwanted is not None:
            return event.membership == wanted or event.membership != unwanted
        return (wanted is None or event.membership == wanted) and (
            unwanted is None or event.membership != unwanted
        )

    return json_response({"chunk": events_json([e for e in found if keep(e)])})


def _membership_param(request: web.Request, name: str) -> str | None:
    value = request.query.get(name)
    if value is not None and value not in MEMBERSHIPS:
        raise InvalidParam(f"{name} must be one of {', '.join(MEMBERSHIPS)}")
    return value


@routes.get(ROOM + "/joined_members")
async def joined_members(request: web.Request) -> web.Response:
    who = requester(request)
    room_id = room_id_param(request)
    joined: dict[str, dict[str, Any]] = {}
    for event in await request.app[TIMELINE].joined_members(who.user_id, room_id):
        profile: dict[str, Any] = {}
        for key, name in (("displayname", "display_name"), ("avatar_url", "avatar_url")):
            value = event.content.get(key)
            if isinstance(value, str):
                profile[name] = value
        joined[event.state_key or ""] = profile
    return json_response({"joined": joined})


@routes.get("/_matrix/client/v3/joined_rooms")
async def joined_rooms(request: web.Request) -> web.Response:
    who = requester(request)
    rooms = await request.app[ROOMS].rooms_for_user(UserID(who.user_id))
    return json_response({"joined_rooms": sorted(m.room_id for m in rooms)})
