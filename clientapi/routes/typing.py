"""Typing notifications (spec: "Typing Notifications")."""

from __future__ import annotations

from aiohttp import web

from clientapi.middleware import requester
from clientapi.request import field, read_json, required
from clientapi.responses import json_response
from clientapi.routes.common import path_param, room_id_param
from homeserver.appkeys import TYPING
from homeserver.errors import Forbidden

routes = web.RouteTableDef()


@routes.put("/_matrix/client/v3/rooms/{room_id}/typing/{user_id}")
async def put_typing(request: web.Request) -> web.Response:
    room_id = room_id_param(request)
    user_id = requester(request).user_id
    if path_param(request, "user_id") != user_id:
        raise Forbidden("You may only set your own typing state")
    body = await read_json(request)
    typing = required(body, "typing", bool)
    timeout_ms = field(body, "timeout", int)
    await request.app[TYPING].set_typing(user_id, room_id, typing, timeout_ms)
    return json_response({})
