"""Presence (spec: "Presence"): GET/PUT /presence/{userId}/status."""

from __future__ import annotations

from aiohttp import web

from clientapi.middleware import requester
from clientapi.request import field, read_json, required
from clientapi.responses import json_response
from homeserver.appkeys import PRESENCE
from homeserver.errors import Forbidden, InvalidParam
from homeserver.ids import UserID, is_valid_user_id

routes = web.RouteTableDef()
STATUS = "/_matrix/client/v3/presence/{user_id}/status"


def _user_id(request: web.Request) -> UserID:
    value = request.match_info["user_id"]
    if not is_valid_user_id(value, historical=True):
        raise InvalidParam("Invalid user ID")
    return UserID(value)


@routes.get(STATUS)
async def get_presence(request: web.Request) -> web.Response:
    user_id = _user_id(request)
    return json_response(await request.app[PRESENCE].get(requester(request).user_id, user_id))


@routes.put(STATUS)
async def set_presence(request: web.Request) -> web.Response:
    user_id = _user_id(request)
    if user_id != requester(request).user_id:
        raise Forbidden("You may only set your own presence")
    body = await read_json(request)
    state = required(body, "presence", str)
    status_msg = field(body, "status_msg", str)
    await request.app[PRESENCE].set_state(user_id, state, status_msg)
    return json_response({})
