"""Notifications and pushers (spec: "Push Notifications": notifications.yaml, pusher.yaml)."""

from __future__ import annotations

from aiohttp import web

from clientapi.middleware import requester
from clientapi.request import read_json
from clientapi.responses import json_response
from clientapi.routes.common import int_query_param
from homeserver.appkeys import NOTIFICATIONS, PUSHERS
from homeserver.push.notifications import DEFAULT_LIMIT

routes = web.RouteTableDef()


@routes.get("/_matrix/client/v3/notifications")
async def get_notifications(request: web.Request) -> web.Response:
    user = requester(request).user_id
    limit = int_query_param(request, "limit", DEFAULT_LIMIT)
    page = await request.app[NOTIFICATIONS].page(
        user, request.query.get("from"), limit, request.query.get("only")
    )
    return json_response(page)


@routes.get("/_matrix/client/v3/pushers")
async def get_pushers(request: web.Request) -> web.Response:
    return json_response({"pushers": await request.app[PUSHERS].list(requester(request).user_id)})


@routes.post("/_matrix/client/v3/pushers/set")
async def set_pusher(request: web.Request) -> web.Response:
    who = requester(request)
    await request.app[PUSHERS].set(who.user_id, who.device_id, await read_json(request))
    return json_response({})
