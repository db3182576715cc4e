"""Mutual rooms (spec: "Mutual Rooms"): GET /_matrix/client/v1/mutual_rooms.

Also under MSC2666's unstable path, /_matrix/client/unstable/uk.half-shot.msc2666/user/mutual_rooms
(`uk.half-shot.msc2666.query_mutual_rooms` in /versions' unstable_features), which is what
matrix-js-sdk's _unstable_getSharedRooms calls: it pages with the MSC's earlier names, the
`batch_token` query parameter and the `next_batch_token` field. The unstable answer carries the
token under both names and takes it as `batch_token` or `from`, so a client of either draft
reads every page."""

from __future__ import annotations

from aiohttp import web

from clientapi.middleware import requester
from clientapi.request import query_param
from clientapi.responses import json_response
from clientapi.routes.common import user_id_value
from homeserver.appkeys import MUTUAL_ROOMS
from homeserver.errors import InvalidParam
from homeserver.mutual_rooms import MutualRoomsPage

routes = web.RouteTableDef()
PAGE_SIZE = 100  # rooms per response; the rest follow through next_batch


@routes.get("/_matrix/client/v1/mutual_rooms")
async def mutual_rooms(request: web.Request) -> web.Response:
    page = await _page(request, query_param(request, "from"))
    return json_response(_body(page))


@routes.get("/_matrix/client/unstable/uk.half-shot.msc2666/user/mutual_rooms")
async def unstable_mutual_rooms(request: web.Request) -> web.Response:
    batch_token, from_token = query_param(request, "batch_token"), query_param(request, "from")
    if batch_token is not None and from_token is not None:
        raise InvalidParam("Give the pagination token as 'batch_token' or 'from', not both")
    page = await _page(request, batch_token if batch_token is not None else from_token)
    body = _body(page)
    if page.next_batch is not None:
        body["next_batch_token"] = page.next_batch
    return json_response(body)


async def _page(request: web.Request, from_token: str | None) -> MutualRoomsPage:
    other = user_id_value(query_param(request, "user_id", required=True))
    return await request.app[MUTUAL_ROOMS].page(requester(request).user_id, other, from_token, PAGE_SIZE)


def _body(page: MutualRoomsPage) -> dict[str, object]:
    body: dict[str, object] = {"joined": page.joined, "count": page.count}
    if page.next_batch is not None:
        body["next_batch"] = page.next_batch
    return body
