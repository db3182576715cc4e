"""Account data and room tags (spec: "Client Config", "Room Tagging"). A user reads and
writes only their own."""

from __future__ import annotations

from aiohttp import web

from clientapi.middleware import requester
from clientapi.request import read_json
from clientapi.responses import json_response
from clientapi.routes.common import MAX_EVENT_TYPE, room_id_param
from homeserver.appkeys import ACCOUNT_DATA
from homeserver.errors import Forbidden, InvalidParam
from homeserver.ids import UserID

routes = web.RouteTableDef()
USER = "/_matrix/client/v3/user/{user_id}"


def _own_user(request: web.Request) -> UserID:
    user_id = requester(request).user_id
    if request.match_info["user_id"] != user_id:
        raise Forbidden("Cannot access the account data of other users")
    return UserID(user_id)


def _data_type(request: web.Request) -> str:
    value = request.match_info["type"]
    if not value or len(value.encode("utf-8", "surrogatepass")) > MAX_EVENT_TYPE or "\x00" in value:
        raise InvalidParam("Invalid account data type")
    return value


@routes.get(USER + "/account_data/{type}")
async def get_global(request: web.Request) -> web.Response:
    user_id = _own_user(request)
    return json_response(await request.app[ACCOUNT_DATA].get(user_id, None, _data_type(request)))


@routes.put(USER + "/account_data/{type}")
async def put_global(request: web.Request) -> web.Response:
    user_id = _own_user(request)
    data_type = _data_type(request)
    content = await read_json(request)
    await request.app[ACCOUNT_DATA].set_by_client(user_id, None, data_type, content)
    return json_response({})


@routes.get(USER + "/rooms/{room_id}/account_data/{type}")
async def get_room(request: web.Request) -> web.Response:
    user_id = _own_user(request)
    room_id = room_id_param(request)
    return json_response(await request.app[ACCOUNT_DATA].get(user_id, room_id, _data_type(request)))


@routes.put(USER + "/rooms/{room_id}/account_data/{type}")
async def put_room(request: web.Request) -> web.Response:
    user_id = _own_user(request)
    room_id = room_id_param(request)
    data_type = _data_type(request)
    content = await read_json(request)
    await request.app[ACCOUNT_DATA].set_by_client(user_id, room_id, data_type, content)
    return json_response({})


@routes.get(USER + "/rooms/{room_id}/tags")
async def get_tags(request: web.Request) -> web.Response:
    user_id = _own_user(request)
    room_id = room_id_param(request)
    return json_response({"tags": await request.app[ACCOUNT_DATA].tags(user_id, room_id)})


@routes.put(USER + "/rooms/{room_id}/tags/{tag}")
async def put_tag(request: web.Request) -> web.Response:
    user_id = _own_user(request)
    room_id = room_id_param(request)
    info = await read_json(request)
    await request.app[ACCOUNT_DATA].add_tag(user_id, room_id, request.match_info["tag"], info)
    return json_response({})


@routes.delete(USER + "/rooms/{room_id}/tags/{tag}")
async def delete_tag(request: web.Request) -> web.Response:
    user_id = _own_user(request)
    room_id = room_id_param(request)
    await request.app[ACCOUNT_DATA].remove_tag(user_id, room_id, request.match_info["tag"])
    return json_response({})
