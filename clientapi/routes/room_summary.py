"""Room summaries (spec: "Room Summaries"): GET /_matrix/client/v1/room_summary/{roomIdOrAlias},
with or without an access token."""

from __future__ import annotations

from aiohttp import web

from clientapi.middleware import guest_allowed, maybe_requester, optional_auth
from clientapi.responses import json_response
from homeserver.appkeys import DATABASE, RATE_LIMITER, ROOMS
from homeserver.errors import InvalidParam, NotFound
from homeserver.ids import RoomID, is_valid_room_alias, is_valid_room_id, is_valid_server_name
from homeserver.rooms.room_summary import RoomSummaries
from homeserver.storage.hierarchy import HierarchyStore

routes = web.RouteTableDef()
MAX_VIA = 100


@routes.get("/_matrix/client/v1/room_summary/{room_id_or_alias}")
@optional_auth  # the spec lets servers answer anonymous callers about rooms anyone may see
@guest_allowed
async def room_summary(request: web.Request) -> web.Response:
    who = maybe_requester(request)
    request.app[RATE_LIMITER].check("room_hierarchy", who.user_id if who else request.remote or "")
    _check_via(request)
    room_id = await _room_id(request)
    summaries = RoomSummaries(HierarchyStore(request.app[DATABASE]))
    return json_response(await summaries.summary(room_id, who.user_id if who else None))


async def _room_id(request: web.Request) -> RoomID:
    value = request.match_info["room_id_or_alias"]
    if value.startswith("#"):
        if not is_valid_room_alias(value):
            raise InvalidParam("Invalid room alias")
        room_id = await request.app[ROOMS].resolve_alias(value)
        if room_id is None:
            raise NotFound("Room alias not found")
        return room_id
    if not is_valid_room_id(value):
        raise InvalidParam("Invalid room ID or alias")
    return RoomID(value)


def _check_via(request: web.Request) -> None:
    """The servers to ask about a room this server does not know. This server does not ask
    other servers yet, so they are only checked."""
    via = request.query.getall("via", [])
    if len(via) > MAX_VIA or not all(is_valid_server_name(server) for server in via):
        raise InvalidParam(f"'via' must be at most {MAX_VIA} server names")
