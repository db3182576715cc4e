"""Room summaries (spec: "Room Summaries"): GET /_matrix/client/v1/room_summary/{roomIdOrAlias},
with or without an access token."""

from __future__ import annotations

from aiohttp import web

from clientapi.middleware import guest_allowed, maybe_requester, optional_auth
from clientapi.responses import json_response
from clientapi.routes.common import room_id_or_alias
from homeserver.appkeys import RATE_LIMITER, ROOM_SUMMARIES
from homeserver.errors import InvalidParam
from homeserver.ids import is_valid_server_name

routes = web.RouteTableDef()
MAX_VIA = 100


@routes.get("/_matrix/client/v1/room_summary/{room_id_or_alias}")
@optional_auth  # the spec lets servers answer anonymous callers about rooms anyone may see
@guest_allowed
async def room_summary(request: web.Request) -> web.Response:
    who = maybe_requester(request)
    request.app[RATE_LIMITER].check("room_hierarchy", who.user_id if who else request.remote or "")
    _check_via(request)
    room_id = await room_id_or_alias(request)
    summary = await request.app[ROOM_SUMMARIES].summary(room_id, who.user_id if who else None)
    return json_response(summary)


def _check_via(request: web.Request) -> None:
    """The servers to ask about a room this server does not know. This server does not ask
    other servers yet, so they are only checked."""
    via = request.query.getall("via", [])
    if len(via) > MAX_VIA or not all(is_valid_server_name(server) for server in via):
        raise InvalidParam(f"'via' must be at most {MAX_VIA} server names")
