"""Send-to-device messaging (spec: "Send-to-Device messaging"): PUT /sendToDevice."""

from __future__ import annotations

from aiohttp import web

from clientapi.middleware import guest_allowed, requester
from clientapi.request import read_json, required
from clientapi.responses import json_response
from clientapi.routes.common import MAX_EVENT_TYPE, MAX_TXN_ID, short_param
from homeserver.appkeys import TO_DEVICE

routes = web.RouteTableDef()


@routes.put("/_matrix/client/v3/sendToDevice/{event_type}/{txn_id}")
@guest_allowed
async def send_to_device(request: web.Request) -> web.Response:
    who = requester(request)
    event_type = short_param(request, "event_type", MAX_EVENT_TYPE)
    txn_id = short_param(request, "txn_id", MAX_TXN_ID)
    body = await read_json(request)
    messages = required(body, "messages", dict)
    await request.app[TO_DEVICE].send(who.user_id, who.device_id, event_type, txn_id, messages)
    return json_response({})
