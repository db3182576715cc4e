"""Mutual rooms (spec: "Mutual Rooms"): GET /_matrix/client/v1/mutual_rooms."""

from __future__ import annotations

from aiohttp import web

from clientapi.middleware import requester
from clientapi.request import query_param
from clientapi.responses import json_response
from clientapi.routes.common import user_id_value
from homeserver.appkeys import MUTUAL_ROOMS

routes = web.RouteTableDef()
PAGE_SIZE = 100  # rooms per response; the rest follow through next_batch


@routes.get("/_matrix/client/v1/mutual_rooms")
async def mutual_rooms(request: web.Request) -> web.Response:
    other = user_id_value(query_param(request, "user_id", required=True))
    from_token = query_param(request, "from")
    page = await request.app[MUTUAL_ROOMS].page(requester(request).user_id, other, from_token, PAGE_SIZE)
    body: dict[str, object] = {"joined": page.joined, "count": page.count}
    if page.next_batch is not None:
        body["next_batch"] = page.next_batch
    return json_response(body)
