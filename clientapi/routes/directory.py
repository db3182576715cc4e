"""Room aliases and the published room directory (spec: "Room aliases", "Published room
directory"): /directory/room/{alias}, /rooms/{id}/aliases, /directory/list/room/{id},
/publicRooms."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from clientapi.middleware import public, requester
from clientapi.request import field, read_json, required
from clientapi.responses import json_response
from clientapi.routes.common import room_id_param
from homeserver.appkeys import CONFIG, DIRECTORY, ROOM_LIST
from homeserver.directory import parse_alias
from homeserver.errors import InvalidParam, NotFound
from homeserver.ids import RoomID, is_valid_room_id, is_valid_server_name
from homeserver.room_list import RoomListPage, RoomListRequest

routes = web.RouteTableDef()
ALIAS = "/_matrix/client/v3/directory/room/{room_alias}"
LIST = "/_matrix/client/v3/directory/list/room/{room_id}"
PUBLIC_ROOMS = "/_matrix/client/v3/publicRooms"
INTEGER = re.compile(r"-?[0-9]{1,18}")


def _alias(request: web.Request) -> str:
    return parse_alias(request.match_info["room_alias"])


@routes.put(ALIAS)
async def create_alias(request: web.Request) -> web.Response:
    alias = _alias(request)
    body = await read_json(request)
    room_id = required(body, "room_id", str)
    if not is_valid_room_id(room_id):
        raise InvalidParam("Invalid room_id")
    await request.app[DIRECTORY].create_alias(requester(request).user_id, alias, RoomID(room_id))
    return json_response({})


@routes.get(ALIAS)
@public
async def resolve_alias(request: web.Request) -> web.Response:
    room_id, servers = await request.app[DIRECTORY].resolve_alias(_alias(request))
    return json_response({"room_id": room_id, "servers": servers})


@routes.delete(ALIAS)
async def delete_alias(request: web.Request) -> web.Response:
    alias = _alias(request)
    await request.app[DIRECTORY].delete_alias(requester(request).user_id, alias)
    return json_response({})


@routes.get("/_matrix/client/v3/rooms/{room_id}/aliases")
async def room_aliases(request: web.Request) -> web.Response:
    aliases = await request.app[DIRECTORY].local_aliases(requester(request).user_id, room_id_param(request))
    return json_response({"aliases": aliases})


@routes.get(LIST)
@public
async def get_visibility(request: web.Request) -> web.Response:
    visibility = await request.app[DIRECTORY].visibility(room_id_param(request))
    return json_response({"visibility": visibility})


@routes.put(LIST)
async def set_visibility(request: web.Request) -> web.Response:
    room_id = room_id_param(request)
    body = await read_json(request)
    visibility = field(body, "visibility", str) or "public"
    await request.app[DIRECTORY].set_visibility(requester(request).user_id, room_id, visibility)
    return json_response({})


@routes.get(PUBLIC_ROOMS)
@public
async def public_rooms(request: web.Request) -> web.Response:
    _check_server(request)
    q = request.query
    page = await request.app[ROOM_LIST].page(
        RoomListRequest(limit=_limit(q.get("limit")), since=q.get("since"))
    )
    return _page_response(page)


@routes.post(PUBLIC_ROOMS)
async def search_public_rooms(request: web.Request) -> web.Response:
    _check_server(request)
    body = await read_json(request)
    limit = field(body, "limit", int)
    room_filter = field(body, "filter", dict) or {}
    search_term = field(room_filter, "generic_search_term", str)
    room_types = room_filter.get("room_types")
    if room_types is not None and (
        not isinstance(room_types, list) or not all(t is None or isinstance(t, str) for t in room_types)
    ):
        raise InvalidParam("'room_types' must be an array of strings and nulls")
    include_all = field(body, "include_all_networks", bool) or False
    network = field(body, "third_party_instance_id", str)
    if include_all and network is not None:
        raise InvalidParam("third_party_instance_id cannot be used with include_all_networks")
    since = field(body, "since", str)
    if network is not None:  # no application services here, so no third-party network lists
        return _page_response(RoomListPage([], None, None, 0))
    room_types_ = tuple(room_types) if room_types is not None else None
    page = await request.app[ROOM_LIST].page(RoomListRequest(limit, since, search_term, room_types_))
    return _page_response(page)


def _check_server(request: web.Request) -> None:
    """`server` names whose directory to list: ours, or a remote one, which is not fetched over
    federation yet (404)."""
    server = request.query.get("server")
    if server is None or server == request.app[CONFIG].server_name:
        return
    if not is_valid_server_name(server):
        raise InvalidParam("Invalid server name")
    raise NotFound(f"The room directory of {server} cannot be fetched from here")


def _limit(raw: str | None) -> int | None:
    if raw is None:
        return None
    if not INTEGER.fullmatch(raw):
        raise InvalidParam("limit must be an integer")
    return int(raw)


def _page_response(page: RoomListPage) -> web.Response:
    out: dict[str, Any] = {"chunk": page.chunk, "total_room_count_estimate": page.total_room_count_estimate}
    if page.next_batch is not None:
        out["next_batch"] = page.next_batch
    if page.prev_batch is not None:
        out["prev_batch"] = page.prev_batch
    return json_response(out)
