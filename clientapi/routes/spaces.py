"""Spaces (spec: "Spaces"): GET /rooms/{roomId}/hierarchy."""

from __future__ import annotations

from aiohttp import web

from clientapi.middleware import requester
from clientapi.responses import json_response
from clientapi.routes.common import int_query_param, room_id_param
from homeserver.appkeys import RATE_LIMITER, SPACE_HIERARCHY
from homeserver.errors import InvalidParam
from homeserver.rooms.hierarchy import HierarchyRequest

routes = web.RouteTableDef()
MAX_TOKEN = 1000  # bytes; our tokens are far shorter


@routes.get("/_matrix/client/v1/rooms/{room_id}/hierarchy")
@routes.get("/_matrix/client/unstable/org.matrix.msc2946/rooms/{room_id}/hierarchy")
async def hierarchy(request: web.Request) -> web.Response:
    params = HierarchyRequest(
        room_id=room_id_param(request),
        suggested_only=_bool_query_param(request, "suggested_only"),
        max_depth=_optional_int(request, "max_depth"),
        limit=_optional_int(request, "limit"),
        from_token=_token(request),
    )
    user_id = requester(request).user_id
    request.app[RATE_LIMITER].check("room_hierarchy", user_id)
    page = await request.app[SPACE_HIERARCHY].page(user_id, params)
    body: dict[str, object] = {"rooms": page.rooms}
    if page.next_batch is not None:
        body["next_batch"] = page.next_batch
    return json_response(body)


def _bool_query_param(request: web.Request, name: str) -> bool:
    raw = request.query.get(name)
    if raw is None:
        return False
    if raw not in ("true", "false"):
        raise InvalidParam(f"'{name}' must be 'true' or 'false'")
    return raw == "true"


def _optional_int(request: web.Request, name: str) -> int | None:
    return int_query_param(request, name) if name in request.query else None


def _token(request: web.Request) -> str | None:
    token = request.query.get("from")
    if token is not None and (not token or len(token.encode()) > MAX_TOKEN or "\x00" in token):
        raise InvalidParam("Unknown pagination token")
    return token
