"""Server-side key backups (spec: "Server-side key backups"): /room_keys/version and
/room_keys/keys for all rooms, one room or one session."""

from __future__ import annotations

from aiohttp import web

from clientapi.middleware import requester
from clientapi.request import read_json
from clientapi.responses import json_response
from homeserver.appkeys import KEY_BACKUPS
from homeserver.errors import NotFound
from homeserver.key_backup import parse_rooms, parse_session, parse_sessions, session_json

routes = web.RouteTableDef()
VERSION = "/_matrix/client/v3/room_keys/version"
KEYS = "/_matrix/client/v3/room_keys/keys"


@routes.post(VERSION)
async def create_version(request: web.Request) -> web.Response:
    body = await read_json(request)
    return json_response(await request.app[KEY_BACKUPS].create(requester(request).user_id, body))


@routes.get(VERSION)
async def current_version(request: web.Request) -> web.Response:
    return json_response(await request.app[KEY_BACKUPS].get(requester(request).user_id, None))


@routes.get(VERSION + "/{version}")
async def get_version(request: web.Request) -> web.Response:
    version = request.match_info["version"]
    return json_response(await request.app[KEY_BACKUPS].get(requester(request).user_id, version))


@routes.put(VERSION + "/{version}")
async def update_version(request: web.Request) -> web.Response:
    body = await read_json(request)
    await request.app[KEY_BACKUPS].update(requester(request).user_id, request.match_info["version"], body)
    return json_response({})


@routes.delete(VERSION + "/{version}")
async def delete_version(request: web.Request) -> web.Response:
    await request.app[KEY_BACKUPS].delete(requester(request).user_id, request.match_info["version"])
    return json_response({})


@routes.put(KEYS)
async def put_all(request: web.Request) -> web.Response:
    keys = parse_rooms(await read_json(request))
    backups, who = request.app[KEY_BACKUPS], requester(request)
    return json_response(await backups.put_keys(who.user_id, request.query.get("version"), keys))


@routes.put(KEYS + "/{room_id}")
async def put_room(request: web.Request) -> web.Response:
    keys = parse_sessions(request.match_info["room_id"], await read_json(request))
    backups, who = request.app[KEY_BACKUPS], requester(request)
    return json_response(await backups.put_keys(who.user_id, request.query.get("version"), keys))


@routes.put(KEYS + "/{room_id}/{session_id}")
async def put_session(request: web.Request) -> web.Response:
    key = parse_session(
        request.match_info["room_id"], request.match_info["session_id"], await read_json(request)
    )
    backups, who = request.app[KEY_BACKUPS], requester(request)
    return json_response(await backups.put_keys(who.user_id, request.query.get("version"), [key]))


@routes.get(KEYS)
async def get_all(request: web.Request) -> web.Response:
    keys = await request.app[KEY_BACKUPS].get_keys(requester(request).user_id, request.query.get("version"))
    rooms: dict[str, dict[str, dict[str, object]]] = {}
    for key in keys:
        rooms.setdefault(key.room_id, {"sessions": {}})["sessions"][key.session_id] = session_json(key)
    return json_response({"rooms": rooms})


@routes.get(KEYS + "/{room_id}")
async def get_room(request: web.Request) -> web.Response:
    backups, who = request.app[KEY_BACKUPS], requester(request)
    keys = await backups.get_keys(who.user_id, request.query.get("version"), request.match_info["room_id"])
    return json_response({"sessions": {key.session_id: session_json(key) for key in keys}})


@routes.get(KEYS + "/{room_id}/{session_id}")
async def get_session(request: web.Request) -> web.Response:
    backups, who = request.app[KEY_BACKUPS], requester(request)
    room_id, session_id = request.match_info["room_id"], request.match_info["session_id"]
    keys = await backups.get_keys(who.user_id, request.query.get("version"), room_id, session_id)
    if not keys:
        raise NotFound("Key not found.")
    return json_response(session_json(keys[0]))


@routes.delete(KEYS)
async def delete_all(request: web.Request) -> web.Response:
    backups, who = request.app[KEY_BACKUPS], requester(request)
    return json_response(await backups.delete_keys(who.user_id, request.query.get("version")))


@routes.delete(KEYS + "/{room_id}")
async def delete_room(request: web.Request) -> web.Response:
    backups, who = request.app[KEY_BACKUPS], requester(request)
    version, room_id = request.query.get("version"), request.match_info["room_id"]
    return json_response(await backups.delete_keys(who.user_id, version, room_id))


@routes.delete(KEYS + "/{room_id}/{session_id}")
async def delete_session(request: web.Request) -> web.Response:
    backups, who = request.app[KEY_BACKUPS], requester(request)
    version, room_id = request.query.get("version"), request.match_info["room_id"]
    return json_response(
        await backups.delete_keys(who.user_id, version, room_id, request.match_info["session_id"])
    )
