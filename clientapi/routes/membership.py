"""Room membership (spec: "Room membership"): join, invite, leave, forget, kick, ban, unban,
knock."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from clientapi.middleware import requester
from clientapi.request import field, read_json, required
from clientapi.responses import json_response
from clientapi.routes.common import room_id_or_alias, room_id_param, user_id_value
from homeserver.appkeys import MEMBERSHIPS
from homeserver.errors import InvalidParam
from homeserver.events.model import Event
from homeserver.ids import RoomID, UserID
from homeserver.rooms.membership import Memberships

routes = web.RouteTableDef()
ROOM = "/_matrix/client/v3/rooms/{room_id}"


@routes.post("/_matrix/client/v3/join/{room_id_or_alias}")
async def join_by_id_or_alias(request: web.Request) -> web.Response:
    body = await read_json(request)
    room_id = await room_id_or_alias(request)
    await request.app[MEMBERSHIPS].join(room_id, requester(request).user_id, field(body, "reason", str))
    return json_response({"room_id": room_id})


@routes.post(ROOM + "/join")
async def join(request: web.Request) -> web.Response:
    body = await read_json(request)
    room_id = room_id_param(request)
    await request.app[MEMBERSHIPS].join(room_id, requester(request).user_id, field(body, "reason", str))
    return json_response({"room_id": room_id})


@routes.post("/_matrix/client/v3/knock/{room_id_or_alias}")
async def knock(request: web.Request) -> web.Response:
    body = await read_json(request)
    room_id = await room_id_or_alias(request)
    await request.app[MEMBERSHIPS].knock(room_id, requester(request).user_id, field(body, "reason", str))
    return json_response({"room_id": room_id})


@routes.post(ROOM + "/invite")
async def invite(request: web.Request) -> web.Response:
    body = await read_json(request)
    room_id = room_id_param(request)
    if "user_id" not in body and "medium" in body:
        raise InvalidParam("Third-party invites need an identity server, which this server does not use")
    target = user_id_value(required(body, "user_id", str))
    await request.app[MEMBERSHIPS].invite(
        room_id, requester(request).user_id, target, field(body, "reason", str)
    )
    return json_response({})


@routes.post(ROOM + "/leave")
async def leave(request: web.Request) -> web.Response:
    body = await read_json(request)
    await request.app[MEMBERSHIPS].leave(
        room_id_param(request), requester(request).user_id, field(body, "reason", str)
    )
    return json_response({})


@routes.post(ROOM + "/forget")
async def forget(request: web.Request) -> web.Response:
    await read_json(request)
    await request.app[MEMBERSHIPS].forget(room_id_param(request), requester(request).user_id)
    return json_response({})


@routes.post(ROOM + "/kick")
async def kick(request: web.Request) -> web.Response:
    return await _change_other(request, Memberships.kick)


@routes.post(ROOM + "/ban")
async def ban(request: web.Request) -> web.Response:
    return await _change_other(request, Memberships.ban)


@routes.post(ROOM + "/unban")
async def unban(request: web.Request) -> web.Response:
    return await _change_other(request, Memberships.unban)


ChangeOther = Callable[[Memberships, RoomID, UserID, UserID, str | None], Awaitable[Event]]


async def _change_other(request: web.Request, change: ChangeOther) -> web.Response:
    """kick, ban and unban: the same body ({user_id, reason}), one Memberships method each."""
    body = await read_json(request)
    target = user_id_value(required(body, "user_id", str))
    who = requester(request)
    await change(
        request.app[MEMBERSHIPS], room_id_param(request), who.user_id, target, field(body, "reason", str)
    )
    return json_response({})
