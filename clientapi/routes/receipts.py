"""Receipts and read markers (spec: "Receipts", "Fully read markers")."""

from __future__ import annotations

from aiohttp import web

from clientapi.middleware import requester
from clientapi.request import field, read_json
from clientapi.responses import json_response
from clientapi.routes.common import path_param, room_id_param
from homeserver.appkeys import RECEIPTS
from homeserver.ids import EventID

routes = web.RouteTableDef()
ROOM = "/_matrix/client/v3/rooms/{room_id}"


@routes.post(ROOM + "/receipt/{receipt_type}/{event_id}")
async def post_receipt(request: web.Request) -> web.Response:
    room_id = room_id_param(request)
    receipt_type = path_param(request, "receipt_type")
    event_id = EventID(path_param(request, "event_id"))
    body = await read_json(request)
    thread_id = field(body, "thread_id", str)
    user_id = requester(request).user_id
    await request.app[RECEIPTS].post(user_id, room_id, receipt_type, event_id, thread_id)
    return json_response({})


@routes.post(ROOM + "/read_markers")
async def post_read_markers(request: web.Request) -> web.Response:
    room_id = room_id_param(request)
    body = await read_json(request)
    fully_read, read, read_private = (
        _event_id(body, key) for key in ("m.fully_read", "m.read", "m.read.private")
    )
    user_id = requester(request).user_id
    await request.app[RECEIPTS].read_markers(user_id, room_id, fully_read, read, read_private)
    return json_response({})


def _event_id(body: dict[str, object], key: str) -> EventID | None:
    value = field(body, key, str)
    return EventID(value) if value is not None else None
