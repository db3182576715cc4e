"""Room upgrades (spec: "Room Upgrades"): POST /rooms/{roomId}/upgrade."""

from __future__ import annotations

from aiohttp import web

from clientapi.middleware import requester
from clientapi.request import read_json, required
from clientapi.responses import json_response
from clientapi.routes.common import limit_events, room_id_param
from homeserver.appkeys import ROOM_UPGRADER

routes = web.RouteTableDef()


@routes.post("/_matrix/client/v3/rooms/{room_id}/upgrade")
async def upgrade_room(request: web.Request) -> web.Response:
    """`new_version`: M_MISSING_PARAM when absent, M_INVALID_PARAM when not a string,
    M_UNSUPPORTED_ROOM_VERSION when not one new rooms may have."""
    who = requester(request)
    room_id = room_id_param(request)
    body = await read_json(request)
    new_version = required(body, "new_version", str)
    limit_events(request.app, who.user_id)
    new_room_id = await request.app[ROOM_UPGRADER].upgrade(
        who.user_id, room_id, new_version, body.get("additional_creators")
    )
    return json_response({"replacement_room": new_room_id})
